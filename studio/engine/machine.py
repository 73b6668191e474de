"""What the inference thread knows of the machine: memory, out-of-memory errors, threads, torch's mode.

Nothing here imports torch at module level; torch is used when it is loaded.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from typing import Any

from studio.engine.thread_policy import usable_cores


def model_bytes(model: Any) -> int:
    parameters = getattr(model, "parameters", None)
    if not callable(parameters):
        return 0
    try:
        return sum(p.numel() * p.element_size() for p in parameters())
    except Exception:
        return 0


#: How out-of-memory errors read: CUDA's and MPS's, and the CPU allocator's
#: ("DefaultCPUAllocator: can't allocate memory ... (Cannot allocate memory)").
_OUT_OF_MEMORY_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(exc: Exception) -> bool:
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and any(t in str(exc).lower() for t in _OUT_OF_MEMORY_TEXT)


def free_memory() -> None:
    """Collect what the failed request left (call outside the ``except`` block), then give
    the cached GPU memory back."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def inference_mode() -> contextlib.AbstractContextManager:
    """torch's inference mode, around a request's work or a session's step on the inference thread
    (when torch is loaded: a numpy plugin's requests never load it). Nothing there trains, and ops
    run faster in it than under ``no_grad`` (measured here: a 128-wide linear layer 10-15%), which
    matters most to token-by-token decoding. A plugin that needs autograd on the inference thread
    leaves it with ``torch.inference_mode(False)``; tensors it creates there are inference tensors,
    which a training loop cannot take (training runs in job processes)."""
    torch = sys.modules.get("torch")
    return torch.inference_mode() if torch is not None else contextlib.nullcontext()


def inference_threads() -> int:
    """Torch intra-op threads for the inference thread: half the cores this process may use, at
    least one. Its requests (a decode, a sampling step) are too small to gain from many threads,
    whose wake-ups cost more than they save, and the GUI and training jobs need cores too."""
    return max(1, usable_cores() // 2)


def use_inference_threads() -> None:
    """Give torch :func:`inference_threads` threads in the calling thread (OpenMP's setting is
    per thread, so call it in the thread that runs the models; a benchmark's direct calls too)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(inference_threads())

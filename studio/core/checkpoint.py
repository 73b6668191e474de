"""Checkpoints: one safetensors file holding weights, optimizer state and JSON metadata.

Layout of a checkpoint file:

- tensors ``model.*`` are the model's weights (all inference needs); others
  (``optim.*``, ``rng.*``) are for resuming training;
- metadata ``studio.format``, ``studio.model`` (the spec name),
  ``studio.config`` (the config dataclass as JSON), ``studio.step`` and
  ``studio.meta`` (the trainer's JSON-able state).

Nothing is ever unpickled. Files are written atomically, so a crash or a full
disk leaves the previous checkpoint intact.
"""

from __future__ import annotations

import errno
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from studio.core.atomic import atomic_path, leftovers
from studio.core.capabilities import TrainState
from studio.core.config import config_dict, config_from_dict
from studio.core.errors import UserError

FORMAT = "studio-checkpoint/1"
MODEL_PREFIX = "model."


#: A safetensors header larger than this is not believed (the header is JSON naming each tensor).
MAX_HEADER_BYTES = 100 * 2**20


class CheckpointError(UserError):
    """A checkpoint cannot be used; the message says which and why."""


@dataclass(frozen=True)
class CheckpointHeader:
    """What a checkpoint holds, from its header alone: the model, its config and step."""

    path: Path
    spec: str
    config: dict[str, Any]
    step: int


def read_header(path: Union[str, Path]) -> CheckpointHeader:
    """Which model a checkpoint holds and at which step, reading the safetensors header only
    (8 bytes of length, then that much JSON), never a tensor: cheap enough for the GUI thread
    whatever the size of the weights. Any damage is a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        with open(path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise ValueError("the file is shorter than a safetensors header")
            (length,) = struct.unpack("<Q", prefix)
            if length > min(MAX_HEADER_BYTES, path.stat().st_size - 8):
                raise ValueError("its header length is impossible")
            header = json.loads(f.read(length))
        metadata = header.get("__metadata__") or {}
    except (OSError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"The checkpoint {path.name} is damaged or is not a safetensors file ({exc}). "
                              "Choose another checkpoint; nothing was changed.") from exc
    return _header(path, metadata)


def _header(path: Path, metadata: dict[str, str]) -> CheckpointHeader:
    if metadata.get("studio.format") != FORMAT:
        raise CheckpointError(f"{path.name} is a safetensors file but not a Generative Studio checkpoint "
                              "(it lacks the studio metadata).")
    try:
        config = json.loads(metadata["studio.config"])
        if not isinstance(config, dict):
            raise ValueError(f"its config is a JSON {type(config).__name__}, not an object")
        return CheckpointHeader(path, metadata["studio.model"], config, int(metadata["studio.step"]))
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"The studio metadata of {path.name} is incomplete or damaged ({exc}).") from exc


@dataclass
class Checkpoint:
    path: Path
    spec: str
    config: dict[str, Any]
    step: int
    state: TrainState


def save_checkpoint(path: Union[str, Path], spec: str, config: Any, step: int, state: TrainState) -> None:
    import torch
    from safetensors.torch import save_file

    tensors = {}
    for name, value in state.tensors.items():
        tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        # clone: safetensors refuses tensors sharing memory (tied weights)
        tensors[name] = tensor.detach().to("cpu").contiguous().clone()
    metadata = {
        "studio.format": FORMAT,
        "studio.model": spec,
        "studio.config": json.dumps(config_dict(config)),
        "studio.step": str(int(step)),
        "studio.meta": json.dumps(state.meta),
    }
    with atomic_path(path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except Exception as exc:  # safetensors' SafetensorError, for a full disk too
            failure = _os_error(exc)
            if failure is None:
                raise
            raise failure from exc


#: how safetensors' Rust side names a failed write: "... I/O error: No space left on device (os error 28)"
_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def _os_error(exc: Exception) -> Optional[OSError]:
    """The ``OSError`` behind a safetensors write failure, so :func:`atomic_path` words it as it does any
    other (a full disk: "the disk is full"); None when ``exc`` is not about the file system. safetensors
    raises its own ``SafetensorError`` (not an ``OSError``) carrying only the errno's text."""
    if isinstance(exc, OSError):
        return None  # atomic_path words it already
    found = _OS_ERROR.search(str(exc))
    if found is None:
        return None
    code = int(found.group(1))
    return OSError(code, os.strerror(code) if code in errno.errorcode else str(exc))


def discard_unfinished_saves(path: Union[str, Path]) -> list[Path]:
    """Remove what saves of ``path`` that were killed midway left beside it (SIGKILL, a power cut): the
    studio's temporary file and safetensors' own (``.tmpXXXXXX``, the Rust tempfile crate's name). Only for
    a folder whose checkpoint one process writes (a run's folder): another writer's save in progress there
    would lose its temporary file. Returns what was removed."""
    path = Path(path)
    removed = leftovers(path) + [p for p in path.parent.glob(".tmp??????") if p.is_file()]
    for leftover in removed:
        leftover.unlink(missing_ok=True)
    return removed


def read_checkpoint(path: Union[str, Path], weights_only: bool = False) -> Checkpoint:
    """Read a checkpoint; any damage is a :class:`CheckpointError`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = _header(path, f.metadata() or {})
            names = [k for k in f.keys() if not weights_only or k.startswith(MODEL_PREFIX)]
            tensors = {k: f.get_tensor(k) for k in names}
            meta = json.loads(f.metadata()["studio.meta"])
        return Checkpoint(path=path, spec=header.spec, config=header.config, step=header.step,
                          state=TrainState(tensors, meta))
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors reports damage with several exception types
        raise CheckpointError(
            f"The checkpoint {path.name} is damaged or is not a safetensors file ({exc}). "
            "Choose another checkpoint; nothing was changed."
        ) from exc


def model_weights(state: TrainState) -> dict[str, Any]:
    return {k[len(MODEL_PREFIX):]: v for k, v in state.tensors.items() if k.startswith(MODEL_PREFIX)}


def build_model(spec, config: Any, weights: dict[str, Any], device: str, name: str = "The checkpoint") -> Any:
    """Build ``spec``'s model from ``config`` and load ``weights`` into it; ``name`` (the checkpoint's file) is
    what a :class:`CheckpointError` names when the settings cannot build the model or the weights do not fit."""
    from studio.core.specs import resolve

    try:  # settings read from a damaged file can make a model's constructor fail in any way
        model = resolve(spec.factory)(config)
    except Exception as exc:
        raise CheckpointError(f"The settings saved in {name} cannot build the {spec.title} model ({exc}). "
                              "Choose another checkpoint; nothing was changed.") from exc
    try:
        model.load_state_dict(weights)
    except Exception as exc:
        raise CheckpointError(f"The weights in {name} do not fit the {spec.title} model: {exc}") from exc
    if hasattr(model, "to"):
        model = model.to(device)
    if hasattr(model, "eval"):
        model.eval()
    return model


def load_model(registry, spec_name: str, path: Union[str, Path], device: str = "cpu") -> Any:
    """The model saved in a checkpoint (or loaded by the spec's own loader), ready on ``device``."""
    spec = registry.model(spec_name)
    if spec.loader is not None:
        from studio.core.specs import resolve

        return resolve(spec.loader)(str(path), device)
    checkpoint = read_checkpoint(path, weights_only=True)
    if checkpoint.spec != spec_name:
        raise CheckpointError(f"{Path(path).name} holds a {checkpoint.spec!r} model, not {spec_name!r}.")
    name = Path(path).name
    try:
        config = config_from_dict(spec.config, checkpoint.config)
    except (UserError, TypeError) as exc:  # TypeError: a value or a config that is not an object
        raise CheckpointError(f"The settings saved in {name} do not fit the {spec.title} model: {exc}") from exc
    return build_model(spec, config, model_weights(checkpoint.state), device, name)

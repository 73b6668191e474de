"""What a Stable Diffusion batch does to fit the GPU's memory, decided before each pipeline call.

On CUDA (where the loader keeps the weights in half precision), the free memory is read as each
batch starts and two of diffusers' measures are turned on only where the batch needs them, off
otherwise (each costs speed):

- **attention slicing** (``pipe.enable_attention_slicing()``: half the heads at a time) when the
  attention scores of the UNet's most detailed attention level, with classifier-free guidance
  doubling the batch, would take more than :data:`COMFORTABLE_SHARE` of the free memory. The
  estimate is the scores as the plain kernel holds them (``tokens²`` per head); PyTorch's fused
  attention often holds less, but which kernel runs depends on the GPU, the dtype and the head size;
- **VAE tiling** (``vae.enable_tiling()``: the decoder works on overlapping tiles) when decoding
  the batch at full size would take more than that share. It changes only images larger than one
  tile (the VAE's own sample size), and those slightly, where the tiles are blended.

**CPU offload** (``pipe.enable_model_cpu_offload()``, through accelerate) keeps each part of the
pipeline on the CPU until it runs: much less GPU memory, slower. The loader has no settings of its
own yet, so it is asked for in the environment: ``STUDIO_SD_CPU_OFFLOAD=1`` before starting the
studio. It is read as each batch starts; once on, it stays on until the model is loaded again.

On the CPU the memory is the machine's RAM, shared with everything else and not measured here:
nothing is changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

#: the share of the free memory a batch's attention scores, or its decode, may take without a measure
COMFORTABLE_SHARE = 0.5
#: asks for CPU offload when set to "1"
CPU_OFFLOAD_VARIABLE = "STUDIO_SD_CPU_OFFLOAD"

#: the most detailed level of each family's UNet that attends: (downscaling from the image, heads)
#: SD 1.x and 2.x attend at the latents' own size (8 heads; 320 channels of 64), SDXL from half of it
_ATTENTION = {"sd1": (8, 8), "sd2": (8, 5), "sdxl": (16, 10)}
#: bytes the VAE decoder holds per output pixel and image at its peak, in its last, full-size blocks
#: (256 and 128 channels: the upsampled input, its normalisation and the convolutions' outputs);
#: SDXL's VAE decodes in float32 (its config's force_upcast), the others in float16
_DECODE_BYTES_PER_PIXEL = {"sd1": 2048, "sd2": 2048, "sdxl": 4096}


@dataclass(frozen=True)
class MemoryMeasures:
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False


def attention_bytes(width: int, height: int, batch: int, family: str | None) -> int:
    """The attention scores (and their softmax) of one attention layer at the UNet's most detailed
    attending level, for ``batch`` images with classifier-free guidance, in float16."""
    scale, heads = _ATTENTION.get(family or "sd1", _ATTENTION["sd1"])
    tokens = (width // scale) * (height // scale)
    return 2 * batch * heads * tokens * tokens * 2 * 2


def decode_bytes(width: int, height: int, batch: int, family: str | None) -> int:
    """What decoding ``batch`` images of ``width`` x ``height`` at once takes at its peak: the
    full-size blocks' activations, and the scores of the VAE's single-head attention at 1/8 size."""
    per_pixel = _DECODE_BYTES_PER_PIXEL.get(family or "sd1", _DECODE_BYTES_PER_PIXEL["sd1"])
    element = 4 if family == "sdxl" else 2
    tokens = (width // 8) * (height // 8)
    return batch * (width * height * per_pixel + tokens * tokens * element)


def decide(free_bytes: int, width: int, height: int, batch: int, family: str | None, *,
           cpu_offload: bool = False) -> MemoryMeasures:
    """The measures a batch of ``batch`` images of ``width`` x ``height`` needs with ``free_bytes``
    of GPU memory free (``cpu_offload`` as asked for: it is the artist's choice, not decided here)."""
    budget = COMFORTABLE_SHARE * free_bytes
    return MemoryMeasures(attention_slicing=attention_bytes(width, height, batch, family) > budget,
                          vae_tiling=decode_bytes(width, height, batch, family) > budget,
                          cpu_offload=cpu_offload)


def apply(pipe: Any, measures: MemoryMeasures, device: str) -> None:
    """Turn ``pipe``'s measures on or off as ``measures`` says (CPU offload only ever on)."""
    if measures.cpu_offload and not getattr(pipe, "_all_hooks", None):
        pipe.enable_model_cpu_offload(device=device)
    if measures.attention_slicing:
        pipe.enable_attention_slicing()
    else:
        pipe.disable_attention_slicing()
    if measures.vae_tiling:
        pipe.vae.enable_tiling()
    else:
        pipe.vae.disable_tiling()


def prepare(pipe: Any, device: str, family: str | None, call: dict[str, Any]) -> MemoryMeasures | None:
    """Decide and apply the measures for the pipeline ``call`` (its keyword arguments) on ``device``:
    None, changing nothing, off CUDA."""
    if not str(device).startswith("cuda"):
        return None
    import torch

    width, height = _call_size(pipe, call)
    measures = decide(torch.cuda.mem_get_info(torch.device(device))[0], width, height, len(call["prompt"]), family,
                      cpu_offload=os.environ.get(CPU_OFFLOAD_VARIABLE) == "1")
    apply(pipe, measures, device)
    return measures


def _call_size(pipe: Any, call: dict[str, Any]) -> tuple[int, int]:
    """(width, height) the call makes: as asked, else the starting image's, else the model's own."""
    if call.get("width") and call.get("height"):
        return int(call["width"]), int(call["height"])
    if call.get("image"):
        return call["image"][0].size
    size = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
    return size, size

"""A Stable Diffusion pipeline offered to the canvas as an :class:`ImageSampler`.

Text to image, image to image and inpainting are diffusers' own pipelines, sharing one set of
weights (``from_pipe``). What the studio adds: the sampler menu (:mod:`.samplers`), a seed per
image (image ``i`` of a grid comes from ``seed + i`` alone, as in the web UI), a preview of each
step from the latents (:mod:`.preview`) and cancelling at the next step, both through the
pipeline's step callback, and inpainting that puts the original pixels back outside the mask after
decoding, so they are unchanged exactly (the VAE alone would alter them slightly).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from studio.core.capabilities import ModelError, SampleOptions, StepCallback, StepPreview

from . import lora, memory
from .preview import latents_to_rgb
from .samplers import SAMPLERS, scheduler_for

#: what the web UI samples with unless told otherwise
DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 7.0


class StableDiffusionModel:
    conditions = ("prompt", "negative_prompt")
    class_names: tuple[str, ...] = ()
    sampling_options = ("steps", "sampler", "guidance_scale", "init_image", "mask", "size")
    samplers = tuple(SAMPLERS)
    seed_per_image = True
    default_guidance = DEFAULT_GUIDANCE

    def __init__(self, pipe: Any, family: Optional[str], path: Path, device: str) -> None:
        self.pipe = pipe
        self.family = family
        self.path = path
        self.device = str(device)
        self._schedule = dict(pipe.scheduler.config)
        self._variants: dict[str, Any] = {"text": pipe}
        self._adapters: dict[Path, str] = {}  # LoRA files loaded, by the adapter name each has in peft
        size = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
        self.image_shape = (size, size, 3)

    def to(self, device: str) -> StableDiffusionModel:
        self.pipe.to(device)
        self.device = str(device)
        return self

    def eval(self) -> StableDiffusionModel:
        return self

    # -- sampling ---------------------------------------------------------------------------------
    def sample(self, n: int, *, seed: int, condition: Optional[Mapping[str, Any]] = None,
               options: Optional[SampleOptions] = None, on_step: Optional[StepCallback] = None) -> np.ndarray:
        options = options or SampleOptions()
        condition = condition or {}
        negative = str(condition.get("negative_prompt") or "")
        prompt, loras = lora.resolve(str(condition.get("prompt") or ""), self.path)
        self._use_loras(loras)
        kwargs: dict[str, Any] = {
            "prompt": [prompt] * n,
            "negative_prompt": [negative] * n if negative else None,
            "num_inference_steps": int(options.steps or DEFAULT_STEPS),
            "guidance_scale": float(options.guidance_scale if options.guidance_scale is not None else DEFAULT_GUIDANCE),
            "generator": [torch.Generator("cpu").manual_seed(int(seed) + i) for i in range(n)],
            "output_type": "np",
            "callback_on_step_end": self._step_callback(on_step),
            "callback_on_step_end_tensor_inputs": ["latents"],
        }
        if options.init_image is not None:
            kwargs["image"] = [_pil(options.init_image)] * n
            kwargs["strength"] = float(options.strength)
        if options.mask is not None:
            if options.init_image is None:
                raise ModelError("Inpainting needs the image to paint into.")
            kwargs["mask_image"] = [_pil(options.mask)] * n
        if options.init_image is None or options.mask is not None:
            kwargs["height"], kwargs["width"] = self._size(options)
        kind = "inpaint" if options.mask is not None else "image" if options.init_image is not None else "text"
        pipe = self._variant(kind)
        pipe.scheduler = scheduler_for(options.sampler or self.samplers[0], self._schedule)
        memory.prepare(pipe, self.device, self.family, kwargs)  # slicing, tiling, offload: CUDA only
        images = self._run(pipe, kwargs, n)
        if options.mask is not None:  # outside the mask, the very pixels it started from
            keep = 1.0 - (np.asarray(options.mask, np.float32) > 0.5)[None, :, :, None]
            images = images * (1.0 - keep) + np.asarray(options.init_image, np.float32)[None] * keep
        return images.astype(np.float32)

    def _size(self, options: SampleOptions) -> tuple[int, int]:
        """(height, width) to make: the image's it starts from, else the size asked for (a multiple of
        8 pixels), else the model's own."""
        if options.init_image is not None:
            height, width = int(options.init_image.shape[0]), int(options.init_image.shape[1])
        elif options.size is not None:
            width, height = (int(v) for v in options.size)
        else:
            return self.image_shape[0], self.image_shape[1]
        step = max(8, int(self.pipe.vae_scale_factor))  # diffusers' pipelines ask for multiples of 8
        if width % step or height % step or width < step or height < step:
            raise ModelError(f"Stable Diffusion makes images whose width and height are multiples of {step} "
                             f"pixels; {width}x{height} is not (try {max(step, width // step * step)}x"
                             f"{max(step, height // step * step)}).")
        return height, width

    def _run(self, pipe: Any, kwargs: dict[str, Any], n: int) -> np.ndarray:
        try:
            with torch.inference_mode():
                return np.asarray(pipe(**kwargs).images, np.float32)
        except torch.OutOfMemoryError as exc:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            height, width = kwargs.get("height") or self.image_shape[0], kwargs.get("width") or self.image_shape[1]
            raise ModelError(f"Out of memory making {n} image{'s' if n > 1 else ''} of {width}x{height}: make "
                             "fewer images at once or smaller ones (attention slicing and VAE tiling are already "
                             "on when memory is short), or start the studio with STUDIO_SD_CPU_OFFLOAD=1 to keep "
                             "the model in main memory between its steps.") from exc

    def _step_callback(self, on_step: Optional[StepCallback]):
        family = self.family

        def callback(pipe: Any, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if on_step is not None:
                latents = tensors["latents"].detach().float().cpu().numpy()
                preview = StepPreview(index + 1, latents_to_rgb(latents, family, int(pipe.vae_scale_factor)))
                on_step(index + 1, int(pipe.num_timesteps), preview)  # raises Cancelled to stop here
            return {}

        return callback

    def _use_loras(self, uses: list[lora.LoraUse]) -> None:
        """Load the LoRAs a prompt names (once each) and apply exactly those, at their strengths."""
        for use in uses:
            if use.path not in self._adapters:
                name = f"lora_{len(self._adapters)}"
                try:
                    self.pipe.load_lora_weights(str(use.path), adapter_name=name)
                except Exception as exc:  # peft and diffusers refuse a LoRA of another model in many ways
                    raise ModelError(f"The LoRA {use.path.name} does not fit this model: {exc}") from exc
                self._adapters[use.path] = name
        if uses:
            self.pipe.enable_lora()
            self.pipe.set_adapters([self._adapters[u.path] for u in uses],
                                   adapter_weights=[u.strength for u in uses])
        elif self._adapters:
            self.pipe.disable_lora()

    def _variant(self, kind: str) -> Any:
        """The pipeline for ``kind`` ("text", "image", "inpaint"), sharing the loaded weights."""
        if kind not in self._variants:
            import diffusers

            xl = "XL" if self.family == "sdxl" else ""
            name = {"image": f"StableDiffusion{xl}Img2ImgPipeline", "inpaint": f"StableDiffusion{xl}InpaintPipeline"}
            pipe = getattr(diffusers, name[kind]).from_pipe(self.pipe)
            pipe.set_progress_bar_config(disable=True)
            self._variants[kind] = pipe
        return self._variants[kind]


def _pil(pixels: np.ndarray):
    """An image ``(H, W, C)`` or a mask ``(H, W)`` in [0, 1] as the PIL image diffusers takes."""
    from PIL import Image

    array = (np.clip(np.asarray(pixels, np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return Image.fromarray(array).convert("RGB" if array.ndim == 3 else "L")

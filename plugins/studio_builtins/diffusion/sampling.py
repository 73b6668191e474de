"""Sampling the diffusion model through diffusers' schedulers: the canvas's sampler menu.

Every scheduler is built from the model's own schedule (``trained_betas``, so it
reproduces the ``alphas_cumprod`` the model trained on) with ``"trailing"``
timesteps, which start at the noisiest trained timestep and end at the least
noisy one, whatever the number of steps. What diffusers does not do is written
here: classifier-free guidance, per-image random streams, the known region of
an inpainting, step previews and cancelling.

Determinism per image (``seed_per_image``): image ``i`` draws its starting noise
and every step's noise from its own ``torch.Generator`` seeded ``seed + i``
(diffusers' steps take a list of generators, one per image), the schedulers'
arithmetic is per pixel, and the network always runs on batches of exactly
:func:`rows_per_call` rows (a short batch is padded): a convolution's rounding may
depend on the batch size (oneDNN takes another path for a single image), never
on the other images in the batch. So image ``i`` of a grid comes back, bit for
bit, by itself.

diffusers is imported only here, inside the functions that sample: importing its
schedulers takes seconds.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

import numpy as np
import torch

from studio.core.capabilities import ModelError, SampleOptions, StepCallback, StepPreview
from studio_builtins.diffusion.schedule import alphas_cumprod, betas_for

if TYPE_CHECKING:
    from studio_builtins.diffusion.model import DiffusionModel

#: The sampler menu, the default first: names as artists know them from the popular web UIs, each a
#: diffusers scheduler class and its settings beyond the schedule.
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "DDIM": ("DDIMScheduler", {}),
    "DDPM": ("DDPMScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    # lower_order_final: what the scheduler switches to itself, with a warning, for an odd number of steps
    "DPM++ 2S": ("DPMSolverSinglestepScheduler", {"lower_order_final": True}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "DEIS": ("DEISMultistepScheduler", {}),
    "SA-Solver": ("SASolverScheduler", {}),
    "PLMS": ("PNDMScheduler", {"skip_prk_steps": True}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler Karras": ("EulerDiscreteScheduler", {"use_karras_sigmas": True}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "DPM2": ("KDPM2DiscreteScheduler", {}),
    "DPM2 a": ("KDPM2AncestralDiscreteScheduler", {}),
    "LMS": ("LMSDiscreteScheduler", {}),
}
#: Denoising steps when the options name none.
DEFAULT_STEPS = 20
#: Pixels the network runs on per call (rows times pixels per image): a CPU is about as fast per image
#: at four 32x32 images as at many, an accelerator wants many.
CPU_PIXELS_PER_CALL = 4 * 32 * 32
ACCELERATOR_PIXELS_PER_CALL = 64 * 32 * 32


class Known(NamedTuple):
    """What image-to-image and inpainting start from."""

    picture: np.ndarray  #: the init image (H, W, C), float32 in [0, 1]
    image: torch.Tensor  #: the same (1, C, H, W) in [-1, 1], on the model's device
    mask: Optional[torch.Tensor]  #: (1, 1, H, W) in [0, 1], 1 where the image is made anew; or None


def rows_per_call(image_shape: tuple[int, int, int], device: torch.device) -> int:
    """How many images every call of the network runs on: fixed for a model on a device, so that an
    image's arithmetic never depends on how many others are sampled with it."""
    budget = CPU_PIXELS_PER_CALL if device.type == "cpu" else ACCELERATOR_PIXELS_PER_CALL
    return max(1, budget // (image_shape[0] * image_shape[1]))


def make_scheduler(name: str, model: DiffusionModel) -> Any:
    """A new diffusers scheduler ``name`` of :data:`SAMPLERS` on the model's schedule."""
    import diffusers

    class_name, settings = SAMPLERS[name]
    scheduler_class = getattr(diffusers, class_name)
    betas = betas_for(alphas_cumprod(model.config.schedule, model.timesteps))
    takes = inspect.signature(scheduler_class.__init__).parameters
    if "timestep_spacing" in takes:
        # DPM++ 2S has no such setting; its own spacing starts at the noisiest timestep too
        settings = {"timestep_spacing": "trailing", **settings}
    if "clip_sample" in takes:
        # as the book's sampler, the predicted image is not clipped to [-1, 1] on the way: at the noisiest
        # steps (signal rate 0.02) a guided prediction overshoots, and DDIM and DDPM clipping it (their
        # default) turns every guided sample into a saturated blob
        settings = {"clip_sample": False, **settings}
    return scheduler_class(num_train_timesteps=model.timesteps, trained_betas=betas.tolist(),
                           prediction_type="epsilon", **settings)


def to_images(x: torch.Tensor) -> np.ndarray:
    """Model images ``(n, C, H, W)`` in [-1, 1] to float32 ``(n, H, W, C)`` in [0, 1]."""
    return ((x.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).float().cpu().numpy()


def from_images(images: torch.Tensor) -> torch.Tensor:
    """Float ``(n, H, W, C)`` in [0, 1] to model images ``(n, C, H, W)`` in [-1, 1]."""
    return images.permute(0, 3, 1, 2) * 2 - 1


@torch.no_grad()
def sample(model: DiffusionModel, n: int, *, seed: int, condition: Optional[Mapping[str, Any]] = None,
           options: Optional[SampleOptions] = None, on_step: Optional[StepCallback] = None) -> np.ndarray:
    """``n`` images ``(n, H, W, C)`` float32 in [0, 1].

    ``options.init_image`` starts ``options.strength`` of the way from the end of the schedule,
    from the image noised to that level (diffusers' image-to-image); strength 0 runs no step and
    gives the image back as it is. ``options.mask`` (1: make anew) keeps the rest of the image at
    every step, noised to the step's level, and pastes it back at the end, pixel for pixel.
    ``on_step`` sees the model's prediction of the finished images after every step.
    """
    options = options or SampleOptions()
    name = options.sampler or next(iter(SAMPLERS))
    if name not in SAMPLERS:
        raise ModelError(f"Unknown sampler {name!r}; this model offers {', '.join(SAMPLERS)}.")
    steps = DEFAULT_STEPS if options.steps is None else int(options.steps)
    if not 1 <= steps <= model.timesteps:
        raise ModelError(f"The number of steps must be between 1 and {model.timesteps} (the timesteps the model "
                         f"was trained on), not {steps}.")
    if n < 1:
        return np.zeros((0, *model.image_shape), np.float32)
    labels = _labels(model, n, condition)
    guidance = 1.0 if options.guidance_scale is None else float(options.guidance_scale)
    given = _known(model, options)
    mask = None if given is None else given.mask
    device = model.alphas_cumprod.device

    scheduler = make_scheduler(name, model)
    scheduler.set_timesteps(steps, device=device)
    # image-to-image skips the noisiest steps, counted as diffusers' image-to-image pipelines count them
    start = 0 if given is None else int(max(steps - min(steps * options.strength, steps), 0))
    if start == steps:  # strength 0: nothing to make
        return np.repeat(given.picture[None], n, axis=0)
    timesteps = scheduler.timesteps[start * scheduler.order:]
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(start * scheduler.order)

    generators = [torch.Generator().manual_seed(seed + i) for i in range(n)]
    noise = torch.cat([torch.randn((1, model.config.channels, *model.image_shape[:2]), generator=g)
                       for g in generators]).to(device)
    if given is None:
        x = noise * scheduler.init_noise_sigma
    else:
        known = given.image.expand(n, -1, -1, -1)
        x = scheduler.add_noise(known, noise, timesteps[:1])
    step_takes = inspect.signature(scheduler.step).parameters
    extra = {"generator": generators} if "generator" in step_takes else {}
    total = len(timesteps)
    for index, t in enumerate(timesteps):
        model_input = scheduler.scale_model_input(x, t)
        predicted = _predict_noise(model, model_input, t, labels, guidance)
        out = scheduler.step(predicted, t, x, **extra)
        x = out.prev_sample
        if mask is not None:
            level = known if index == total - 1 else scheduler.add_noise(known, noise, timesteps[index + 1:index + 2])
            x = mask * x + (1 - mask) * level
        if on_step is not None:
            finished = getattr(out, "pred_original_sample", None)
            if finished is None:  # a multistep solver's output has none
                finished = _denoised(model, model_input, t, predicted)
            on_step(index + 1, total, StepPreview(step=index + 1, images=to_images(finished), shows="prediction"))
    images = to_images(x)
    if mask is not None:  # outside the mask, the init image exactly
        keep = mask[0].permute(1, 2, 0).cpu().numpy()
        images = keep * images + (1 - keep) * given.picture
    return images


def _denoised(model: DiffusionModel, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The clean images that ``x`` (the network's input at ``t``) would be without ``noise``."""
    variance = model.noise_variance(t.reshape(1)).reshape(1, 1, 1, 1)
    return (x - variance.sqrt() * noise) / (1 - variance).sqrt()


def _labels(model: DiffusionModel, n: int, condition: Optional[Mapping[str, Any]]) -> Optional[torch.Tensor]:
    """The ``(n,)`` labels of a class-conditional model (its "no class" label without a condition)."""
    condition = dict(condition or {})
    unknown = sorted(set(condition) - set(model.conditions))
    if unknown:
        takes = f"takes only {', '.join(model.conditions)}" if model.conditions else "takes no conditions"
        raise ModelError(f"This diffusion model {takes} (got {', '.join(unknown)}).")
    if not model.class_names:
        return None
    label = condition.get("label")
    if label is None:
        label = model.null_label
    elif isinstance(label, str) and label in model.class_names:
        label = model.class_names.index(label)
    elif isinstance(label, bool) or not isinstance(label, (int, np.integer)) or \
            not 0 <= label < len(model.class_names):
        raise ModelError(f"The label must be a class number from 0 to {len(model.class_names) - 1} "
                         f"({', '.join(model.class_names)}) or a class name, not {label!r}.")
    return torch.full((n,), int(label), dtype=torch.long, device=model.alphas_cumprod.device)


def _known(model: DiffusionModel, options: SampleOptions) -> Optional[Known]:
    """The init image and mask of the options, checked; None without an init image."""
    if options.init_image is None:
        if options.mask is not None:
            raise ModelError("A mask says which part of an init image to make anew; give an init image too.")
        return None
    image = np.asarray(options.init_image)
    if image.shape != model.image_shape:
        raise ModelError(f"The init image must be {' x '.join(map(str, model.image_shape))} "
                         f"(height x width x channels) for this model, not {' x '.join(map(str, image.shape))}.")
    if not 0.0 <= options.strength <= 1.0:
        raise ModelError(f"The strength must be between 0 (keep the image) and 1 (ignore it), "
                         f"not {options.strength}.")
    device = model.alphas_cumprod.device
    picture = np.clip(image, 0, 1).astype(np.float32)
    init = from_images(torch.from_numpy(picture)[None]).to(device)
    if options.mask is None:
        return Known(picture, init, None)
    mask = np.asarray(options.mask, np.float32)
    if mask.shape != model.image_shape[:2]:
        raise ModelError(f"The mask must be {model.image_shape[0]} x {model.image_shape[1]} (the image's height "
                         f"and width), not {' x '.join(map(str, mask.shape))}.")
    return Known(picture, init, torch.from_numpy(np.clip(mask, 0, 1))[None, None].to(device))


def _predict_noise(model: DiffusionModel, x: torch.Tensor, t: torch.Tensor, labels: Optional[torch.Tensor],
                   guidance: float) -> torch.Tensor:
    """The noise in ``x`` at timestep ``t``; with guidance, ``uncond + guidance * (cond - uncond)``."""
    guided = labels is not None and guidance != 1.0 and bool((labels != model.null_label).any())
    if guided:
        x = torch.cat([x, x])
        labels = torch.cat([labels, torch.full_like(labels, model.null_label)])
    rows = rows_per_call(model.image_shape, x.device)
    outputs = []
    for begin in range(0, len(x), rows):
        chunk = x[begin:begin + rows]
        short = rows - len(chunk)
        chunk_labels = None if labels is None else labels[begin:begin + rows]
        if short:
            chunk = torch.cat([chunk, chunk.new_zeros((short, *chunk.shape[1:]))])
            if chunk_labels is not None:
                chunk_labels = torch.cat([chunk_labels, chunk_labels.new_full((short,), model.null_label)])
        outputs.append(model(chunk, t.expand(rows), chunk_labels)[:rows - short])
    predicted = torch.cat(outputs)
    if guided:
        conditional, unconditional = predicted.chunk(2)
        predicted = unconditional + guidance * (conditional - unconditional)
    return predicted

"""The diffusion model the canvas samples: the book's U-Net on a discrete noise schedule.

The network predicts the noise in an image given the image's noise variance
(the book's conditioning). Training and every sampler reach it through
:meth:`DiffusionModel.forward`, which takes diffusers' *timesteps* and maps each
to its noise variance: integer timesteps are the trained ones; the fractional
ones some samplers ask for (Karras sigmas) are placed between them by
interpolating log sigma, exactly the inverse of how diffusers turns such a
sigma into a timestep (``_sigma_to_t``), so the model is told the noise level
the sample really has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from studio.core.capabilities import ModelError, SampleOptions, StepCallback
from studio_builtins.diffusion import sampling
from studio_builtins.diffusion.config import SCHEDULES
from studio_builtins.diffusion.schedule import alphas_cumprod
from studio_builtins.diffusion.unet import UNet


def parse_widths(text: str) -> tuple[int, ...]:
    """``"32,64,96"`` to ``(32, 64, 96)``; a :class:`ModelError` for anything else."""
    try:
        widths = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise ModelError(f"The U-Net's widths are positive whole numbers separated by commas, like "
                         f"'32,64,96', not {text!r}.")
    return widths


class DiffusionModel(nn.Module):
    """Offers ``ImageSampler``; its weights are the trainer's moving average (EMA) of the trained ones."""

    seed_per_image = True  #: image i of sample(n, seed=s) is sample(1, seed=s + i)[0], exactly

    def __init__(self, config: Any) -> None:
        super().__init__()
        widths = parse_widths(config.widths)
        if config.channels not in (1, 3):
            raise ModelError(f"Images must have 1 or 3 channels, not {config.channels}.")
        factor = 2 ** len(widths)
        if config.image_size < factor or config.image_size % factor:
            raise ModelError(f"The image size must be a multiple of {factor} (the U-Net halves it "
                             f"{len(widths)} times), not {config.image_size}.")
        if config.schedule not in SCHEDULES:
            raise ModelError(f"Unknown noise schedule {config.schedule!r}; use one of {', '.join(SCHEDULES)}.")
        if config.timesteps < 2:
            raise ModelError(f"The schedule needs at least 2 timesteps, not {config.timesteps}.")
        if config.block_depth < 1 or config.middle_width < 1:
            raise ModelError("block_depth and middle_width must be at least 1.")
        if config.noise_embedding_size < 2 or config.noise_embedding_size % 2:
            raise ModelError(f"The noise embedding size must be even, not {config.noise_embedding_size}.")
        self.config = config
        self.image_shape = (config.image_size, config.image_size, config.channels)
        self.class_names = tuple(config.class_names) if config.class_conditioning else ()
        #: the label that means "no class": what guidance compares against
        self.null_label = len(self.class_names)
        self.conditions = ("label",) if self.class_names else ()
        self.sampling_options = ("steps", "sampler") + (("guidance_scale",) if self.class_names else ()) + \
            ("init_image", "mask")
        self.samplers = tuple(sampling.SAMPLERS)
        self.unet = UNet(config.channels, widths, config.middle_width, config.block_depth,
                         config.noise_embedding_size, len(self.class_names))
        cumulative = alphas_cumprod(config.schedule, config.timesteps)
        # derived from the config, so not saved with the weights
        self.register_buffer("alphas_cumprod", torch.tensor(cumulative, dtype=torch.float32), persistent=False)
        self.register_buffer("log_sigmas", torch.tensor(0.5 * np.log((1 - cumulative) / cumulative),
                                                        dtype=torch.float32), persistent=False)

    @property
    def timesteps(self) -> int:
        return self.config.timesteps

    def noise_variance(self, timesteps: torch.Tensor) -> torch.Tensor:
        """The noise variance ``1 - alphas_cumprod`` at each (possibly fractional) timestep:
        ``sigma ** 2 / (1 + sigma ** 2)`` with log sigma interpolated between trained timesteps."""
        t = timesteps.to(self.log_sigmas.device, torch.float32).clamp(0, self.timesteps - 1)
        low = t.floor().long()
        high = (low + 1).clamp(max=self.timesteps - 1)
        log_sigma = torch.lerp(self.log_sigmas[low], self.log_sigmas[high], t - low)
        return torch.sigmoid(2 * log_sigma)

    def forward(self, images: torch.Tensor, timesteps: torch.Tensor,
                labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The noise in ``images`` ((n, C, H, W), the image scaled to [-1, 1] at the timesteps' noise
        levels); ``timesteps`` (n,); ``labels`` (n,) class indices (``null_label``: none) of a
        class-conditional model."""
        if self.class_names and labels is None:
            labels = torch.full((len(images),), self.null_label, dtype=torch.long, device=images.device)
        return self.unet(images, self.noise_variance(timesteps), labels)

    def sample(self, n: int, *, seed: int, condition: Optional[Mapping[str, Any]] = None,
               options: Optional[SampleOptions] = None, on_step: Optional[StepCallback] = None) -> np.ndarray:
        """``n`` images ``(n, H, W, C)`` float32 in [0, 1]; see :func:`sampling.sample`."""
        return sampling.sample(self, n, seed=seed, condition=condition, options=options, on_step=on_step)

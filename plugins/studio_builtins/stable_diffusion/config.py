"""The settings of a Stable Diffusion model imported from disk."""

from dataclasses import dataclass


@dataclass
class StableDiffusionConfig:
    """Where the weights are: a diffusers folder (with ``model_index.json``) or a single
    ``.safetensors`` checkpoint of SD 1.x, 2.x or SDXL."""

    path: str = ""

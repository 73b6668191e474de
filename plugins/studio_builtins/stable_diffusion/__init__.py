"""Stable Diffusion from the artist's own weights (chapter 13), offline.

A diffusers folder or a single ``.safetensors`` checkpoint of SD 1.x, 2.x or SDXL is checked by
:mod:`.source` (which imports neither torch nor diffusers), then loaded by :mod:`.loading` on the
inference thread and sampled by :mod:`.model` on the image canvas. Registration imports nothing heavy.
"""

from studio import hookimpl
from studio.core.specs import ModelSpec
from studio_builtins.stable_diffusion.config import StableDiffusionConfig

#: the plugin contract this spec is written for
STUDIO_CONTRACT_VERSION = 2

_HERE = "studio_builtins.stable_diffusion"


@hookimpl
def studio_register_models(register):
    register(ModelSpec(
        name="stable-diffusion", title="Stable Diffusion (your weights)", family="latent diffusion",
        capabilities=("ImageSampler",), config=StableDiffusionConfig,
        factory=f"{_HERE}.loading:from_config", loader=f"{_HERE}.loading:load_stable_diffusion",
        imports_from=("folder", ".safetensors", ".ckpt"),  # a .ckpt: to say why not, and how to convert
        description="Text to image, image to image and inpainting with a Stable Diffusion 1.x, 2.x or SDXL "
                    "model you keep on disk: a diffusers folder, or a single .safetensors checkpoint with "
                    "its CLIP tokenizer folder beside it. Loaded offline through diffusers.",
    ))

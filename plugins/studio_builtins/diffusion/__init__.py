"""Chapter 8's denoising diffusion model, sampled through diffusers' schedulers.

Registers the spec only; torch, the model, its trainer and diffusers are imported
when first used.
"""

from studio import hookimpl
from studio.core.specs import ModelSpec
from studio_builtins.diffusion.config import DiffusionConfig

#: the plugin contract this spec is written for
STUDIO_CONTRACT_VERSION = 2


@hookimpl
def studio_register_models(register):
    register(ModelSpec(
        name="diffusion", title="Diffusion model (DDIM/DDPM)", family="diffusion",
        capabilities=("ImageSampler", "Trainer"), config=DiffusionConfig,
        factory="studio_builtins.diffusion.model:DiffusionModel",
        trainer="studio_builtins.diffusion.trainer:DiffusionTrainer",
        data_kind="images", featured=True,
        description="The book's U-Net learns to predict the noise in an image at any level of an offset-cosine "
                    "schedule; sampling removes it step by step with a choice of samplers (DDIM, DDPM, DPM++, "
                    "Euler, ...). With labelled data it draws a chosen class, with classifier-free guidance.",
    ))

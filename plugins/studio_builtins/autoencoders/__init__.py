"""Autoencoders of chapter 3: an autoencoder, a VAE and a β-VAE.

Registers specs only; the torch model and trainer are imported when first used.
"""

from studio import hookimpl
from studio.core.specs import ModelSpec
from studio_builtins.autoencoders.config import AutoencoderConfig, BetaVAEConfig, VAEConfig

#: the plugin contract these specs are written for
STUDIO_CONTRACT_VERSION = 2

_CAPABILITIES = ("LatentCodec", "ImageSampler", "Trainer")
_FACTORY = "studio_builtins.autoencoders.model:Autoencoder"
_TRAINER = "studio_builtins.autoencoders.trainer:AutoencoderTrainer"


@hookimpl
def studio_register_models(register):
    common = dict(capabilities=_CAPABILITIES, factory=_FACTORY, trainer=_TRAINER, data_kind="images")
    register(ModelSpec(
        name="autoencoder", title="Autoencoder", family="autoencoder", config=AutoencoderConfig,
        description="Convolutional encoder and decoder through a 2-D latent space; samples come from a "
                    "Gaussian fitted to the training latents.",
        **common,
    ))
    register(ModelSpec(
        name="vae", title="Variational autoencoder", family="vae", config=VAEConfig,
        description="The encoder outputs a Gaussian per image and a KL term pulls the latents towards a "
                    "standard normal, so any point near the origin decodes to a plausible image.",
        **common,
    ))
    register(ModelSpec(
        name="beta-vae", title="β-VAE", family="vae", config=BetaVAEConfig,
        description="A VAE with a heavier KL weight: a smoother latent space at the cost of sharpness.",
        **common,
    ))

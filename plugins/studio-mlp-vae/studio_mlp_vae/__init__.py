"""A fully connected VAE for Generative Studio: the example of a third-party image-model plugin.

It contributes two things, through two hooks: a model (``mlp-vae``) that offers
``ImageSampler`` (the image canvas), ``LatentCodec`` (the latent explorer) and
``Trainer`` (the Jobs dock), and an exporter that writes images as Netpbm files
(``.pgm``, ``.ppm``). This module only hands over specs; torch and the model are
imported when an artist first uses them, so the studio's start-up stays fast.
"""

from dataclasses import dataclass

from studio import hookimpl
from studio.core.specs import ExporterSpec, ModelSpec

__version__ = "1.0.0"
#: The plugin contract this plugin is written for (see docs/plugins.md).
STUDIO_CONTRACT_VERSION = 2


@dataclass
class MLPVAEConfig:
    # An image model's config must have image_size and channels: the studio loads the training
    # data (and a latent map's images) to fit them, and refuses the spec without them.
    image_size: int = 28
    channels: int = 1
    latent_dim: int = 2  # 2: the latent explorer shows the whole space as a map
    hidden: int = 256  # units in each of the two hidden layers of the encoder and the decoder
    kl_weight: float = 1.0  # 1 is the ELBO; more gives a smoother space and blurrier images
    batch_size: int = 128
    learning_rate: float = 1e-3


@hookimpl
def studio_register_models(register):
    register(ModelSpec(
        name="mlp-vae",
        title="MLP VAE (example plugin)",
        family="vae",
        capabilities=("ImageSampler", "LatentCodec", "Trainer"),
        config=MLPVAEConfig,
        factory="studio_mlp_vae.model:MLPVAE",
        trainer="studio_mlp_vae.trainer:MLPVAETrainer",
        data_kind="images",
        description="Kingma and Welling's VAE with fully connected layers: each image is flattened, "
                    "encoded to a Gaussian in a small latent space and decoded back.",
    ))


@hookimpl
def studio_register_exporters(register):
    register(ExporterSpec(
        name="netpbm", title="Netpbm image", artifact="image", extensions=(".pgm", ".ppm"),
        writer="studio_mlp_vae.netpbm:write_netpbm",
        description="greyscale .pgm or colour .ppm, with the parameters in a header comment",
    ))

"""The GANs of chapter 4: a DCGAN, a WGAN-GP and a conditional WGAN-GP.

Registers specs only; the torch models and trainers are imported when first used.
"""

from studio import hookimpl
from studio.core.specs import ModelSpec
from studio_builtins.gans.config import CGANConfig, DCGANConfig, WGANGPConfig

#: the plugin contract these specs are written for
STUDIO_CONTRACT_VERSION = 2

_CAPABILITIES = ("ImageSampler", "Trainer")
_MODELS = "studio_builtins.gans.model"
_TRAINERS = "studio_builtins.gans.trainer"


@hookimpl
def studio_register_models(register):
    common = dict(family="gan", capabilities=_CAPABILITIES, data_kind="images")
    register(ModelSpec(
        name="dcgan", title="DCGAN", config=DCGANConfig,
        factory=f"{_MODELS}:DCGAN", trainer=f"{_TRAINERS}:DCGANTrainer",
        description="A generator of transposed convolutions learns to fool a convolutional discriminator "
                    "that learns to tell its images from the training images.",
        **common,
    ))
    register(ModelSpec(
        name="wgan-gp", title="WGAN-GP", config=WGANGPConfig,
        factory=f"{_MODELS}:WGANGP", trainer=f"{_TRAINERS}:WGANGPTrainer",
        description="A Wasserstein GAN: a critic scores images, kept smooth by a gradient penalty, and the "
                    "generator learns to raise its score; steadier to train than a DCGAN.",
        **common,
    ))
    register(ModelSpec(
        name="cgan", title="Conditional GAN", config=CGANConfig,
        factory=f"{_MODELS}:ConditionalWGANGP", trainer=f"{_TRAINERS}:ConditionalWGANGPTrainer",
        description="A WGAN-GP told each image's class: choose the class of the images it makes. Needs "
                    "labelled images (Fashion-MNIST, or a folder with a sub-folder per class).",
        **common,
    ))

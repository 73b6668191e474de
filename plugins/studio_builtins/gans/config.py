"""The settings of the chapter-4 GANs; light (no torch) so discovery can name them.

The defaults are the book's, at the size the studio trains Fashion-MNIST at (32x32 greyscale);
an artist's own folder trains with ``image_size=64, channels=3``. The networks' widths double from
``features`` with every block, so the book's widths at 64x64 (64 to 512) come from the default.
"""

from dataclasses import dataclass, field

#: Marks a field the trainer fills in: the Train dialog does not offer it.
LEARNED = {"learned": True}


@dataclass
class DCGANConfig:
    """The book's DCGAN (its LEGO-bricks notebook): a deep convolutional generator and discriminator."""

    image_size: int = 32  #: a power of two, at least 16: the networks halve it (and double it) down to 4x4
    channels: int = 1  #: 1 (greyscale) or 3 (RGB)
    latent_dim: int = 100  #: the generator's input noise
    features: int = 64  #: the discriminator's first width (the generator's last); doubled every block
    dropout: float = 0.3  #: after each of the discriminator's layers
    batch_size: int = 128
    learning_rate: float = 2e-4  #: both Adams'
    beta1: float = 0.5
    beta2: float = 0.999
    label_noise: float = 0.1  #: the book's NOISE_PARAM: up to this much noise on the discriminator's labels


@dataclass
class WGANGPConfig:
    """The book's WGAN-GP: a critic scoring images (no batch norm), trained with a gradient penalty."""

    image_size: int = 32  #: a power of two, at least 16: the networks halve it (and double it) down to 4x4
    channels: int = 1  #: 1 (greyscale) or 3 (RGB)
    latent_dim: int = 128
    features: int = 64  #: the critic's first width (the generator's last); doubled every block
    dropout: float = 0.3  #: after the critic's layers but the first, as the book has it
    batch_size: int = 512
    learning_rate: float = 2e-4  #: both Adams'
    beta1: float = 0.5
    beta2: float = 0.9
    critic_steps: int = 3  #: critic updates per generator update
    gp_weight: float = 10.0  #: the gradient penalty's weight (λ)


@dataclass
class CGANConfig(WGANGPConfig):
    """The book's conditional GAN: a WGAN-GP whose generator and critic are both told the class."""

    batch_size: int = 128
    #: the classes, in label order, from the training data; filled in by the trainer
    class_names: tuple[str, ...] = field(default=(), metadata=LEARNED)

"""The settings of the chapter-3 autoencoders; light (no torch) so discovery can name them."""

from dataclasses import dataclass


@dataclass
class AutoencoderConfig:
    """A plain autoencoder, as the book trains it on Fashion-MNIST."""

    kind: str = "ae"  #: "ae" (deterministic encoder) or "vae" (encoder outputs a Gaussian)
    latent_dim: int = 2  #: 2 lets the latent explorer show the whole space as a map
    image_size: int = 32  #: a multiple of 8: the encoder halves it three times
    channels: int = 1
    reconstruction_weight: float = 1.0  #: multiplies the per-pixel binary cross-entropy
    kl_weight: float = 0.0  #: weight of the KL term (only a VAE has one)
    batch_size: int = 100
    learning_rate: float = 1e-3


@dataclass
class VAEConfig(AutoencoderConfig):
    """The book's VAE: reconstruction weighted 500 against the KL divergence."""

    kind: str = "vae"
    reconstruction_weight: float = 500.0
    kl_weight: float = 1.0


@dataclass
class BetaVAEConfig(VAEConfig):
    """A β-VAE: a heavier KL weight trades sharpness for a smoother, more disentangled latent space."""

    kl_weight: float = 4.0

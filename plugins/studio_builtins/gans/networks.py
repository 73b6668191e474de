"""The chapter-4 networks, sized by the image: one stride-2 block per halving from the image down to 4x4.

At 64x64 (four blocks) the widths, kernels, strides and layers are the book's; at 32x32 the widest block
goes. Keras' ``BatchNormalization(momentum=0.9)`` keeps 0.9 of its running statistics per batch, which is
PyTorch's ``momentum=0.1``; its epsilon is 1e-3. Weights start as the DCGAN paper's, N(0, 0.02), with
batch-norm gains N(1, 0.02) (the book keeps Keras' Glorot-uniform default).
"""

from __future__ import annotations

from torch import nn

#: PyTorch's name for Keras' momentum 0.9 (the share of a batch in the running statistics)
BN_MOMENTUM = 0.1
BN_EPSILON = 1e-3
LEAK = 0.2
#: the width of the smallest feature map, where the first and last layers are 4x4 convolutions
BASE = 4


def blocks_for(image_size: int) -> int:
    """The stride-2 blocks between ``image_size`` and 4x4 (``image_size`` a power of two, at least 16)."""
    return image_size.bit_length() - BASE.bit_length()


def _widths(blocks: int, features: int) -> list[int]:
    """The critic's widths, block by block (the generator's, reversed): ``features`` doubled each time."""
    return [features * 2 ** i for i in range(blocks)]


def generator(inputs: int, channels: int, blocks: int, features: int) -> nn.Sequential:
    """Latents ``(n, inputs, 1, 1)`` to images ``(n, channels, 4 * 2**blocks, ...)`` in [-1, 1]:
    a 4x4 transposed convolution, then doubling blocks with batch norm and leaky ReLU, then tanh."""
    widths = _widths(blocks, features)[::-1]
    layers: list[nn.Module] = [nn.ConvTranspose2d(inputs, widths[0], BASE, 1, 0, bias=False),
                               nn.BatchNorm2d(widths[0], BN_EPSILON, BN_MOMENTUM), nn.LeakyReLU(LEAK)]
    for wide, narrow in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False),
                   nn.BatchNorm2d(narrow, BN_EPSILON, BN_MOMENTUM), nn.LeakyReLU(LEAK)]
    layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
    return nn.Sequential(*layers)


def discriminator(inputs: int, blocks: int, features: int, dropout: float) -> nn.Sequential:
    """The DCGAN's: halving convolutions, batch norm on all but the first, leaky ReLU and dropout after
    each, then a 4x4 convolution to one logit per image ``(n, 1, 1, 1)`` (the book's sigmoid is in the loss)."""
    layers: list[nn.Module] = []
    for i, width in enumerate(_widths(blocks, features)):
        layers.append(nn.Conv2d(inputs, width, 4, 2, 1, bias=False))
        if i:
            layers.append(nn.BatchNorm2d(width, BN_EPSILON, BN_MOMENTUM))
        layers += [nn.LeakyReLU(LEAK), nn.Dropout(dropout)]
        inputs = width
    return nn.Sequential(*layers, nn.Conv2d(inputs, 1, BASE, 1, 0, bias=False))


def critic(inputs: int, blocks: int, features: int, dropout: float) -> nn.Sequential:
    """The WGAN-GP's: as the discriminator but without batch norm (the gradient penalty is per image, and
    batch norm would tie each image's score to the rest of the batch) and without dropout after the first
    layer; one unbounded score per image ``(n, 1, 1, 1)``."""
    layers: list[nn.Module] = []
    for i, width in enumerate(_widths(blocks, features)):
        layers += [nn.Conv2d(inputs, width, 4, 2, 1), nn.LeakyReLU(LEAK)]
        if i:
            layers.append(nn.Dropout(dropout))
        inputs = width
    return nn.Sequential(*layers, nn.Conv2d(inputs, 1, BASE, 1, 0))


def init_weights(module: nn.Module) -> None:
    """The DCGAN paper's initialisation, for ``Module.apply``."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)

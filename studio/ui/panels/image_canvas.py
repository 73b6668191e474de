"""The Image Canvas: sample grids from image models."""

from studio.ui.panels.base import ModelPanel


class ImageCanvasPanel(ModelPanel):
    what_it_does = ("Sample grids of images, fix a seed, condition on a class or a prompt, watch a "
                    "diffusion sample form step by step, repaint a masked region and export PNGs.")
    families = "GANs, diffusion models, PixelCNN, normalizing flows and energy-based models"

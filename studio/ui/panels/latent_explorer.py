"""The Latent Explorer: a model's latent space as a map to click, walk and morph."""

from studio.ui.panels.base import ModelPanel


class LatentExplorerPanel(ModelPanel):
    what_it_does = ("See a dataset as a map of a model's latent space, click anywhere to decode it, "
                    "morph between two images and add attribute vectors.")
    families = "Autoencoders, VAEs and other latent-variable models"

"""The Dream Simulator: drive inside a world model's dream."""

from studio.ui.kit.model_panel import ModelPanel


class DreamSimulatorPanel(ModelPanel):
    what_it_does = ("Collect rollouts of a real environment, train a world model, drive inside its dream, "
                    "and evolve a controller there that you then score in the real environment.")
    families = "World models (VAE + MDN-RNN + controller)"

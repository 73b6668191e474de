"""The Dream Simulator: drive inside a world model's dream."""

from studio.ui.kit.model_panel import ModelPanel


class DreamSimulatorPanel(ModelPanel):
    what_it_does = ("Collect rollouts of a real environment, train a world model, drive inside its dream, "
                    "and evolve a controller there that you then score in the real environment.")
    families = "World models (VAE + MDN-RNN + controller)"
    train_hint = ("stage by stage: <code>studio dream collect --episodes 200 --out rollouts</code>, then "
                  "<code>studio dream train-vae --data rollouts --out vae</code>, <code>studio dream train-rnn "
                  "--data rollouts --from world-vae=vae --out rnn</code> and <code>studio dream train-controller "
                  "--data rollouts --from mdn-rnn=rnn --out controller</code>")

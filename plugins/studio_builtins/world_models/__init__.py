"""World Models (chapter 12) on Gymnasium's CarRacing: rollouts of a smooth random policy, then V (a VAE on
the frames), M (an MDN-RNN on V's latents) and C (a linear controller evolved with CMA-ES), each stage
built on the one before.

This module only registers specs; gymnasium, torch and cma are imported by the modules the specs name,
when they are first used.
"""

from studio import hookimpl
from studio.core.specs import DatasetSourceSpec, ModelSpec

from .config import ControllerConfig, MDNRNNConfig, WorldVAEConfig

#: the plugin contract these specs are written for
STUDIO_CONTRACT_VERSION = 2

_HERE = "studio_builtins.world_models"

__all__ = ["STUDIO_CONTRACT_VERSION", "ControllerConfig", "MDNRNNConfig", "WorldVAEConfig",
           "studio_register_dataset_sources", "studio_register_models"]


@hookimpl
def studio_register_dataset_sources(register):
    register(DatasetSourceSpec(
        name="carracing-rollouts", title="CarRacing rollouts", kind="rollouts", needs_location=True,
        loader=f"{_HERE}.rollouts:load_rollouts",
        description="A folder of CarRacing episodes made by `studio dream collect` (64x64 frames, actions, "
                    "rewards, dones per episode); damaged episodes are skipped and listed",
    ))


@hookimpl
def studio_register_models(register):
    register(ModelSpec(
        name="world-vae", title="World Models V (VAE)", family="world-models",
        capabilities=("LatentCodec", "ImageSampler", "Trainer"), config=WorldVAEConfig,
        factory=f"{_HERE}.vision:WorldVAE", trainer=f"{_HERE}.vision:WorldVAETrainer", data_kind="rollouts",
        description="A convolutional VAE compressing each 64x64 CarRacing frame into a 32-number latent z.",
    ))
    register(ModelSpec(
        name="mdn-rnn", title="World Models M (MDN-RNN)", family="world-models",
        capabilities=("WorldModel", "Trainer"), config=MDNRNNConfig,
        factory=f"{_HERE}.memory:MDNRNN", trainer=f"{_HERE}.memory:MDNRNNTrainer", data_kind="rollouts",
        builds_on=("world-vae",),
        description="An LSTM over V's latents predicting a mixture of Gaussians over the next z, the reward "
                    "and the end of the episode; it holds V too, so it dreams frames on its own.",
    ))
    register(ModelSpec(
        name="controller", title="World Models C (controller)", family="world-models",
        capabilities=("WorldModel", "Trainer"), config=ControllerConfig,
        factory=f"{_HERE}.control:Controller", trainer=f"{_HERE}.control:ControllerTrainer",
        data_kind="rollouts", builds_on=("mdn-rnn",),
        description="A linear map from [z, h] to steering, gas and brake (867 parameters), evolved with CMA-ES "
                    "inside M's dream or in the real CarRacing.",
    ))

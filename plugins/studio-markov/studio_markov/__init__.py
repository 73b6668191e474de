"""A Markov-chain text generator: the example of a third-party Generative Studio plugin.

This module is what the entry point names. It only hands over *specs*; the model
and trainer live in other modules that are imported when first used, so the
studio's start-up stays fast.
"""

from dataclasses import dataclass, field

from studio import hookimpl
from studio.core.specs import ModelSpec

__version__ = "2.0.0"
#: The plugin contract this plugin is written for (see docs/plugins.md); the studio refuses a
#: plugin whose contract it does not support, with a message naming both versions.
STUDIO_CONTRACT_VERSION = 2


@dataclass
class MarkovConfig:
    order: int = 4  # characters of context; longer is more faithful to the source, less inventive
    # the characters seen in training, filled in by the trainer ("learned": not a setting to offer)
    vocabulary: str = field(default="", metadata={"learned": True})


@hookimpl
def studio_register_models(register):
    register(ModelSpec(
        name="markov",
        title="Markov chain text",
        family="markov",
        capabilities=("SequenceGenerator", "Trainer"),
        config=MarkovConfig,
        factory="studio_markov.model:MarkovText",
        trainer="studio_markov.trainer:MarkovTrainer",
        data_kind="text",
        description="Counts which character follows each short context and samples from those counts.",
    ))

"""Built-in music models for the piano roll: chapter 11's music transformer (a melody as
notes and durations) and a polyphonic Music Transformer on performance events.

This module only registers specs; torch is imported by the modules the specs name,
when a model is first used.
"""

from studio import hookimpl
from studio.core.specs import ModelSpec

from .config import EventConfig, MelodyConfig

#: the plugin contract these specs are written for
STUDIO_CONTRACT_VERSION = 2

_HERE = "studio_builtins.music"

__all__ = ["STUDIO_CONTRACT_VERSION", "EventConfig", "MelodyConfig", "studio_register_models"]


@hookimpl
def studio_register_models(register):
    register(ModelSpec(
        name="music-transformer", title="Music transformer (notes and durations)", family="transformer",
        capabilities=("MusicGenerator", "Trainer"), config=MelodyConfig,
        factory=f"{_HERE}.melody_model:MelodyTransformer", trainer=f"{_HERE}.trainer:MelodyTrainer",
        data_kind="music", featured=True,
        description="The book's model (chapter 11): the top line of the music as note and duration tokens, "
                    "one transformer block with two output heads; not in the book, it also reads where in the "
                    "bar each next note starts (bar_position).",
    ))
    register(ModelSpec(
        name="event-transformer", title="Music Transformer (polyphonic events)", family="transformer",
        capabilities=("MusicGenerator", "Trainer"), config=EventConfig,
        factory=f"{_HERE}.event_model:EventTransformer", trainer=f"{_HERE}.trainer:EventTrainer",
        data_kind="music",
        description="A decoder-only transformer on 388 performance events (note-on, note-off, 10-ms time "
                    "shifts, velocity) with a key/value cache; all voices of the music merged.",
    ))

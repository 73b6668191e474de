"""The settings of a CLIP model imported from disk."""

from dataclasses import dataclass


@dataclass
class ClipConfig:
    """Where the weights are: a transformers CLIP model folder."""

    folder: str = ""

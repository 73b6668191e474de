"""The canvas's judge: a trained classifier (``ImageClassifier``) of the images a model makes (Qt-free).

A judge fits a model when it takes images of the model's shape. It labels
each image of a grid with the class it sees and how sure it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.core.checkpoint import read_header
from studio.core.errors import UserError
from studio.core.starters import starters
from studio.engine.inference import ModelRef

CAPABILITY = "ImageClassifier"


@dataclass(frozen=True)
class Judge:
    ref: ModelRef
    title: str


def find_judges(registry: Any, store: Any, image_shape: tuple[int, int, int]) -> list[Judge]:
    """The classifiers of the workspace (newest first) and the starters that take images of
    ``image_shape``."""
    specs = {spec.name: spec for spec in registry.models_offering(CAPABILITY)}
    found = []
    paths = [(row["spec"], row["path"], row["model"]) for row in store.checkpoints(list(specs))]
    paths += [(s.spec, str(s.checkpoint), f"{s.title} · starter") for s in starters() if s.spec in specs]
    for spec, path, title in paths:
        try:
            config = read_header(path).config
        except UserError:
            continue
        if (config.get("image_size"), config.get("image_size"), config.get("channels")) == tuple(image_shape):
            found.append(Judge(ModelRef(spec, path), title or specs[spec].title))
    return found


def verdicts(model: Any, images: np.ndarray) -> list[tuple[str, float]]:
    """The class the judge sees in each image and its probability."""
    probabilities = np.asarray(model.classify(np.asarray(images, np.float32)), np.float32)
    names = list(model.class_names)
    best = probabilities.argmax(axis=1)
    return [(names[k] if k < len(names) else str(k), float(probabilities[i, k])) for i, k in enumerate(best)]

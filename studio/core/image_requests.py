"""What the canvas and ``studio generate`` ask of an image model, and what they record of a grid:
one way, so a grid made by either restores on the canvas to the same pixels (Qt-free)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from studio.core.capabilities import ModelError, SamplerInfo

#: the steps and the guidance a model that takes them samples with unless told otherwise (so the
#: canvas and the command line agree on these); a model may give its own guidance (``default_guidance``)
DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 3.0


def default_options(info: SamplerInfo, given: dict[str, Any], conditioned: bool) -> dict[str, Any]:
    """``given`` sampling options, with the defaults of those the model takes and were not given."""
    options = dict(given)
    if "steps" in info.sampling_options:
        options.setdefault("steps", DEFAULT_STEPS)
    if "sampler" in info.sampling_options and info.samplers:
        options.setdefault("sampler", info.samplers[0])
    if "guidance_scale" in info.sampling_options and conditioned:
        options.setdefault("guidance_scale", guidance_of(info))
    return options


def guidance_of(info: SamplerInfo) -> float:
    """The guidance a model samples with unless told otherwise: its own, or the studio's."""
    return info.default_guidance if info.default_guidance is not None else DEFAULT_GUIDANCE


def label_of(info: SamplerInfo, name: str) -> int:
    """A class given by name (or by its index) as the label index; a :class:`ModelError` naming the
    classes there are otherwise."""
    if "label" not in info.conditions or not info.class_names:
        raise ModelError("This model takes no class.")
    if name in info.class_names:
        return info.class_names.index(name)
    if name.isdigit() and int(name) < len(info.class_names):
        return int(name)
    raise ModelError(f"This model's classes are {', '.join(info.class_names)}; not {name!r}.")


def described(info: Optional[SamplerInfo], images: np.ndarray, condition: dict[str, Any]) -> dict[str, Any]:
    """What a grid's parameters say of it besides the settings: one image's size ([width, height]),
    whether each image has a seed of its own, and the class asked for by name."""
    images = np.asarray(images)
    params: dict[str, Any] = {"size": [int(images.shape[2]), int(images.shape[1])],
                              "seed_per_image": bool(info and info.seed_per_image)}
    label = condition.get("label")
    if label is not None and info is not None and label < len(info.class_names):
        params["class_name"] = info.class_names[label]
    return params

"""What the canvas can take from another tool's ``parameters`` text (Qt-free).

A PNG from a Stable Diffusion web UI (or any tool that writes its format)
names a seed, steps, a sampler, a CFG scale, a size, a prompt and its model.
The canvas takes those its model has a setting for and names the rest, so the
artist knows what was not carried over.
"""

from __future__ import annotations

from typing import Any

from studio.core.capabilities import SamplerInfo
from studio.core.png_parameters import as_float, as_int, as_size

#: the keys read for settings; every other key of the text is reported as not used
USED = ("Seed", "Steps", "Sampler", "CFG scale", "Size", "prompt", "negative_prompt", "Class")


def settings_from(parsed: dict[str, Any], info: SamplerInfo) -> tuple[dict[str, Any], list[str]]:
    """The canvas settings the parsed text gives for a model that says ``info``, and a line for each
    thing it could not take (and why)."""
    changes: dict[str, Any] = {}
    notes: list[str] = []
    seed = as_int(parsed.get("Seed")) if "Seed" in parsed else None
    if seed is not None and seed >= 0:
        changes["seed"] = seed
    elif "Seed" in parsed:
        notes.append(f"seed {parsed['Seed']!r} (not a seed)")
    _option(parsed, "Steps", "steps", as_int, info, changes, notes)
    _option(parsed, "CFG scale", "guidance_scale", as_float, info, changes, notes)
    if "Sampler" in parsed:
        sampler = str(parsed["Sampler"])
        if "sampler" in info.sampling_options and sampler in info.samplers:
            changes["sampler"] = sampler
        else:
            notes.append(f"sampler {sampler} (this model's: {', '.join(info.samplers) or 'none'})")
    size = as_size(parsed.get("Size", ""))
    if size is not None and "size" in info.sampling_options:
        changes["size"] = size
    elif size is not None and size != (info.image_shape[1], info.image_shape[0]):
        notes.append(f"size {size[0]}x{size[1]} (this model makes {info.image_shape[1]}x{info.image_shape[0]})")
    if parsed.get("prompt"):
        if "prompt" in info.conditions:
            changes["prompt"] = parsed["prompt"]
        else:
            notes.append("the prompt (this model takes none)")
    if parsed.get("negative_prompt"):
        if "negative_prompt" in info.conditions:
            changes["negative_prompt"] = parsed["negative_prompt"]
        else:
            notes.append("the negative prompt (this model takes none)")
    if "Class" in parsed:
        name = str(parsed["Class"])
        if "label" in info.conditions and name in info.class_names:
            changes["label"] = info.class_names.index(name)
        else:
            notes.append(f"class {name} (not one of this model's)")
    others = [key for key in parsed if key not in USED]
    notes += [f"{key} {parsed[key]}" for key in others]
    return changes, notes


def _option(parsed, key: str, option: str, convert, info: SamplerInfo, changes: dict, notes: list) -> None:
    if key not in parsed:
        return
    value = convert(parsed[key])
    if value is not None and option in info.sampling_options:
        changes[option] = value
    else:
        notes.append(f"{key.lower()} {parsed[key]} (this model has no such setting)" if value is not None
                     else f"{key.lower()} {parsed[key]!r} (not a number)")

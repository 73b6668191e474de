"""The ``parameters`` text other image tools read and write, and what of it the studio can use.

The most used Stable Diffusion web UI (AUTOMATIC1111's, and the tools that
follow it: ComfyUI's savers, InvokeAI's importers, image browsers) keeps how an
image was made in one PNG text chunk, ``parameters``::

    a prompt, as many lines as it has
    Negative prompt: what to avoid
    Steps: 20, Sampler: DDIM, CFG scale: 3, Seed: 42, Size: 32x32, Model hash: 1a2b3c4d5e, Model: vae

The prompt lines are absent for a model without prompts. In the last line a
value is quoted as JSON only when it holds a comma, a colon or a newline.
"Model hash" is the first 10 hex digits of the checkpoint file's SHA-256, as the
web UI computes it. :func:`format_parameters` writes that text from the
studio's parameters; :func:`parse_parameters` reads any tool's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Optional

#: the text chunk's name
CHUNK = "parameters"
NEGATIVE = "Negative prompt:"
#: ``Key: value`` pairs of the last line, a value JSON-quoted or running to the next comma (the web UI's
#: own pattern)
_PAIR = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def _quoted(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)  # CFG scale 3, not 3.0
    return json.dumps(text) if any(c in text for c in ",:\n") else text


def model_name(checkpoint: str) -> str:
    """What the web UI's "Model" says: the checkpoint's name (a run folder's, for a run's checkpoint)."""
    path = Path(checkpoint)
    return path.parent.name if path.stem == "checkpoint" and path.parent.name else path.stem


def format_parameters(params: Mapping[str, Any], size: tuple[int, int]) -> str:
    """The ``parameters`` text of an image the studio made: ``size`` is one image's (width, height)."""
    condition = params.get("condition") or {}
    lines = []
    if condition.get("prompt"):
        lines.append(str(condition["prompt"]))
    negative = condition.get("negative_prompt") or params.get("negative_prompt")
    if negative:
        lines.append(f"{NEGATIVE} {negative}")
    pairs: list[tuple[str, Any]] = []
    for key, name in (("steps", "Steps"), ("sampler", "Sampler"), ("guidance_scale", "CFG scale")):
        if params.get(key) is not None:
            pairs.append((name, params[key]))
    seed = params.get("seed")
    if seed is not None:
        pairs.append(("Seed", seed + params["index"] if params.get("seed_per_image") and params.get("index") is not None
                      else seed))
    pairs.append(("Size", f"{size[0]}x{size[1]}"))
    if params.get("checkpoint_sha256"):
        pairs.append(("Model hash", str(params["checkpoint_sha256"])[:10]))
    if params.get("checkpoint"):
        pairs.append(("Model", model_name(str(params["checkpoint"]))))
    if params.get("class_name"):
        pairs.append(("Class", params["class_name"]))
    if params.get("strength") is not None and params.get("init_image") is not None:
        pairs.append(("Denoising strength", params["strength"]))
    lines.append(", ".join(f"{name}: {_quoted(value)}" for name, value in pairs))
    return "\n".join(lines)


def parse_parameters(text: str) -> dict[str, Any]:
    """Any tool's ``parameters`` text as ``{"prompt": ..., "negative_prompt": ..., key: value}`` (the
    last line's keys as written, values as text); {} when it is not such a text."""
    lines = text.strip().split("\n")
    if not lines or not _PAIR.match(lines[-1]) or ":" not in lines[-1]:
        return {}
    pairs = {}
    for match in _PAIR.finditer(lines[-1]):
        key, value = match.group(1).strip(), match.group(2).strip()
        if value.startswith('"'):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        pairs[key] = value
    if "Steps" not in pairs and "Seed" not in pairs:  # not the web UI's last line after all
        return {}
    prompt, negative = [], []
    for line in lines[:-1]:
        if line.startswith(NEGATIVE) or negative:
            negative.append(line[len(NEGATIVE):].strip() if line.startswith(NEGATIVE) else line)
        else:
            prompt.append(line)
    result: dict[str, Any] = dict(pairs)
    if prompt:
        result["prompt"] = "\n".join(prompt)
    if negative:
        result["negative_prompt"] = "\n".join(negative)
    return result


def as_int(value: Any) -> Optional[int]:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def as_float(value: Any) -> Optional[float]:
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def as_size(value: Any) -> Optional[tuple[int, int]]:
    """"512x768" as (512, 768)."""
    match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", str(value))
    return (int(match.group(1)), int(match.group(2))) if match else None

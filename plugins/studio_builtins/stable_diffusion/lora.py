"""LoRA weights named in the prompt, as artists write them in the most used web UI.

``<lora:NAME:STRENGTH>`` anywhere in a prompt applies ``NAME.safetensors`` at that strength (1
when the strength is left out) and is taken out of the text the model reads; the prompt, tags
and all, is what the image's parameters keep, so a PNG made here or there restores its LoRAs.
The files are looked for where artists keep them: a ``Lora`` or ``loras`` folder beside the
model, or the web UI's ``models/Lora`` next to its ``models/Stable-diffusion``; a tag may also give
a file's full path. Only safetensors files are read (a pickle is never opened).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from studio.core.capabilities import ModelError

_TAG = re.compile(r"<lora:([^:>]+)(?::([^>]*))?>", re.IGNORECASE)


@dataclass(frozen=True)
class LoraUse:
    name: str  #: as the tag gives it
    strength: float
    path: Path


def split_prompt(prompt: str) -> tuple[str, list[tuple[str, float]]]:
    """The prompt without its LoRA tags, and each tag's (name, strength) in order; a name given
    twice keeps its last strength, as the web UI does."""
    found: dict[str, float] = {}
    for match in _TAG.finditer(prompt):
        name, strength = match.group(1).strip(), (match.group(2) or "1").strip()
        try:
            found[name] = float(strength)
        except ValueError:
            raise ModelError(f"The LoRA tag <lora:{name}:{strength}> needs a number for its strength, "
                             "like <lora:name:0.8>.") from None
    text = re.sub(r"\s{2,}", " ", _TAG.sub("", prompt)).strip(" ,")
    return text, list(found.items())


def search_folders(model_path: Path) -> list[Path]:
    """Where LoRA files are looked for, for the model at ``model_path``, nearest first."""
    base = model_path.parent
    return [base / "Lora", base / "loras", base.parent / "Lora", base]


def find_lora(name: str, model_path: Path) -> Path:
    given = Path(name).expanduser()
    candidates = [given] if given.is_absolute() else [
        folder / f"{name}{suffix}" for folder in search_folders(model_path) for suffix in (".safetensors", "")]
    for path in candidates:
        if path.is_file():
            if path.suffix.lower() != ".safetensors":
                raise ModelError(f"The LoRA {path.name} is not a .safetensors file; the studio does not open "
                                 "pickles. Convert it to .safetensors first.")
            return path
    where = ", ".join(str(f) for f in ([given.parent] if given.is_absolute() else search_folders(model_path)))
    raise ModelError(f"No LoRA named {name!r} ({name}.safetensors) was found in {where}.")


def resolve(prompt: str, model_path: Path) -> tuple[str, list[LoraUse]]:
    """The prompt the model reads, and the LoRA files its tags ask for."""
    text, tags = split_prompt(prompt)
    return text, [LoraUse(name, strength, find_lora(name, model_path)) for name, strength in tags]

"""Recognise a Stable Diffusion model on disk and say exactly what is wrong with it.

Two layouts are accepted: a diffusers folder (``model_index.json`` and one subfolder per part)
and a single ``.safetensors`` checkpoint of SD 1.x, 2.x or SDXL. Only file names, JSON configs and
the safetensors header are read, never a tensor, and neither torch, diffusers nor transformers is
imported: they take tens of seconds to import, and a pickle (``.ckpt``, ``.bin``) is refused before
anything could unpickle it.

The family of a single file is told from its key names as diffusers' ``from_single_file`` does
(``CHECKPOINT_KEY_NAMES`` and ``infer_diffusers_model_type`` in
``diffusers/loaders/single_file_utils.py``); its configs ship in ``resources/stable_diffusion``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from studio.core.capabilities import ModelError
from studio.core.model_files import read_json_object

FAMILIES = ("sd1", "sd2", "sdxl")
FAMILY_TITLES = {"sd1": "Stable Diffusion 1.x", "sd2": "Stable Diffusion 2.x", "sdxl": "SDXL"}

#: a safetensors header above this is refused rather than read (real ones are a few MB at most)
MAX_HEADER_BYTES = 100 * 2**20
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
TOKENIZER_FILES = ("vocab.json", "merges.txt")
#: what a fast tokenizer saves instead (transformers 5 writes only this)
FAST_TOKENIZER_FILE = "tokenizer.json"

# diffusers' CHECKPOINT_KEY_NAMES for the families accepted here
_V2_KEY = "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight"
_XL_BASE_KEY = "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias"
_XL_REFINER_KEY = "conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias"
_INPAINT_KEY = "model.diffusion_model.input_blocks.0.0.weight"

#: the key prefixes of each part in a single file, by family (original Stability/CompVis names)
_FILE_PARTS = {
    "sd1": {"unet": "model.diffusion_model.", "vae": "first_stage_model.",
            "text_encoder": "cond_stage_model.transformer."},
    "sd2": {"unet": "model.diffusion_model.", "vae": "first_stage_model.",
            "text_encoder": "cond_stage_model.model."},
    "sdxl": {"unet": "model.diffusion_model.", "vae": "first_stage_model.",
             "text_encoder": "conditioner.embedders.0.transformer.",
             "text_encoder_2": "conditioner.embedders.1.model."},
}

PART_TITLES = {
    "unet": "the denoising network",
    "vae": "the autoencoder between latents and pixels",
    "text_encoder": "the CLIP text encoder",
    "text_encoder_2": "the second text encoder (OpenCLIP)",
    "tokenizer": "the CLIP tokenizer",
    "tokenizer_2": "the second CLIP tokenizer",
    "scheduler": "the noise schedule",
}

#: parts a pipeline can do without: a folder that lists them but lacks them is still accepted
OPTIONAL_PARTS = ("safety_checker", "feature_extractor", "image_encoder")

_CONVERT = (
    "A pickle can run any code when it is loaded, so the studio does not open one. Convert it to "
    ".safetensors in an environment you trust: for example with diffusers' script "
    "scripts/convert_original_stable_diffusion_to_diffusers.py (with --to_safetensors), or by loading "
    "it there and saving its state dict with safetensors.torch.save_file."
)


@dataclass(frozen=True)
class SourceInfo:
    """What :func:`inspect_source` found: enough to load the model without looking again.

    ``family`` is None for a diffusers folder of another kind of pipeline; ``tokenizer`` is the
    folder holding the CLIP tokenizer's files (None for a folder whose pipeline has no tokenizer).
    """

    path: Path
    kind: str  # "folder" | "single_file"
    family: str | None
    parts: tuple[str, ...]
    tokenizer: Path | None


def config_folder(family: str) -> Path:
    """The shipped diffusers-layout configs (no weights) a single file of ``family`` loads with."""
    if family not in FAMILIES:
        raise ValueError(f"unknown Stable Diffusion family {family!r}; expected one of {FAMILIES}")
    return Path(str(resources.files("studio_resources") / "stable_diffusion" / family))


def inspect_source(path: str | Path, tokenizer_from: str | Path | None = None) -> SourceInfo:
    """Check the model at ``path`` and say what it is, or raise :class:`ModelError` saying what is wrong.

    ``tokenizer_from`` (a diffusers folder or a tokenizer folder) is where a single file's CLIP
    tokenizer comes from; without it, a ``tokenizer/`` folder next to the file is used.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(f"{path} does not exist.")
    if path.is_dir():
        return _inspect_folder(path)
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise ModelError(f"{path.name} is a pickle checkpoint ({suffix}). {_CONVERT}")
    if suffix != ".safetensors":
        raise ModelError(
            f"{path.name} is not a model the studio can open: choose a diffusers folder (with "
            "model_index.json) or a single .safetensors checkpoint."
        )
    family, parts = _single_file_family(path, read_safetensors_header(path))
    return SourceInfo(path, "single_file", family, parts, _single_file_tokenizer(path, tokenizer_from))


def read_safetensors_header(path: Path) -> dict:
    """The tensor entries of a safetensors file's header (name -> dtype, shape, offsets), checked
    against the file's size; raises :class:`ModelError` for a file that is not really one."""
    size = path.stat().st_size
    with path.open("rb") as f:
        start = f.read(8)
        if len(start) < 8:
            raise ModelError(f"{path.name} is not a safetensors file: it is only {size} bytes long.")
        (length,) = struct.unpack("<Q", start)
        # a zip (PyTorch's format) or a bare pickle read as a length is far beyond any real header
        if length > min(MAX_HEADER_BYTES, size - 8) and (start[:2] == b"PK" or start[:1] == b"\x80"):
            raise ModelError(f"{path.name} is a pickle checkpoint renamed to .safetensors. {_CONVERT}")
        if length > MAX_HEADER_BYTES:
            raise ModelError(
                f"{path.name} is not a valid safetensors file: its header claims {length} bytes "
                f"(more than {MAX_HEADER_BYTES // 2**20} MB)."
            )
        if length > size - 8:
            raise ModelError(f"{path.name} is cut short (truncated): download or copy it again.")
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ModelError(f"{path.name} is not a valid safetensors file: its header is not JSON.") from None
    if not isinstance(header, dict):
        raise ModelError(f"{path.name} is not a valid safetensors file: its header is not a table of tensors.")
    header.pop("__metadata__", None)
    try:
        end = max((int(entry["data_offsets"][1]) for entry in header.values()), default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        raise ModelError(f"{path.name} is not a valid safetensors file: its header is malformed.") from None
    if end > size - 8 - length:
        raise ModelError(f"{path.name} is cut short (truncated): download or copy it again.")
    return header


def _single_file_family(path: Path, header: dict) -> tuple[str, tuple[str, ...]]:
    """The family and the parts of a single checkpoint, following diffusers' key checks."""
    keys = header.keys()
    if not any(key.startswith("model.diffusion_model.") for key in keys):
        raise ModelError(f"{path.name} {_what_it_looks_like(keys)} {_EXPECTED}")
    inpaint = header.get(_INPAINT_KEY)
    if inpaint is not None and len(inpaint["shape"]) > 1 and inpaint["shape"][1] == 9:
        raise ModelError(
            f"{path.name} is an inpainting checkpoint (its denoising network takes 9 channels); "
            "single-file inpainting models are not supported yet. Use the regular model of its "
            "family (inpainting works with it) or a diffusers folder."
        )
    v2 = header.get(_V2_KEY)
    if v2 is not None and v2["shape"] and v2["shape"][-1] == 1024:
        family = "sd2"
    elif _XL_BASE_KEY in header:
        family = "sdxl"
    elif _XL_REFINER_KEY in header:
        raise ModelError(
            f"{path.name} is an SDXL refiner, which only refines a base model's images; "
            "choose an SDXL base checkpoint."
        )
    elif any(key.startswith("cond_stage_model.transformer.") for key in keys):
        family = "sd1"
    else:
        raise ModelError(
            f"{path.name} has a denoising network but no text encoder of SD 1.x, 2.x or SDXL. {_EXPECTED}"
        )
    parts = _FILE_PARTS[family]
    missing = [name for name, prefix in parts.items() if not any(key.startswith(prefix) for key in keys)]
    if missing:
        listed = ", ".join(f"{name} ({PART_TITLES[name]})" for name in missing)
        raise ModelError(
            f"{path.name} looks like a {FAMILY_TITLES[family]} checkpoint but has no {listed}; "
            "a single-file checkpoint must hold every part (its keys start with "
            + ", ".join(parts[name] for name in missing) + ")."
        )
    return family, tuple(parts)


_EXPECTED = (
    "Expected a full Stable Diffusion 1.x, 2.x or SDXL checkpoint (denoising network, autoencoder "
    "and text encoder in one .safetensors file) or a diffusers folder."
)


def _what_it_looks_like(keys) -> str:
    """A phrase naming what a safetensors file that is not a checkpoint seems to be."""
    keys = list(keys)
    if any(mark in key for key in keys for mark in ("lora_up", "lora_down", "lora_A", "lora_B")):
        return "is a LoRA (weights that modify a model), not a model; add it as a LoRA to a checkpoint."
    if {"emb_params", "string_to_param", "clip_l", "clip_g"} & set(keys) or 0 < len(keys) <= 2:
        return "is an embedding (textual inversion), not a model; use it in a prompt with a checkpoint."
    prefixes = {key.split(".", 1)[0] for key in keys}
    if prefixes <= {"encoder", "decoder", "quant_conv", "post_quant_conv"} or prefixes == {"first_stage_model"}:
        return "is a VAE alone (only the autoencoder), not a full model."
    if "conv_in" in prefixes and "down_blocks" in prefixes:
        return "is a diffusers UNet alone (one part of a diffusers folder), not a full model."
    shown = ", ".join(sorted(keys)[:3]) or "none"
    return f"does not look like a Stable Diffusion checkpoint (its first tensors: {shown})."


def _single_file_tokenizer(path: Path, tokenizer_from: str | Path | None) -> Path:
    """The folder with the CLIP tokenizer's vocab.json and merges.txt for a single checkpoint."""
    if tokenizer_from is not None:
        base = Path(tokenizer_from).expanduser()
        candidates = [base, base / "tokenizer"]
    else:
        candidates = [path.parent / "tokenizer"]
    for folder in candidates:
        if _has_tokenizer(folder):
            return folder
    looked = "; ".join(
        f"{folder} lacks " + " and ".join(name for name in TOKENIZER_FILES if not (folder / name).is_file())
        for folder in candidates
    )
    raise ModelError(
        f"{path.name} needs the CLIP tokenizer's files (vocab.json and merges.txt), which a single "
        f"checkpoint does not contain: {looked}. Put a tokenizer/ folder next to the file, or choose a "
        "diffusers folder or tokenizer folder to take it from."
    )


def _has_tokenizer(folder: Path) -> bool:
    return (folder / FAST_TOKENIZER_FILE).is_file() or all((folder / name).is_file() for name in TOKENIZER_FILES)


def _inspect_folder(folder: Path) -> SourceInfo:
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise ModelError(
            f"{folder} is not a diffusers model folder: it has no model_index.json. Choose the folder "
            "that holds model_index.json, or a single .safetensors checkpoint."
        )
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ModelError(f"{index_path} is not valid JSON.") from None
    if not isinstance(index, dict) or not isinstance(index.get("_class_name"), str):
        raise ModelError(f"{index_path} does not say which pipeline it is (no _class_name).")
    parts = tuple(
        name for name, value in index.items()
        if not name.startswith("_") and isinstance(value, list) and len(value) == 2 and None not in value
    )
    for name in parts:
        if name not in OPTIONAL_PARTS:
            _check_part(folder, name)
    unet_config = read_json_object(folder / "unet" / "config.json") if "unet" in parts else {}
    return SourceInfo(
        folder, "folder", _folder_family(index["_class_name"], unet_config),
        parts, folder / "tokenizer" if "tokenizer" in parts else None,
    )


def _check_part(folder: Path, name: str) -> None:
    """Raise :class:`ModelError` naming the part when its subfolder, config or weights are missing."""
    title = f"{name}/ ({PART_TITLES[name]})" if name in PART_TITLES else f"{name}/"
    sub = folder / name
    if not sub.is_dir():
        raise ModelError(f"The folder {folder} has no {title}, which its model_index.json lists.")
    if name.startswith("tokenizer"):
        missing = [file for file in TOKENIZER_FILES if not (sub / file).is_file()]
        if not _has_tokenizer(sub):
            raise ModelError(f"{sub} ({PART_TITLES.get(name, name)}) has no {' or '.join(missing)}.")
        return
    config = "scheduler_config.json" if name.startswith("scheduler") else "config.json"
    if not (sub / config).is_file():
        raise ModelError(f"{sub} ({PART_TITLES.get(name, name)}) has no {config}.")
    read_json_object(sub / config)
    if name.startswith("scheduler"):
        return
    if not any(sub.glob("*.safetensors")):
        pickles = sorted(p.name for p in sub.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        if pickles:
            raise ModelError(f"{sub} holds its weights only as a pickle ({pickles[0]}). {_CONVERT}")
        raise ModelError(f"{sub} ({PART_TITLES.get(name, name)}) has no weights (no .safetensors file).")


def _folder_family(class_name: str, unet_config: dict) -> str | None:
    """SDXL by its pipeline's name; SD 1.x or 2.x by the width of the text the UNet attends to."""
    if "XL" in class_name:
        return "sdxl"
    return {768: "sd1", 1024: "sd2"}.get(unet_config.get("cross_attention_dim"))

"""Load a CLIP model the artist keeps on disk, through transformers, never from a hub.

The folder is checked before transformers is imported (that takes tens of seconds), so what is
missing or unsafe is named at once, and a pickle (``pytorch_model.bin``) is refused before anything
could unpickle it. What transformers still refuses (weights that do not fit their config) comes back
as a :class:`ModelError` naming the folder. Offline, a tokenizer whose files are empty or damaged can
load nearly empty and quietly turn every prompt into unknown tokens, so it is tried on a few words
before the model is used. Loading is blocking: the studio calls it on the inference thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from studio.core.capabilities import ModelError
from studio.core.model_files import read_json_object

from .config import ClipConfig
from .model import ClipScorer

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
#: either a fast tokenizer's file, or CLIP's vocabulary and merges
TOKENIZER_FILES = (("tokenizer.json",), ("vocab.json", "merges.txt"))
#: the image processor's settings: size, crop, mean and standard deviation
PROCESSOR_FILE = "preprocessor_config.json"
_PROBE = "a photo of a cat"
_NEEDS = ("a CLIP model folder needs config.json, model.safetensors, the tokenizer's files (vocab.json and "
          "merges.txt, or tokenizer.json) and preprocessor_config.json")
_CONVERT = ("A pickle can run any code when it is loaded, so the studio does not open one. Convert it to "
            "model.safetensors in an environment you trust: for example load it there with transformers' "
            "CLIPModel.from_pretrained and save it again with save_pretrained, which writes safetensors.")
#: the model types of CLIP's parts alone, and what each is
_PARTS = {"clip_text_model": "only CLIP's text encoder (a Stable Diffusion model's text_encoder/ is one)",
          "clip_vision_model": "only CLIP's image encoder"}


def from_config(config: ClipConfig) -> ClipScorer:
    """The spec's factory: the model in ``config.folder``, on the CPU."""
    if not config.folder:
        raise ModelError("Choose the CLIP model folder to load (the folder setting is empty).")
    return load_clip(config.folder, "cpu")


def load_clip(path: str, device: str) -> ClipScorer:
    """The CLIP model in the folder ``path``, with its tokenizer and image processor, on ``device``."""
    folder = Path(path).expanduser()
    check_folder(folder)
    import torch
    from transformers import CLIPModel

    try:
        with _quiet_transformers():  # its loading report would only repeat the problems listed below
            model, info = CLIPModel.from_pretrained(
                folder, local_files_only=True, use_safetensors=True, output_loading_info=True,
                ignore_mismatched_sizes=True)  # mismatches come back in ``info``, to be listed
    except torch.OutOfMemoryError:
        raise
    except Exception as exc:  # transformers reports damaged files and weights that do not fit in many ways
        raise ModelError(f"The weights in {folder} could not be loaded as a CLIP model: {exc}") from exc
    _check_weights(folder, info)
    tokenizer = _tokenizer(folder)
    _check_tokenizer(folder, tokenizer, int(model.config.text_config.vocab_size))
    return ClipScorer(model.to(device).eval(), tokenizer, _image_processor(folder))


def check_folder(folder: Path) -> None:
    """Raise :class:`ModelError` saying what is missing or unsafe in a CLIP model folder; reads only
    file names and ``config.json``."""
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a folder; choose a CLIP model folder ({_NEEDS}).")
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder} has no config.json; {_NEEDS}.")
    _check_model_type(folder, read_json_object(folder / "config.json"))
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        pickles = [name for name in PICKLE_FILES if (folder / name).is_file()]
        if pickles:
            raise ModelError(f"{folder} holds its weights only as a pickle ({pickles[0]}). {_CONVERT}")
        raise ModelError(f"{folder} has no weights: model.safetensors is missing.")
    if not any(all((folder / name).is_file() for name in names) for names in TOKENIZER_FILES):
        raise ModelError(f"{folder} has no CLIP tokenizer: it needs vocab.json and merges.txt, or tokenizer.json.")
    if not (folder / PROCESSOR_FILE).is_file():
        raise ModelError(f"{folder} has no {PROCESSOR_FILE}, which says how CLIP sees an image (its size, crop, "
                         "mean and standard deviation).")


def _check_model_type(folder: Path, config: dict) -> None:
    model_type = config.get("model_type")
    if model_type in _PARTS:
        raise ModelError(f"{folder} holds {_PARTS[model_type]}, not a whole CLIP model: a CLIP score compares "
                         "the embeddings of both encoders. Choose a CLIP model folder (its config.json says "
                         "\"model_type\": \"clip\").")
    if model_type != "clip":
        what = f"a {model_type!r} model" if isinstance(model_type, str) else "a model of no known type"
        raise ModelError(f"{folder} holds {what}, not a CLIP model (its config.json would say "
                         "\"model_type\": \"clip\").")


def _check_weights(folder: Path, info: dict[str, Any]) -> None:
    mismatched = [f"{key} is {tuple(saved)} in the file but {tuple(wanted)} by the config"
                  for key, saved, wanted in info.get("mismatched_keys") or ()]
    problems = [f"{what}: {_some(keys)}" for what, keys in (
        ("of the wrong shape", mismatched),
        ("missing from the weights", info.get("missing_keys")),
        ("in the weights but not in the model", info.get("unexpected_keys")),
    ) if keys]
    if problems:
        raise ModelError(f"The weights in {folder} do not fit its config.json; tensors {'; '.join(problems)}.")


def _some(items: Any, shown: int = 3) -> str:
    items = sorted(map(str, items))
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _tokenizer(folder: Path) -> Any:
    from transformers import CLIPTokenizer, CLIPTokenizerFast

    tokenizer_class = CLIPTokenizerFast if (folder / "tokenizer.json").is_file() else CLIPTokenizer
    try:
        return tokenizer_class.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise ModelError(f"The CLIP tokenizer in {folder} cannot be read: {exc}") from exc


def _check_tokenizer(folder: Path, tokenizer: Any, vocabulary: int) -> None:
    """Refuse a tokenizer that knows no words (every prompt would score alike) or more tokens than the
    text encoder has embeddings for (it belongs to another model)."""
    size = len(tokenizer)
    ids = tokenizer(_PROBE, add_special_tokens=False).input_ids
    if size < 3 or not ids or any(i == tokenizer.unk_token_id for i in ids):
        raise ModelError(f"The CLIP tokenizer in {folder} loaded with {size} token(s) and cannot read "
                         f"{_PROBE!r}: its vocab.json and merges.txt (or tokenizer.json) are empty or damaged.")
    if size > vocabulary:
        raise ModelError(f"The CLIP tokenizer in {folder} has {size} tokens but the text encoder only {vocabulary}; "
                         "they do not belong together.")


def image_processor_class() -> type:
    """CLIP's image processor that works with PIL and numpy alone (the studio has no torchvision)."""
    try:  # transformers 5: CLIPImageProcessor needs torchvision; its PIL twin does not
        from transformers import CLIPImageProcessorPil
    except ImportError:  # transformers 4: CLIPImageProcessor is the PIL one
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor
    return CLIPImageProcessorPil


def _image_processor(folder: Path) -> Any:
    try:
        return image_processor_class().from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise ModelError(f"{folder / PROCESSOR_FILE} cannot be used: {exc}") from exc


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    previous, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # a bar per load is for the console, not the artist
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()

"""Load a Stable Diffusion model the artist keeps on disk, through diffusers, never from a hub.

:func:`.source.inspect_source` checks the folder or file first, so what is missing or unsafe is
named before diffusers sees it; what diffusers still refuses (weights that do not fit their
configs, say) comes back as a :class:`ModelError` naming the model. Loading is blocking: the studio
calls it on the inference thread.
"""

from __future__ import annotations

import json
from pathlib import Path

from studio.core.capabilities import ModelError

from .config import StableDiffusionConfig
from .model import StableDiffusionModel
from .source import config_folder, inspect_source

#: the diffusers pipelines whose folders the studio opens, and the family each stands for when the
#: UNet's width does not say (a model of its own size, as the tests build)
PIPELINE_CLASSES = {
    "StableDiffusionPipeline": "sd1", "StableDiffusionImg2ImgPipeline": "sd1",
    "StableDiffusionInpaintPipeline": "sd1",
    "StableDiffusionXLPipeline": "sdxl", "StableDiffusionXLImg2ImgPipeline": "sdxl",
}


def from_config(config: StableDiffusionConfig) -> StableDiffusionModel:
    """The spec's factory: the model at ``config.path``, on the CPU."""
    if not config.path:
        raise ModelError("Choose the Stable Diffusion model to load (a diffusers folder or a .safetensors file).")
    return load_stable_diffusion(config.path, "cpu")


def load_stable_diffusion(path: str, device: str) -> StableDiffusionModel:
    """The model at ``path`` (a diffusers folder, or a single .safetensors checkpoint with a CLIP
    tokenizer folder beside it), ready on ``device``: half precision on CUDA, full elsewhere."""
    info = inspect_source(path)
    family = info.family
    if info.kind == "folder":
        class_name = json.loads((info.path / "model_index.json").read_text(encoding="utf-8"))["_class_name"]
        if class_name not in PIPELINE_CLASSES:
            raise ModelError(f"{info.path} holds a {class_name}, not a Stable Diffusion text-to-image model.")
        family = family or PIPELINE_CLASSES[class_name]
    import torch
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()  # its notes and progress bars are for the console, not the artist
    diffusers_logging.disable_progress_bar()

    pipeline_class = StableDiffusionXLPipeline if family == "sdxl" else StableDiffusionPipeline
    dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
    # no safety checker, so no feature extractor for it (the shipped SD 1.5 config names
    # CLIPFeatureExtractor, which transformers 5 no longer has)
    extra = {} if family == "sdxl" else {"safety_checker": None, "feature_extractor": None,
                                         "requires_safety_checker": False}
    try:
        if info.kind == "folder":
            pipe = pipeline_class.from_pretrained(info.path, local_files_only=True, use_safetensors=True,
                                                  torch_dtype=dtype, **extra)
        else:
            if family == "sdxl":
                extra["tokenizer_2"] = _second_tokenizer(info.tokenizer)
            pipe = pipeline_class.from_single_file(str(info.path), config=str(config_folder(family)),
                                                   tokenizer=_tokenizer(info.tokenizer), local_files_only=True,
                                                   torch_dtype=dtype, **extra)
    except (ModelError, torch.OutOfMemoryError):
        raise
    except Exception as exc:  # diffusers reports weights that do not fit, damaged files, ... in many ways
        raise ModelError(f"{info.path.name} could not be loaded as a Stable Diffusion model: {exc}") from exc
    _check_tokenizer(pipe.tokenizer, info.tokenizer or info.path)
    pipe.set_progress_bar_config(disable=True)
    return StableDiffusionModel(pipe.to(device), family, Path(info.path), device)


def _tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    try:
        return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise ModelError(f"The CLIP tokenizer in {folder} cannot be read: {exc}") from exc


def _second_tokenizer(folder: Path):
    """SDXL's second (OpenCLIP) tokenizer: a diffusers SDXL folder's ``tokenizer_2`` beside the
    tokenizer given, else the same vocabulary padded with "!" as SDXL's is (the shipped configs hold
    no vocabulary, and offline diffusers would load an empty one)."""
    beside = Path(folder).parent / "tokenizer_2"
    if beside.is_dir():
        return _tokenizer(beside)
    from transformers import CLIPTokenizer

    try:
        return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True, pad_token="!")
    except Exception as exc:
        raise ModelError(f"The CLIP tokenizer in {folder} cannot be read: {exc}") from exc


def _check_tokenizer(tokenizer, where: Path) -> None:
    """Offline, a tokenizer whose files are absent can load nearly empty and silently turn every
    prompt into unknown tokens: refuse it rather than make images that ignore the prompt."""
    if tokenizer is None or len(tokenizer) < 3 or not tokenizer("a photo of a cat").input_ids:
        raise ModelError(f"The CLIP tokenizer loaded from {where} is empty: its vocab.json and merges.txt "
                         "are missing or damaged.")
    ids = tokenizer("a photo of a cat", add_special_tokens=False).input_ids
    if ids and all(i == tokenizer.unk_token_id for i in ids):
        raise ModelError(f"The CLIP tokenizer loaded from {where} knows no words: its vocab.json is empty or "
                         "damaged.")

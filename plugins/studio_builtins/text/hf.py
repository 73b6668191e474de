"""Hugging Face causal language models from a local folder, streamed like the studio's own.

The folder is checked before transformers sees it, so a missing or unsafe file
gets a plain message rather than a stack trace: weights must be safetensors
(a ``.bin`` file is a pickle, which the studio never loads). The model runs one
token at a time with its own ``past_key_values``, so streaming, cancelling and
attention work exactly as for the built-in GPT.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from studio.core.capabilities import ModelError

from .config import HFCausalLMConfig
from .sampling import PieceDecoder, TokenStreamer, Window, evaluating

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
#: Either a fast tokenizer file, or GPT-2's vocabulary and merges.
TOKENIZER_FILES = (("tokenizer.json",), ("vocab.json", "merges.txt"))
_PROBE = "Hello, world! The quick brown fox.\n"


def from_config(config: HFCausalLMConfig) -> HFCausalLM:
    """The spec's factory: the model in ``config.folder``, on the CPU."""
    if not config.folder:
        raise ModelError("Choose the Hugging Face model folder to load (the folder setting is empty).")
    return load_hf_folder(config.folder, "cpu")


def load_hf_folder(path: str, device: str) -> HFCausalLM:
    """The causal LM in ``path`` (config.json, safetensors weights, tokenizer files), on ``device``."""
    folder = Path(path).expanduser()
    _check_files(folder)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    except Exception as exc:
        raise ModelError(f"{folder / 'config.json'} cannot be used: {exc}") from exc
    _check_causal(folder, config)
    try:
        with _quiet_transformers():  # its loading report would only repeat the problems listed below
            model, info = AutoModelForCausalLM.from_pretrained(
                folder, config=config, local_files_only=True, use_safetensors=True, output_loading_info=True,
                ignore_mismatched_sizes=True)  # mismatches come back in ``info``, to be listed
    except Exception as exc:
        raise ModelError(f"The weights in {folder} do not fit its config.json: {exc}") from exc
    mismatched = [f"{key} is {tuple(saved)} in the file but {tuple(wanted)} by the config"
                  for key, saved, wanted in info.get("mismatched_keys") or ()]
    problems = [f"{what}: {_some(keys)}" for what, keys in (
        ("of the wrong shape", mismatched),
        ("missing from the weights", info.get("missing_keys")),
        ("in the weights but not in the model", info.get("unexpected_keys")),
    ) if keys]
    if problems:
        raise ModelError(f"The weights in {folder} do not fit its config.json; tensors {'; '.join(problems)}.")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as exc:
        raise ModelError(f"The tokenizer files in {folder} cannot be used: {exc}") from exc
    _check_tokenizer(folder, tokenizer, model)
    return HFCausalLM(model.to(device).eval(), tokenizer)


class HFCausalLM(TokenStreamer):
    """Offers ``SequenceGenerator`` over a transformers causal LM and its tokenizer.
    The stream ends early when the model produces its end-of-text token."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        config = model.config
        self.context_length = int(getattr(config, "n_positions", None)
                                  or getattr(config, "max_position_embeddings", None) or 1024)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, tokens: Sequence[int]) -> str:
        return self.tokenizer.decode(list(tokens), skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def start_id(self) -> int:
        for token in (self.tokenizer.bos_token_id, self.tokenizer.eos_token_id):
            if token is not None:
                return token
        return self.encode("\n")[0]

    def stop_token(self) -> Optional[int]:
        return self.tokenizer.eos_token_id

    def piece_decoder(self) -> PieceDecoder:
        return _IncrementalDecoder(self.decode).feed

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        """The wrapped model's parameters: what the inference cache counts against its memory budget."""
        return self.model.parameters()

    def session(self, use_cache: bool, with_attention: bool) -> HFSession:
        return HFSession(self, use_cache, with_attention)


class HFSession:
    """One generation: the window of tokens and, with ``use_cache``, the model's ``past_key_values``."""

    def __init__(self, lm: HFCausalLM, use_cache: bool, with_attention: bool) -> None:
        self.model = lm.model
        self.use_cache = use_cache
        self.with_attention = with_attention
        self.window = Window(lm.context_length)
        self.past: Any = None

    def feed(self, tokens: list[int]) -> tuple[torch.Tensor, Optional[np.ndarray]]:
        moved = self.window.add(tokens)
        if self.use_cache and self.past is not None and not moved:
            new = tokens
        else:  # first call, window moved (positions start again at 0), or no cache
            new, self.past = self.window.tokens, None
        idx = torch.tensor([new], dtype=torch.long, device=self.model.device)
        with evaluating(self.model), _eager_attention(self.model, self.with_attention):
            out = self.model(input_ids=idx, past_key_values=self.past, use_cache=self.use_cache,
                             output_attentions=self.with_attention)
        if self.use_cache:
            self.past = out.past_key_values
        attention = None
        if self.with_attention:
            attention = torch.stack([a[0, :, -1, :] for a in out.attentions]).float().cpu().numpy()
        return out.logits[0, -1], attention


class _IncrementalDecoder:
    """Text pieces of a token stream for any tokenizer: decode a short run of recent
    tokens and emit what it adds, holding back while it ends in a partial character."""

    def __init__(self, decode: Callable[[Sequence[int]], str]) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self._prefix = self._read = 0

    def feed(self, token: Optional[int], final: bool = False) -> str:
        """The text ``token`` adds; ``token`` None (with ``final``) flushes what is held back."""
        if token is not None:
            self._ids.append(token)
        before = self._decode(self._ids[self._prefix:self._read])
        after = self._decode(self._ids[self._prefix:])
        if not final and (len(after) <= len(before) or after.endswith("\ufffd")):
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        return after[len(before):]


def _some(items: Any, shown: int = 3) -> str:
    items = sorted(map(str, items))
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)


@contextmanager
def _eager_attention(model: Any, needed: bool) -> Iterator[None]:
    """Fused attention kernels return no weights; switch to the explicit one while they are wanted."""
    previous = model.config._attn_implementation
    if not needed or previous == "eager":
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(previous)


def _check_files(folder: Path) -> None:
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a folder; choose a Hugging Face model folder.")
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder} has no config.json; a Hugging Face model folder needs config.json, "
                         "model.safetensors and tokenizer files.")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        pickles = [name for name in PICKLE_FILES if (folder / name).is_file()]
        if pickles:
            raise ModelError(f"{folder} has its weights only as {pickles[0]}, a pickle file that could run code "
                             "when loaded; the studio loads safetensors only. Convert it to model.safetensors.")
        raise ModelError(f"{folder} has no weights: model.safetensors is missing.")
    if not any(all((folder / name).is_file() for name in names) for names in TOKENIZER_FILES):
        raise ModelError(f"{folder} has no tokenizer: it needs tokenizer.json, or vocab.json and merges.txt.")


def _check_causal(folder: Path, config: Any) -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES as CAUSAL

    if config.model_type not in CAUSAL:
        raise ModelError(f"The model in {folder} is a {config.model_type!r} model, which does not generate text "
                         "(it is not a causal language model).")
    architectures = list(getattr(config, "architectures", None) or [])
    if architectures and not set(architectures) & set(CAUSAL.values()):
        raise ModelError(f"The model in {folder} is a {architectures[0]}, not a causal language model "
                         f"({CAUSAL[config.model_type]}); it does not generate text.")


def _check_tokenizer(folder: Path, tokenizer: Any, model: Any) -> None:
    """The tokenizer must write ordinary English back unchanged and be about as large as the
    model's vocabulary: a damaged or mismatched one loads without complaint and garbles text."""
    size = len(tokenizer)
    ids = tokenizer.encode(_PROBE, add_special_tokens=False)
    if size < 2 or not ids or all(i == tokenizer.unk_token_id for i in ids):
        raise ModelError(f"The tokenizer in {folder} loaded with {size} token(s) and cannot encode text; "
                         "its tokenizer files are empty or damaged.")
    decoded = tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    if decoded not in (_PROBE, " " + _PROBE):  # a SentencePiece tokenizer may add a leading space
        raise ModelError(f"The tokenizer in {folder} ({size} tokens) does not give text back unchanged: "
                         f"{_PROBE.strip()!r} came back as {decoded.strip()!r}. Its tokenizer files are "
                         "damaged or belong to another model.")
    vocabulary = model.get_input_embeddings().weight.shape[0]
    expected = int(getattr(model.config, "vocab_size", None) or vocabulary)
    if size > vocabulary:
        raise ModelError(f"The tokenizer in {folder} has {size} tokens but the model only {vocabulary}; "
                         "they do not belong together.")
    if size < expected / 2:
        raise ModelError(f"The tokenizer in {folder} has only {size} tokens but the model was made for "
                         f"{expected}; they do not belong together (the tokenizer files may be damaged or "
                         "from another model).")

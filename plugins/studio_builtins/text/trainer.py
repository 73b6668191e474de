"""Training the text models on a corpus: next-token prediction over windows of the text.

The trainer learns the tokenizer from the training text first (unless the
config already carries one, as when a run resumes) and stores it in the config,
so the checkpoint rebuilds the same model. An example is a window of
``block_size + 1`` tokens starting at a given offset of the token stream: the
model reads the first ``block_size`` and predicts the last ``block_size``.
Every offset is an example, so an epoch's shuffled order visits windows at
every phase of the text, as nanoGPT's random offsets do, yet stays resumable.

The learning rate warms up linearly and then follows a cosine down to
``min_learning_rate`` at the run's last step (nanoGPT's schedule).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from studio.core.capabilities import ModelError, TrainProgress
from studio.core.training import TorchTrainer, decay_groups, warmup_cosine

from .gpt import GPT
from .lstm import LSTMModel
from .tokenizer import check_kind, learn_tokenizer, tokenizer_from_json

#: characters encoded at a time when the training text is turned into token ids
ENCODE_CHUNK = 1 << 20


class TextTrainer(TorchTrainer):
    """Subclasses name the model class; everything else is shared."""

    model_class: type

    def __init__(self, config: Any, data: Any, device: str = "cpu", seed: int = 0) -> None:
        if not data.train:
            raise ModelError("The training text is empty.")
        if config.batch_size < 1:
            raise ModelError(f"batch_size must be at least 1, not {config.batch_size}.")
        if config.tokenizer_json:  # resuming: keep the token ids the weights were trained on
            self.tokenizer = tokenizer_from_json(config.tokenizer_json)
        else:
            check_kind(config.tokenizer)
            # every character gets a token (the vocabulary is not a leak); BPE merges come from training text only
            source = data.train + data.validation if config.tokenizer == "char" else data.train
            self.tokenizer = learn_tokenizer(config.tokenizer, source, config.bpe_vocab_size)
            config = dataclasses.replace(config, tokenizer_json=self.tokenizer.to_json())
        self.train_ids = torch.from_numpy(encode_array(self.tokenizer, data.train))
        self.validation_ids = torch.from_numpy(encode_array(self.tokenizer, data.validation))
        window = config.block_size + 1
        if len(self.train_ids) < window:
            raise ModelError(f"The training text is {len(self.train_ids)} tokens long, shorter than one training "
                             f"window (block_size + 1 = {window} tokens). Use more text or a smaller block_size.")
        if len(self.validation_ids) < 2:
            raise ModelError(f"The validation text is {len(self.validation_ids)} token(s) long; at least 2 are "
                             "needed to measure the loss. Use more text.")
        self.batch_size = config.batch_size
        self.learning_rate = config.learning_rate
        self._offsets = torch.arange(window)
        self._step, self._total = 0, 1
        super().__init__(config, data, device=device, seed=seed)

    # -- TorchTrainer ----------------------------------------------------------------
    def build_model(self) -> torch.nn.Module:
        return self.model_class(self.config)

    def build_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(decay_groups(self.model, self.config.weight_decay), lr=self.learning_rate,
                                 betas=(0.9, self.config.beta2))

    def train_examples(self) -> int:
        return len(self.train_ids) - self.config.block_size

    def make_batch(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        windows = self.train_ids[torch.from_numpy(indices)[:, None] + self._offsets].long()
        return windows[:, :-1].to(self.device), windows[:, 1:].to(self.device)

    def steps(self, start: int, total: int) -> Iterator[TrainProgress]:
        self._step, self._total = start, total  # the learning-rate schedule spans the whole run
        yield from super().steps(start, total)

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> Mapping[str, float]:
        inputs, targets = batch
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate_at(self._step)
        self._step += 1
        logits = self.train_module(inputs)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return {"loss": loss.item()}

    def validation_losses(self) -> Mapping[str, float]:
        """Mean cross-entropy (nats per token) over the same evenly spaced validation windows every time."""
        ids = self.validation_ids
        length = min(self.config.block_size, len(ids) - 1)
        count = max(1, min(self.config.validation_windows, len(ids) - length))
        starts = np.unique(np.linspace(0, len(ids) - length - 1, num=count).round().astype(np.int64))
        offsets = torch.arange(length + 1)
        total, tokens = 0.0, 0
        for chunk in np.array_split(starts, math.ceil(len(starts) / self.batch_size)):
            windows = ids[torch.from_numpy(chunk)[:, None] + offsets].long().to(self.device)
            logits = self.model(windows[:, :-1])
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), windows[:, 1:].reshape(-1),
                                     reduction="sum").item()
            tokens += windows[:, 1:].numel()
        return {"loss": total / tokens}

    # -- schedule -------------------------------------------------------------------
    def learning_rate_at(self, step: int) -> float:
        c = self.config
        return warmup_cosine(step, self._total, c.learning_rate, c.min_learning_rate, c.warmup_steps)


def encode_array(tokenizer: Any, text: str, chunk: int = ENCODE_CHUNK) -> np.ndarray:
    """The token ids of ``text`` as int32, encoded a chunk at a time: a Python list of every token
    of a large corpus would take ~36 bytes a token. Chunks end after a line break where there is
    one, so byte-level BPE (which splits text into words and spaces before merging) gives the ids
    it gives in one go, but perhaps for a run of blank space right at a boundary."""
    parts, start = [], 0
    while start < len(text):
        end = min(len(text), start + chunk)
        if end < len(text):
            end = text.rfind("\n", start, end) + 1 or end
        parts.append(np.asarray(tokenizer.encode(text[start:end]), dtype=np.int32))
        start = end
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


class LSTMTrainer(TextTrainer):
    model_class = LSTMModel


class GPTTrainer(TextTrainer):
    model_class = GPT


"""Training the music models on scores: next-token prediction over windows of a token stream.

Every training score becomes tokens (the book model's (note, duration) pairs of its
top line, or the event model's performance events of all its voices merged), and
the pieces are joined into one stream, as the book joins its chorales. An example
is a window of ``context + 1`` tokens starting at any offset of that stream: the
model reads the first ``context`` and predicts the last ``context``. Validation
averages the loss over the same evenly spaced windows of the validation scores
every time. The learning rate warms up linearly, then follows a cosine down to
``min_learning_rate`` at the run's last step.

With ``transpose``, each training window is moved by a random number of semitones (up
to ``transpose`` either way, never out of the MIDI range), drawn from the seed and the
step, so a resumed run sees the batches it would have seen: the music in every key.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from studio.core.capabilities import ModelError, TrainProgress
from studio.core.music.score import Score, transposed
from studio.core.training import TorchTrainer, decay_groups, warmup_cosine

from .event_model import EventTransformer
from .events import NOTE_OFF, TIME_SHIFT, score_events
from .melody import (
    DURATION_GRID,
    REST,
    START,
    MelodyVocab,
    bar_positions,
    melody_tokens,
    note_name,
    pitch_of,
    timed_tokens,
)
from .melody_model import MelodyTransformer


class MusicTrainer(TorchTrainer):
    """What both trainers share; subclasses turn scores into a stream of token rows (``tokens``)."""

    def __init__(self, config: Any, data: Any, device: str = "cpu", seed: int = 0) -> None:
        train, validation = check_scores(data)
        if config.batch_size < 1:
            raise ModelError(f"batch_size must be at least 1, not {config.batch_size}.")
        config = self.learn(config, train)
        self.context = self.context_of(config)
        self.train_stream = self.stream(config, train)
        self.validation_stream = self.stream(config, validation)
        window = self.context + 1
        if len(self.train_stream) < window:
            raise ModelError(f"The training music is {len(self.train_stream)} tokens long, shorter than one training "
                             f"window ({window} tokens). Use more music or a shorter context.")
        if len(self.validation_stream) < 2:
            raise ModelError(f"The validation music is {len(self.validation_stream)} token(s) long; at least 2 are "
                             "needed to measure the loss. Use more music.")
        self.batch_size = config.batch_size
        self.learning_rate = config.learning_rate
        self._offsets = torch.arange(window)
        self._step, self._total = 0, 1
        super().__init__(config, data, device=device, seed=seed)

    # -- for subclasses -------------------------------------------------------------------
    def learn(self, config: Any, train: Sequence[Score]) -> Any:
        """The config with what it learns from the training scores filled in."""
        return config

    def context_of(self, config: Any) -> int:
        raise NotImplementedError

    def tokens(self, config: Any, score: Score) -> np.ndarray:
        """One score's tokens, (length, streams) int64."""
        raise NotImplementedError

    def losses(self, windows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean cross-entropies of windows (batch, context + 1, streams); "loss" is what is minimised."""
        raise NotImplementedError

    def augment(self, windows: torch.Tensor) -> torch.Tensor:
        """The training windows as the model sees them (moved to other keys, say)."""
        return windows

    def shifts(self, count: int) -> np.ndarray:
        """Semitones to move each of ``count`` windows of this step by, within ``transpose`` either way:
        drawn from the seed and the step, so a resumed run moves them as the first run did."""
        rng = np.random.default_rng((self.seed, self._step))
        return rng.integers(-self.config.transpose, self.config.transpose + 1, count)

    # -- TorchTrainer -----------------------------------------------------------------------
    def stream(self, config: Any, scores: Sequence[Score]) -> torch.Tensor:
        parts = [self.tokens(config, score) for score in scores]
        parts = [p for p in parts if len(p)]
        return torch.from_numpy(np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.int64))

    def build_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(decay_groups(self.model, self.config.weight_decay), lr=self.learning_rate,
                                 betas=(0.9, 0.99))

    def train_examples(self) -> int:
        return len(self.train_stream) - self.context

    def make_batch(self, indices: np.ndarray) -> torch.Tensor:
        windows = self.train_stream[torch.from_numpy(indices)[:, None] + self._offsets]
        return self.augment(windows).to(self.device)

    def steps(self, start: int, total: int) -> Iterator[TrainProgress]:
        self._step, self._total = start, total  # the learning-rate schedule spans the whole run
        yield from super().steps(start, total)

    def train_step(self, batch: torch.Tensor) -> Mapping[str, float]:
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate_at(self._step)
        self._step += 1
        losses = self.losses(batch)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return {name: value.item() for name, value in losses.items()}

    def validation_windows(self) -> tuple[np.ndarray, int]:
        """Where the validation windows start in the validation stream, and how many tokens each predicts
        (the tokens after its first): the same evenly spaced windows every time."""
        ids = self.validation_stream
        length = min(self.context, len(ids) - 1)
        count = max(1, min(self.config.validation_windows, len(ids) - length))
        return np.unique(np.linspace(0, len(ids) - length - 1, num=count).round().astype(np.int64)), length

    def validation_losses(self) -> Mapping[str, float]:
        """Mean cross-entropies (nats per token) over the same evenly spaced validation windows every time."""
        ids = self.validation_stream
        starts, length = self.validation_windows()
        offsets = torch.arange(length + 1)
        totals: dict[str, float] = {}
        for chunk in np.array_split(starts, math.ceil(len(starts) / self.batch_size)):
            windows = ids[torch.from_numpy(chunk)[:, None] + offsets].to(self.device)
            for name, value in self.losses(windows).items():
                totals[name] = totals.get(name, 0.0) + value.item() * len(chunk)
        return {name: total / len(starts) for name, total in totals.items()}

    def learning_rate_at(self, step: int) -> float:
        c = self.config
        return warmup_cosine(step, self._total, c.learning_rate, c.min_learning_rate, c.warmup_steps)


class MelodyTrainer(MusicTrainer):
    """The book's model: losses ``loss_notes`` and ``loss_durations``, and their sum ``loss``.

    With ``transpose``, the vocabulary covers the training notes moved by every amount it may
    move them, and each window's notes move together, rests and START staying as they are. With
    ``bar_position``, a third stream holds where in the bar each next note starts (from the scores'
    time signatures); ``bar_steps`` is learnt as the longest training bar in 1/24-beat steps. A run
    resumed from a config without bar positions (made before the option) stays the book's model."""

    def learn(self, config: Any, train: Sequence[Score]) -> Any:
        if config.vocab_json:  # resuming: keep the token ids (and the bar positions) the weights were trained on
            self.vocab = MelodyVocab.from_json(config.vocab_json)
            config = dataclasses.replace(config, bar_position=config.bar_steps > 0)
        else:
            pieces = [melody_tokens(transposed(score.notes, shift)) for score in train
                      for shift in range(-config.transpose, config.transpose + 1)]
            self.vocab = MelodyVocab.learn(pieces)
            longest = max(s.beats_per_bar for score in train for s in score.time_signatures)
            config = dataclasses.replace(config, vocab_json=self.vocab.to_json(),
                                         bar_steps=round(longest * DURATION_GRID) if config.bar_position else 0)
        #: row shift + transpose: each note id moved by shift semitones (to the nearest note the vocabulary has)
        self._moved = torch.tensor([[self._moved_id(name, shift) for name in self.vocab.notes]
                                    for shift in range(-config.transpose, config.transpose + 1)], dtype=torch.long)
        return config

    def _moved_id(self, name: str, shift: int) -> int:
        if name in (START, REST):
            return self.vocab.note_id(name)
        return self.vocab.note_id(note_name(min(127, max(0, pitch_of(name) + shift))))

    def context_of(self, config: Any) -> int:
        return config.seq_len

    def build_model(self) -> torch.nn.Module:
        return MelodyTransformer(self.config)

    def tokens(self, config: Any, score: Score) -> np.ndarray:
        """Rows of (note, duration) ids, and with ``bar_steps`` where in the bar the next note starts."""
        notes, durations, starts = self.vocab.encode_timed(timed_tokens(score.notes))
        streams = [notes, durations]
        if config.bar_steps > 0:
            streams.append(bar_positions(starts, score.length_beats, score.time_signatures, config.bar_steps))
        if len(notes) < 2:
            return np.zeros((0, len(streams)), np.int64)
        return np.stack(streams, axis=1).astype(np.int64)

    def losses(self, windows: torch.Tensor) -> dict[str, torch.Tensor]:
        bars = windows[:, :-1, 2] if windows.size(-1) > 2 else None
        note_logits, duration_logits = self.train_module(windows[:, :-1, 0], windows[:, :-1, 1], bars)
        notes = F.cross_entropy(note_logits.flatten(0, 1), windows[:, 1:, 0].flatten())
        durations = F.cross_entropy(duration_logits.flatten(0, 1), windows[:, 1:, 1].flatten())
        return {"loss": notes + durations, "loss_notes": notes, "loss_durations": durations}

    def augment(self, windows: torch.Tensor) -> torch.Tensor:
        if self.config.transpose < 1:
            return windows
        rows = torch.from_numpy(self.shifts(len(windows))) + self.config.transpose
        moved = windows.clone()
        moved[..., 0] = self._moved[rows[:, None], windows[..., 0]]
        return moved


class EventTrainer(MusicTrainer):
    """The polyphonic model: ``loss`` is the cross-entropy per event."""

    def context_of(self, config: Any) -> int:
        return config.block_size

    def build_model(self) -> torch.nn.Module:
        return EventTransformer(self.config)

    def tokens(self, config: Any, score: Score) -> np.ndarray:
        return np.asarray(score_events(score), dtype=np.int64).reshape(-1, 1)

    def losses(self, windows: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.train_module(windows[:, :-1, 0])
        return {"loss": F.cross_entropy(logits.flatten(0, 1), windows[:, 1:, 0].flatten())}

    def augment(self, windows: torch.Tensor) -> torch.Tensor:
        """Each window moved by its own number of semitones, as far as its pitches allow."""
        if self.config.transpose < 1:
            return windows
        tokens = windows[..., 0]
        is_note = tokens < TIME_SHIFT
        pitches = torch.where(is_note, tokens % NOTE_OFF, 0)
        lowest = torch.where(is_note, pitches, 127).amin(dim=1)
        highest = pitches.amax(dim=1)
        wanted = torch.from_numpy(self.shifts(len(tokens)))
        shift = torch.maximum(torch.minimum(wanted, 127 - highest), -lowest)
        moved = torch.where(is_note, tokens + shift[:, None], tokens)
        return moved.unsqueeze(-1)


def check_scores(data: Any) -> tuple[list[Score], list[Score]]:
    """The training and validation scores of a ``DataSplit`` of music; a :class:`ModelError` that says
    what is wrong otherwise."""
    name = getattr(data, "name", "") or "the dataset"
    parts = []
    for part, scores in (("training", data.train), ("validation", data.validation)):
        if not isinstance(scores, (list, tuple)) or not all(isinstance(s, Score) for s in scores):
            raise ModelError(f"This model trains on music; the {part} data of {name} is not a list of scores.")
        if not any(s.notes for s in scores):
            raise ModelError(f"The {part} part of {name} has no notes.")
        parts.append(list(scores))
    return parts[0], parts[1]

"""Chapter 11's music transformer: the next note and the next duration of a melody.

As the book builds it: each stream has its embedding (half the width each) plus a
sine position encoding; the two are concatenated and go through one transformer
block (multi-head causal attention with a key size of its own, then a ReLU
feed-forward layer, each followed by dropout, a residual and LayerNorm); two
linear heads predict the next note and the next duration. Not in the book: with a
config's ``bar_steps`` (``bar_position``), an embedding of where in the bar the next
note starts is added to the concatenation (the prompt is read in 4/4 bars from beat
0, the bars ``generate`` counts). Generation reruns the
last ``seq_len`` tokens for each new pair, as the book does: one block over 50
tokens costs a millisecond or two.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from studio.core.capabilities import ModelError, Note
from studio.core.music.score import TimeSignature
from studio_builtins.text.sampling import choose, evaluating

from .config import MelodyConfig
from .melody import (
    REST,
    MelodyVocab,
    bar_positions,
    bar_step,
    duration_name,
    duration_value,
    note_name,
    pitch_of,
    timed_tokens,
)
from .streaming import BEATS_PER_BAR, CONTROLS, check_request, prompt_end, seeded

#: the vocabulary of an untrained model (a trainer learns the real one from its data)
DEFAULT_DURATIONS = (0.25, 1 / 3, 0.5, 2 / 3, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


def default_vocab() -> MelodyVocab:
    return MelodyVocab(["START", REST, *(note_name(p) for p in range(21, 109))],
                       ["0.0", *(duration_name(d) for d in DEFAULT_DURATIONS)])


def sine_positions(length: int, width: int, device: torch.device) -> torch.Tensor:
    """The sine position encoding (``keras_nlp.layers.SinePositionEncoding``): sines on even
    features and cosines on odd ones, at wavelengths from 2π to 10000·2π."""
    positions = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    rates = torch.pow(10000.0, -(torch.arange(width, device=device) // 2 * 2).float() / width)
    angles = positions * rates
    return torch.where(torch.arange(width, device=device) % 2 == 0, torch.sin(angles), torch.cos(angles))


class TransformerBlock(nn.Module):
    """The book's block: causal attention (``n_heads`` heads of ``key_dim``), add & norm, feed-forward, add & norm."""

    def __init__(self, config: MelodyConfig) -> None:
        super().__init__()
        inner = config.n_heads * config.key_dim
        self.n_heads = config.n_heads
        self.qkv = nn.Linear(config.embedding_dim, 3 * inner)
        self.out = nn.Linear(inner, config.embedding_dim)
        self.norm_1 = nn.LayerNorm(config.embedding_dim, eps=1e-6)
        self.feed_forward = nn.Sequential(nn.Linear(config.embedding_dim, config.feed_forward_dim), nn.ReLU(),
                                          nn.Linear(config.feed_forward_dim, config.embedding_dim))
        self.norm_2 = nn.LayerNorm(config.embedding_dim, eps=1e-6)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        q, k, v = (t.view(batch, length, self.n_heads, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        attended = self.out(attended.transpose(1, 2).reshape(batch, length, -1))
        x = self.norm_1(x + self.dropout(attended))
        return self.norm_2(x + self.dropout(self.feed_forward(x)))


class MelodyTransformer(nn.Module):
    """Offers ``MusicGenerator``: continues the top line of a prompt, one (note, duration) pair at a time."""

    voices = ("melody",)
    controls = CONTROLS
    beats_per_bar = BEATS_PER_BAR

    def __init__(self, config: MelodyConfig) -> None:
        super().__init__()
        _check(config)
        self.config = config
        self.vocab = MelodyVocab.from_json(config.vocab_json) if config.vocab_json else default_vocab()
        half = config.embedding_dim // 2
        self.note_embedding = nn.Embedding(len(self.vocab.notes), half)
        self.duration_embedding = nn.Embedding(len(self.vocab.durations), half)
        self.bar_embedding = nn.Embedding(config.bar_steps, config.embedding_dim) if config.bar_steps > 0 else None
        self.block = TransformerBlock(config)
        self.note_head = nn.Linear(config.embedding_dim, len(self.vocab.notes))
        self.duration_head = nn.Linear(config.embedding_dim, len(self.vocab.durations))

    def forward(self, notes: torch.Tensor, durations: torch.Tensor,
                bars: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of the next note and the next duration, each (batch, positions, vocab); ``bars``: where in
        the bar each next note starts (:func:`~.melody.bar_positions`), read when the model has ``bar_steps``."""
        half = self.config.embedding_dim // 2
        positions = sine_positions(notes.size(1), half, notes.device)
        x = torch.cat([self.note_embedding(notes) + positions, self.duration_embedding(durations) + positions], dim=-1)
        if self.bar_embedding is not None:
            if bars is None:
                raise ModelError("This model reads where in the bar each note starts; give it bars.")
            x = x + self.bar_embedding(bars)
        x = self.block(x)
        return self.note_head(x), self.duration_head(x)

    def generate(self, prompt: Sequence[Note], *, bars: int, seed: int, temperature: float = 1.0,
                 controls: Optional[Mapping[str, Any]] = None) -> Iterator[Note]:
        """Continue the top line of ``prompt`` (every voice counts) for ``bars`` bars. The prompt is
        read now; the model runs as notes are taken. A note that would run past the last bar is
        shortened to end there."""
        check_request(bars, temperature, controls)
        notes, durations, starts = self.vocab.encode_timed(timed_tokens(prompt))
        start = prompt_end(prompt)
        positions = bar_positions(starts, start, self._metre, max(1, self.config.bar_steps))
        velocity = prompt[-1].velocity if prompt else Note(0, 0, 0).velocity
        return self._stream(notes, durations, positions, start, start + bars * self.beats_per_bar, velocity,
                            temperature, seed)

    @property
    def _metre(self) -> list[TimeSignature]:
        return [TimeSignature(0.0, self.beats_per_bar, 4)]

    def _stream(self, notes: list[int], durations: list[int], positions: list[int], time: float, end: float,
                velocity: int, temperature: float, seed: int) -> Iterator[Note]:
        generator = seeded(seed)
        device = self.note_head.weight.device
        rest = self.vocab.notes.index(REST) if REST in self.vocab.notes else -1
        while time < end:
            window = slice(-self.config.seq_len, None)
            with evaluating(self):
                note_logits, duration_logits = self(torch.tensor([notes[window]], device=device),
                                                    torch.tensor([durations[window]], device=device),
                                                    torch.tensor([positions[window]], device=device))
            note_logits, duration_logits = note_logits[0, -1], duration_logits[0, -1]
            # START (id 0 of both streams) begins a piece: it is never a continuation
            note_logits[0] = duration_logits[0] = float("-inf")
            note, _ = choose(note_logits, temperature, None, None, generator)
            duration, _ = choose(duration_logits, temperature, None, None, generator)
            notes.append(note)
            durations.append(duration)
            length = duration_value(self.vocab.durations[duration])
            if note != rest:
                yield Note(pitch_of(self.vocab.notes[note]), time, min(length, end - time), velocity)
            time += length
            positions.append(bar_step(time, self._metre, max(1, self.config.bar_steps)))


def _check(config: MelodyConfig) -> None:
    if config.embedding_dim < 2 or config.embedding_dim % 2:
        raise ModelError(f"embedding_dim must be an even number (notes and durations get half each), "
                         f"not {config.embedding_dim}.")
    if min(config.n_heads, config.key_dim, config.feed_forward_dim, config.seq_len) < 1:
        raise ModelError("n_heads, key_dim, feed_forward_dim and seq_len must all be at least 1.")
    if config.bar_steps < 0:
        raise ModelError(f"bar_steps must be 0 (no bar positions) or more, not {config.bar_steps}.")
    if not 0.0 <= config.dropout < 1.0:
        raise ModelError(f"dropout must be at least 0 and below 1, not {config.dropout}.")

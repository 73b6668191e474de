"""The model: counts of (context, next character), sampled with back-off to shorter contexts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Optional

import numpy as np

from studio.core.capabilities import ModelError, TokenStep


class MarkovText:
    """Offers ``SequenceGenerator``. Its state is two arrays, so it saves like any model:

    ``keys``: (n, order + 1) int64, a context (left-padded with -1) and the next character;
    ``counts``: (n,) int64, how often that was seen.
    """

    def __init__(self, config) -> None:
        if config.order < 1:
            raise ModelError("A Markov chain needs an order of at least 1.")
        self.config = config
        self.order = config.order
        self.vocabulary = config.vocabulary
        self.context_length = config.order
        self._index = {c: i for i, c in enumerate(self.vocabulary)}
        # context tuple -> {next id: count}
        self.table: dict[tuple, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    # -- learning -------------------------------------------------------------
    def observe(self, ids: Sequence[int]) -> None:
        """Count every context of length 0..order before each position."""
        for i, nxt in enumerate(ids):
            for k in range(0, min(self.order, i) + 1):
                self.table[tuple(ids[i - k:i])][nxt] += 1

    def log_likelihood(self, ids: Sequence[int]) -> float:
        """Mean negative log-likelihood in nats per character."""
        if not ids:
            return 0.0
        total = sum(-np.log(self.probabilities(ids[max(0, i - self.order):i])[nxt]) for i, nxt in enumerate(ids))
        return float(total / len(ids))

    def probabilities(self, context: Sequence[int]) -> np.ndarray:
        """P(next | context) over the vocabulary, Witten-Bell interpolated from
        the uniform distribution up through ever longer contexts."""
        probs = np.full(len(self.vocabulary), 1.0 / max(len(self.vocabulary), 1))
        for k in range(0, min(len(context), self.order) + 1):
            followers = self.table.get(tuple(context[len(context) - k:]))
            if not followers:
                break
            seen = sum(followers.values())
            distinct = len(followers)
            counts = np.zeros_like(probs)
            counts[list(followers)] = list(followers.values())
            probs = (counts + distinct * probs) / (seen + distinct)
        return probs

    # -- SequenceGenerator ------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return [self._index[c] for c in text if c in self._index]

    def decode(self, tokens: Sequence[int]) -> str:
        return "".join(self.vocabulary[t] for t in tokens)

    def generate(self, prompt: str, *, max_new_tokens: int, temperature: float = 1.0,
                 top_k: Optional[int] = None, top_p: Optional[float] = None, seed: Optional[int] = None,
                 with_attention: bool = False) -> Iterator[TokenStep]:
        if not self.table:
            raise ModelError("This Markov model has not been trained yet.")
        rng = np.random.default_rng(seed)
        ids = self.encode(prompt)
        for _ in range(max_new_tokens):
            probs = self.probabilities(ids[-self.order:])
            pick = _choose(probs, rng, temperature, top_k, top_p)
            ids.append(pick)
            yield TokenStep(token=pick, text=self.vocabulary[pick], probability=float(probs[pick]))

    # -- saving -------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        rows = [(*([-1] * (self.order - len(ctx))), *ctx, nxt, n)
                for ctx, nexts in self.table.items() for nxt, n in nexts.items()]
        array = np.array(rows, dtype=np.int64).reshape(-1, self.order + 2)
        return {"keys": array[:, :-1].copy(), "counts": array[:, -1].copy()}

    def load_state_dict(self, state) -> None:
        keys, counts = np.asarray(state["keys"]), np.asarray(state["counts"])
        if keys.ndim != 2 or keys.shape[1] != self.order + 1:
            raise ModelError(f"These counts are for another order than {self.order}.")
        self.table.clear()
        for row, n in zip(keys.tolist(), counts.tolist(), strict=False):
            ctx = tuple(c for c in row[:-1] if c >= 0)
            self.table[ctx][row[-1]] = n


def _choose(probs: np.ndarray, rng: np.random.Generator, temperature: float,
            top_k: Optional[int], top_p: Optional[float]) -> int:
    if temperature <= 0:
        return int(np.argmax(probs))
    order = np.argsort(-probs, kind="stable")
    keep = len(order) if not top_k else min(top_k, len(order))
    if top_p is not None:
        cumulative = np.cumsum(probs[order])
        keep = min(keep, int(np.searchsorted(cumulative, top_p) + 1))
    kept = order[:keep]
    weights = probs[kept] ** (1.0 / temperature)
    return int(rng.choice(kept, p=weights / weights.sum()))

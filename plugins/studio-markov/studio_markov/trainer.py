"""Training a Markov chain: each step counts the next slice of the text."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from studio.core.capabilities import ModelError, TrainProgress, TrainState
from studio_markov.model import MarkovText


class MarkovTrainer:
    """Offers ``Trainer``. The loss of a step is the model's surprise (nats per
    character) at the slice it is about to count, so it falls as the model learns."""

    def __init__(self, config, data, device: str = "cpu", seed: int = 0) -> None:
        #: set by the studio's runner: whether a cancel was asked for (validation is too quick to check it)
        self.stop_requested = lambda: False
        self.train_text, self.valid_text = data.train, data.validation
        if not self.train_text:
            raise ModelError("The training text is empty.")
        vocabulary = config.vocabulary or "".join(sorted(set(self.train_text + self.valid_text)))
        self.config = dataclasses.replace(config, vocabulary=vocabulary)
        self.model = MarkovText(self.config)
        self._ids = self.model.encode(self.train_text)

    def _slice(self, step: int, total: int) -> list[int]:
        size = -(-len(self._ids) // total)
        return self._ids[step * size:(step + 1) * size]

    def steps(self, start: int, total: int) -> Iterator[TrainProgress]:
        for step in range(start, total):
            chunk = self._slice(step, total)
            surprise = self.model.log_likelihood(chunk[:2000])
            self.model.observe(chunk)
            yield TrainProgress(step=step + 1, epoch=(step + 1) / total, losses={"nll": surprise},
                                items=len(chunk))

    def validate(self) -> dict[str, float]:
        return {"nll": self.model.log_likelihood(self.model.encode(self.valid_text[:5000]))}

    def preview(self, *, seed: int):
        return None

    def state(self) -> TrainState:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        return TrainState(tensors, {})

    def restore(self, state: TrainState) -> None:
        self.model.load_state_dict({k[6:]: np.asarray(v) for k, v in state.tensors.items() if k.startswith("model.")})

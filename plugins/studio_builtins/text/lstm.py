"""Chapter 5's recurrent language model: embedding, stacked LSTM or GRU layers, linear.

The recurrent state carries the whole history, so generation feeds one token
at a time into it; there is no window to crop and no attention to show.
``context_length`` is the training window (how far back gradients flowed).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from studio.core.capabilities import ModelError

from .config import CELLS, LSTMConfig
from .sampling import TokenStreamer, evaluating
from .tokenizer import tokenizer_for


class LSTMModel(nn.Module, TokenStreamer):
    """Offers ``SequenceGenerator``; ``forward(idx)`` gives logits for training."""

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        _check(config)
        self.config = config
        self.tokenizer = tokenizer_for(config)
        self.context_length = config.block_size
        vocab = self.tokenizer.vocab_size
        self.embedding = nn.Embedding(vocab, config.embedding_dim)
        cell = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.rnn = cell(config.embedding_dim, config.hidden_size, config.num_layers, batch_first=True,
                        dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.head = nn.Linear(config.hidden_size, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (batch, positions, vocab) for token ids (batch, positions), from a zero state."""
        return self.run(idx)[0]

    def run(self, idx: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Logits for ``idx`` continuing from recurrent ``state``, and the state after it."""
        output, state = self.rnn(self.embedding(idx), state)
        return self.head(output), state

    def session(self, use_cache: bool, with_attention: bool) -> RNNSession:
        """The recurrent state is the model's cache: ``use_cache`` changes nothing, and
        it has no attention to return."""
        return RNNSession(self)


class RNNSession:
    def __init__(self, model: LSTMModel) -> None:
        self.model = model
        self.state: Any = None

    def feed(self, tokens: list[int]) -> tuple[torch.Tensor, Optional[np.ndarray]]:
        idx = torch.tensor([tokens], dtype=torch.long, device=self.model.head.weight.device)
        with evaluating(self.model):
            logits, self.state = self.model.run(idx, self.state)
        return logits[0, -1], None


def _check(config: LSTMConfig) -> None:
    if config.cell not in CELLS:
        raise ModelError(f"Unknown cell {config.cell!r}; choose one of {', '.join(CELLS)}.")
    if min(config.embedding_dim, config.hidden_size, config.num_layers, config.block_size) < 1:
        raise ModelError("embedding_dim, hidden_size, num_layers and block_size must all be at least 1.")
    if not 0.0 <= config.dropout < 1.0:
        raise ModelError(f"dropout must be at least 0 and below 1, not {config.dropout}.")

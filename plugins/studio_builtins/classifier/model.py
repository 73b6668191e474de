"""The book's chapter-2 classifiers in PyTorch, offering ``ImageClassifier`` with numpy in and out.

Each network is a *body* that turns images into features and a *head* that turns
features into one logit per class. ``features`` is the body's output (the
penultimate layer, what the metrics compare); ``classify`` is the softmax of the
head's. Both run in eval mode (batch norm on its running statistics, no dropout)
whatever mode the model is in, in batches, and give the model back in its mode.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from studio.core.capabilities import ModelError

#: Images run through the network at once by ``classify`` and ``features``: a batch of 64x64 RGB
#: images keeps the CNN's widest activations (256 x 32 x 64 x 64 floats) near 130 MB.
INFERENCE_BATCH = 256
#: Keras' default negative slope for LeakyReLU, which the book's CNN uses (PyTorch's is 0.01).
LEAKY_SLOPE = 0.3


class Classifier(nn.Module):
    """What both classifiers share; a subclass builds :attr:`body` and :attr:`head`."""

    body: nn.Module  #: images (n, C, H, W) in [0, 1] -> features (n, feature_dim)
    head: nn.Module  #: features -> logits (n, number of classes)

    def __init__(self, config: Any) -> None:
        super().__init__()
        if config.channels not in (1, 3):
            raise ModelError(f"Images must have 1 or 3 channels, not {config.channels}.")
        if config.image_size < 4:
            raise ModelError(f"The image size must be at least 4 pixels, not {config.image_size}.")
        if len(config.class_names) < 2:
            raise ModelError("A classifier needs at least two classes to tell apart; it learns them from its "
                             f"training data, and this one names {len(config.class_names)}. Train it first.")
        self.config = config
        self.image_shape = (config.image_size, config.image_size, config.channels)
        self.class_names = tuple(config.class_names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(n, C, H, W)`` in [0, 1] to logits ``(n, classes)``: what the trainer calls."""
        return self.head(self.body(x))

    # -- ImageClassifier ---------------------------------------------------------------------
    def classify(self, images: np.ndarray) -> np.ndarray:
        """Images ``(n, H, W, C)`` in [0, 1] to class probabilities ``(n, classes)`` (rows sum to 1)."""
        return self._batched(lambda x: torch.softmax(self(x), dim=1), images)

    def features(self, images: np.ndarray) -> np.ndarray:
        """Images ``(n, H, W, C)`` in [0, 1] to the penultimate layer, ``(n, feature_dim)``."""
        return self._batched(self.body, images)

    @torch.no_grad()
    def _batched(self, run: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1:] != self.image_shape:
            raise ModelError(f"This classifier looks at images shaped (n, {', '.join(map(str, self.image_shape))}), "
                             f"not {images.shape}; load them at its image size and channels.")
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            outputs = [run(torch.from_numpy(images[start:start + INFERENCE_BATCH]).to(device).permute(0, 3, 1, 2))
                       .float().cpu().numpy()
                       for start in range(0, max(len(images), 1), INFERENCE_BATCH)]  # none: one empty batch
        finally:
            self.train(was_training)
        return np.concatenate(outputs)


class MLPClassifier(Classifier):
    """Flatten -> dense ``hidden_units`` ReLU -> dense ``feature_units`` ReLU (the features) -> dense classes."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        if config.hidden_units < 1 or config.feature_units < 1:
            raise ModelError("hidden_units and feature_units must be at least 1.")
        self.feature_dim = config.feature_units
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(self.image_shape)), config.hidden_units),
                                  nn.ReLU(), nn.Linear(config.hidden_units, config.feature_units), nn.ReLU())
        self.head = nn.Linear(config.feature_units, len(self.class_names))


class CNNClassifier(Classifier):
    """Conv ``filters`` (stride 1), conv ``filters`` (stride 2), conv 2x``filters`` (stride 1), conv
    2x``filters`` (stride 2), each 3x3 with batch norm and a leaky ReLU; flatten, dense ``dense_units``,
    batch norm, leaky ReLU (the features); dropout; dense classes.

    Batch norm keeps PyTorch's momentum (0.1) rather than Keras' (0.99 in Keras terms): the running
    statistics eval mode uses then follow training within tens of steps, which a short studio run needs.
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        if config.filters < 1 or config.dense_units < 1:
            raise ModelError("filters and dense_units must be at least 1.")
        if not 0.0 <= config.dropout < 1.0:
            raise ModelError(f"dropout must be at least 0 and below 1, not {config.dropout}.")
        layers: list[nn.Module] = []
        previous = config.channels
        for width, stride in ((config.filters, 1), (config.filters, 2), (2 * config.filters, 1),
                              (2 * config.filters, 2)):
            layers += [nn.Conv2d(previous, width, 3, stride=stride, padding=1), nn.BatchNorm2d(width),
                       nn.LeakyReLU(LEAKY_SLOPE)]
            previous = width
        inner = -(-config.image_size // 4)  # each stride-2 convolution halves the side, rounding up
        self.feature_dim = config.dense_units
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(previous * inner * inner, config.dense_units),
                                  nn.BatchNorm1d(config.dense_units), nn.LeakyReLU(LEAKY_SLOPE))
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.dense_units, len(self.class_names)))

"""Training the chapter-2 classifiers: cross-entropy on labelled images, Adam as the book has it.

The class names come from the training data and go into the config (a learned
field), so a checkpoint rebuilds the output layer. A run resumed or trained
further keeps them, and refuses data whose classes are different.

There is no :meth:`preview`: a classifier makes no images, and a grid of the
images it reads would be saved as ``samples/step-N.png``, where it would pass for
samples; what shows its progress is the accuracy, in the step losses and
:meth:`validation_losses`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from studio.core.capabilities import ModelError
from studio.core.training import TorchTrainer, check_image_split
from studio_builtins.classifier.model import Classifier, CNNClassifier, MLPClassifier

#: Held-out images a validation pass looks at, at most: all of Fashion-MNIST's test set.
VALIDATION_LIMIT = 10_000
VALIDATION_BATCH = 500


class ClassifierTrainer(TorchTrainer):
    """Trains a :class:`Classifier` on a ``DataSplit`` of labelled ``ImageSet``s; subclasses name the model."""

    model_class: type[Classifier]

    def __init__(self, config: Any, data: Any, device: str = "cpu", seed: int = 0) -> None:
        config = _with_classes(config, data)
        check_image_split(config, data)
        if config.batch_size < 2:  # batch norm needs two images to normalise over
            raise ModelError(f"batch_size must be at least 2, not {config.batch_size}.")
        self.batch_size = config.batch_size
        self.learning_rate = config.learning_rate
        self.train_images = torch.from_numpy(data.train.images)  # uint8 on the CPU; batches move
        self.train_labels = torch.from_numpy(data.train.labels)
        self.validation_images = torch.from_numpy(data.validation.images[:VALIDATION_LIMIT])
        self.validation_labels = torch.from_numpy(data.validation.labels[:VALIDATION_LIMIT])
        super().__init__(config, data, device, seed)

    def build_model(self) -> Classifier:
        return self.model_class(self.config)

    def train_examples(self) -> int:
        return len(self.train_images)

    def make_batch(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.from_numpy(indices)
        return self._to_model(self.train_images[index]), self.train_labels[index].to(self.device)

    def _to_model(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (n, H, W, C) -> float (n, C, H, W) in [0, 1] on the device."""
        return images.to(self.device).permute(0, 3, 1, 2).float().div_(255.0)

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> Mapping[str, float]:
        images, labels = batch
        logits = self.train_module(images)
        loss = F.cross_entropy(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item(), "accuracy": (logits.argmax(dim=1) == labels).float().mean().item()}

    def validation_losses(self) -> Mapping[str, float]:
        """Mean cross-entropy and accuracy over (up to :data:`VALIDATION_LIMIT`) held-out images."""
        loss = correct = 0.0
        count = len(self.validation_images)
        for start in range(0, count, VALIDATION_BATCH):
            images = self._to_model(self.validation_images[start:start + VALIDATION_BATCH])
            labels = self.validation_labels[start:start + VALIDATION_BATCH].to(self.device)
            logits = self.model(images)
            loss += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(dim=1) == labels).sum().item()
        return {"loss": loss / count, "accuracy": correct / count}


class MLPClassifierTrainer(ClassifierTrainer):
    model_class = MLPClassifier


class CNNClassifierTrainer(ClassifierTrainer):
    model_class = CNNClassifier


def _with_classes(config: Any, data: Any) -> Any:
    """``config`` with the class names of the training data; refuses unlabelled data, and data whose
    classes differ from those a trained config already names."""
    for part in (data.train, data.validation):
        if part.labels is None:
            raise ModelError(f"A classifier needs labelled images: a folder with one sub-folder per class (the "
                             f"sub-folder's name is the class), or a labelled dataset such as Fashion-MNIST. "
                             f"{data.name or 'This dataset'} has no labels.")
    names = list(data.train.class_names)
    if len(names) < 2:
        raise ModelError(f"A classifier needs at least two classes to tell apart; {data.name or 'the dataset'} "
                         f"has {len(names)}. Put each class's images in a sub-folder of their own.")
    if config.class_names and list(config.class_names) != names:
        raise ModelError(f"This classifier tells apart {', '.join(config.class_names)}, but the data's classes "
                         f"are {', '.join(names)}. Train a new classifier on this data.")
    return dataclasses.replace(config, class_names=names)

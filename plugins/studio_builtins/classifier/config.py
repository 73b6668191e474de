"""The settings of the chapter-2 classifiers; light (no torch) so discovery can name them.

The defaults are the book's (Adam at 5e-4, batches of 32), at the studio's 32x32 greyscale.
The class names are learned: the trainer takes them from the labelled training data, and a
checkpoint rebuilds the output layer from them.
"""

from dataclasses import dataclass, field

#: Marks a field the trainer fills in: the Train dialog does not offer it.
LEARNED = {"learned": True}


@dataclass
class MLPClassifierConfig:
    """The book's multilayer perceptron: flatten, dense 200, dense 150, one output per class."""

    image_size: int = 32
    channels: int = 1
    hidden_units: int = 200  #: the first dense layer
    feature_units: int = 150  #: the second dense layer: the judge's features
    class_names: list[str] = field(default_factory=list, metadata=LEARNED)  #: from the training data
    batch_size: int = 32
    learning_rate: float = 5e-4


@dataclass
class CNNClassifierConfig:
    """The book's CNN: four 3x3 convolutions (two of stride 2), each with batch norm and a leaky
    ReLU, then a dense layer of ``dense_units`` (the judge's features), dropout and the output."""

    image_size: int = 32
    channels: int = 1
    filters: int = 32  #: the first two convolutions; the last two have twice as many
    dense_units: int = 128  #: the dense layer before the output: the judge's features
    dropout: float = 0.5  #: on the features while training
    class_names: list[str] = field(default_factory=list, metadata=LEARNED)  #: from the training data
    batch_size: int = 32
    learning_rate: float = 5e-4

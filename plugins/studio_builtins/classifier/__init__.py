"""The classifiers of chapter 2, the studio's judge: the book's MLP and CNN, trained on labelled images.

A trained classifier says which class an image shows and how sure it is, and its
features (the layer before the class scores) give the Fréchet distance and KID of
:mod:`studio.core.metrics` without downloaded Inception weights. Registers specs
only; the torch model and trainer are imported when first used.
"""

from studio import hookimpl
from studio.core.specs import ModelSpec
from studio_builtins.classifier.config import CNNClassifierConfig, MLPClassifierConfig

#: the plugin contract these specs are written for
STUDIO_CONTRACT_VERSION = 2

_CAPABILITIES = ("ImageClassifier", "Trainer")
_HERE = "studio_builtins.classifier"


@hookimpl
def studio_register_models(register):
    common = dict(family="classifier", capabilities=_CAPABILITIES, data_kind="images")
    register(ModelSpec(
        name="mlp-classifier", title="MLP classifier (judge)", config=MLPClassifierConfig,
        factory=f"{_HERE}.model:MLPClassifier", trainer=f"{_HERE}.trainer:MLPClassifierTrainer",
        description="Two fully connected layers (200 and 150 units) over the flattened image, as chapter 2 "
                    "begins; its 150 features judge generated images.",
        **common,
    ))
    register(ModelSpec(
        name="cnn-classifier", title="CNN classifier (judge)", config=CNNClassifierConfig,
        factory=f"{_HERE}.model:CNNClassifier", trainer=f"{_HERE}.trainer:CNNClassifierTrainer",
        description="Chapter 2's convolutional network with batch normalisation and dropout; its 128 "
                    "features judge generated images (Fréchet distance, KID).",
        **common,
    ))

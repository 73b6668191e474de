"""The chapter-2 classifiers (the studio's judge): specs, learning on held-out digits, probabilities and
features, checkpoints, resuming, and what they refuse. Tiny models on scikit-learn's digits at 16x16."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

import studio_builtins.classifier
from studio.core.capabilities import ImageClassifier, ModelError, Trainer
from studio.core.checkpoint import load_model, save_checkpoint
from studio.core.data import DataSplit
from studio.core.data.images import ImageSet
from studio.core.specs import resolve

SMALL = {
    "mlp-classifier": {"image_size": 16, "hidden_units": 64, "feature_units": 32, "batch_size": 64,
                       "learning_rate": 2e-3},
    "cnn-classifier": {"image_size": 16, "filters": 8, "dense_units": 32, "batch_size": 64, "learning_rate": 2e-3},
}
NAMES = sorted(SMALL)
#: steps that take each tiny model well past 0.8 held-out accuracy (the CNN gets there sooner)
STEPS = {"mlp-classifier": 300, "cnn-classifier": 100}


@pytest.fixture
def host(make_studio_host):
    return make_studio_host(studio_builtins.classifier)


def make_trainer(host, name, data, seed=0, **settings):
    spec = host.registry.model(name)
    return resolve(spec.trainer)(spec.config(**{**SMALL[name], **settings}), data, seed=seed)


def train(trainer, steps):
    for _ in trainer.steps(0, steps):
        pass
    return trainer


def test_the_plugin_registers_the_books_two_classifiers_without_importing_torch(host):
    mlp, cnn = host.registry.model("mlp-classifier"), host.registry.model("cnn-classifier")
    assert (mlp.title, cnn.title) == ("MLP classifier (judge)", "CNN classifier (judge)")
    for spec in (mlp, cnn):
        assert spec.capabilities == ("ImageClassifier", "Trainer") and spec.data_kind == "images"
        config = spec.config()
        assert (config.image_size, config.channels, config.batch_size, config.learning_rate) == (32, 1, 32, 5e-4)
        learned = [f.name for f in dataclasses.fields(config) if f.metadata.get("learned")]
        assert learned == ["class_names"] and config.class_names == []
    assert (mlp.config().hidden_units, mlp.config().feature_units) == (200, 150)
    assert (cnn.config().filters, cnn.config().dense_units, cnn.config().dropout) == (32, 128, 0.5)
    code = ("import sys, studio_builtins.classifier as c; from studio.core.plugins import PluginHost; "
            "h = PluginHost(); h.add(c, 'classifier'); assert h.plugins['classifier'].status == 'loaded'; "
            "assert sorted(h.registry.models) == ['cnn-classifier', 'mlp-classifier'], h.registry.models; "
            "assert 'torch' not in sys.modules, 'registering imported torch'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", NAMES)
def test_a_trained_classifier_beats_its_untrained_self_on_held_out_digits(host, studio_data, name):
    trainer = make_trainer(host, name, studio_data("images", size=16))
    assert isinstance(trainer, Trainer)
    untrained = trainer.validate()
    assert untrained["accuracy"] < 0.3  # about chance: one in ten
    progress = list(trainer.steps(0, STEPS[name]))
    assert set(progress[-1].losses) == {"loss", "accuracy"}
    trained = trainer.validate()
    assert trained["accuracy"] > 0.8 and trained["loss"] < 0.5 * untrained["loss"]
    assert trainer.preview(seed=0) is None  # a classifier makes no images


@pytest.mark.parametrize("name", NAMES)
def test_probabilities_sum_to_one_and_features_are_the_penultimate_layer(host, studio_data, name):
    data = studio_data("images", size=16)
    model = train(make_trainer(host, name, data), 20).model  # left in training mode, as a trainer leaves it
    assert isinstance(model, ImageClassifier)
    assert model.image_shape == (16, 16, 1) and model.class_names == tuple(str(d) for d in range(10))
    assert model.feature_dim == 32
    images = data.train.as_float()[:300]  # more than one inference batch
    probabilities = model.classify(images)
    assert probabilities.shape == (300, 10) and probabilities.dtype == np.float32
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5) and probabilities.min() >= 0
    features = model.features(images)
    assert features.shape == (300, model.feature_dim) and features.dtype == np.float32
    # eval mode: no dropout, batch norm on its running statistics, so an image's answer is its own
    assert np.allclose(model.classify(images[:5]), probabilities[:5], atol=1e-6)
    assert np.allclose(model.features(images[:5]), features[:5], atol=1e-5)
    assert model.training  # and the model is given back as it was


def test_images_of_the_wrong_shape_are_refused_with_a_sentence(host, studio_data):
    model = train(make_trainer(host, "cnn-classifier", studio_data("images", size=16)), 1).model
    with pytest.raises(ModelError, match=r"images shaped \(n, 16, 16, 1\), not \(2, 32, 32, 1\)"):
        model.classify(np.zeros((2, 32, 32, 1), np.float32))
    with pytest.raises(ModelError, match="images shaped"):
        model.features(np.zeros((16, 16, 1), np.float32))


@pytest.mark.parametrize("name", NAMES)
def test_unlabelled_images_are_refused(host, name):
    images = np.zeros((20, 16, 16, 1), np.uint8)
    unlabelled = DataSplit(ImageSet(images[:18], name="Sketches"), ImageSet(images[18:]), name="Sketches")
    with pytest.raises(ModelError, match="needs labelled images: a folder with one sub-folder per class"):
        make_trainer(host, name, unlabelled)


def test_a_checkpoint_brings_back_the_classes_and_the_answers(host, studio_data, tmp_path):
    data = studio_data("images", size=16)
    trainer = train(make_trainer(host, "cnn-classifier", data), 30)
    path = tmp_path / "judge.safetensors"
    save_checkpoint(path, "cnn-classifier", trainer.config, 30, trainer.state())
    loaded = load_model(host.registry, "cnn-classifier", path)
    assert loaded.class_names == tuple(str(d) for d in range(10))
    images = data.validation.as_float()
    assert np.allclose(loaded.classify(images), trainer.model.classify(images), atol=1e-6)


def test_training_further_on_other_classes_is_refused(host, studio_data):
    trained = make_trainer(host, "mlp-classifier", studio_data("images", size=16))
    data = studio_data("images", size=16)
    for part in (data.train, data.validation):
        part.class_names = [f"class {d}" for d in range(10)]
    spec = host.registry.model("mlp-classifier")
    with pytest.raises(ModelError, match="tells apart 0, 1, 2.*the data's classes are class 0"):
        resolve(spec.trainer)(trained.config, data)


def test_a_resumed_run_trains_exactly_as_one_that_never_stopped(host, studio_data):
    data = studio_data("images", size=16)
    straight = train(make_trainer(host, "cnn-classifier", data), 10)
    first = train(make_trainer(host, "cnn-classifier", data), 5)
    saved = first.state()  # before the next trainer: torch's random state (dropout's) is the process's
    resumed = make_trainer(host, "cnn-classifier", data)
    resumed.restore(saved)
    for _ in resumed.steps(5, 10):
        pass
    for name, value in straight.model.state_dict().items():
        assert np.array_equal(value.numpy(), resumed.model.state_dict()[name].numpy()), name


def test_the_cnn_takes_colour_images_at_64_pixels(host, studio_data):
    data = studio_data("images", size=64, channels=3)
    trainer = train(make_trainer(host, "cnn-classifier", data, image_size=64, channels=3), 2)
    assert trainer.model.classify(data.validation.as_float()[:4]).shape == (4, 10)

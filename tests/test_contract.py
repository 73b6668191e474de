"""Plugin contract 2: the version a plugin declares is checked, a contract-1 plugin that fits still
loads, and the capabilities' new parts reach contract-1 models only as they can take them."""

import dataclasses
import json

import numpy as np
import pytest

from studio import hookimpl
from studio.cli import main
from studio.core.capabilities import (
    ModelError,
    SampleOptions,
    StepPreview,
    sample_images,
    sampler_info,
)
from studio.core.plugins import PluginHost
from studio.core.specs import CONTRACT_VERSION, ModelSpec, SpecError


@dataclasses.dataclass
class Config:
    size: int = 1


def spec(**fields):
    values = dict(name="tiny", title="Tiny", family="test", capabilities=("ImageSampler",), config=Config,
                  factory="builtins:object")
    values.update(fields)
    return ModelSpec(**values)


def plugin(contract=None):
    class Plugin:
        @hookimpl
        def studio_register_models(self, register):
            register(spec())

    if contract is not None:
        Plugin.STUDIO_CONTRACT_VERSION = contract
    return Plugin()


def test_the_studio_speaks_contract_2():
    assert CONTRACT_VERSION == 2


def test_a_plugin_declaring_contract_3_is_refused_with_both_versions_named():
    host = PluginHost()
    info = host.add(plugin(3), "future", version="9.0")
    assert info.status == "failed" and info.stage == "contract" and info.contract == 3
    assert "written for plugin contract 3" in info.error and "supports contracts 1 and 2" in info.error
    assert "Update Generative Studio" in info.error
    assert "tiny" not in host.registry.models  # nothing of it was registered
    assert info.summary.startswith("failed in contract: future was written for plugin contract 3")


def test_a_contract_1_plugin_that_fits_loads_and_so_does_a_contract_2_one():
    host = PluginHost()
    old = host.add(plugin(), "old")  # declares nothing: written for contract 1
    assert old.status == "loaded" and old.contract == 1
    assert host.registry.model("tiny").plugin == "old"
    new = PluginHost().add(plugin(2), "new")
    assert new.status == "loaded" and new.contract == 2


@pytest.mark.parametrize("declared", ["2", 2.0, True, None])
def test_a_contract_version_that_is_not_a_whole_number_is_refused(declared):
    declared = object() if declared is None else declared
    info = PluginHost().add(plugin(declared), "odd")
    assert info.status == "failed" and info.stage == "contract" and "must be a whole number" in info.error


def test_the_cli_lists_each_plugins_contract(make_plugin_dist, capsys):
    make_plugin_dist("test_plugin_future", """
        STUDIO_CONTRACT_VERSION = 3
    """)
    assert main(["plugins", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    plugins = {p["name"]: p for p in listing["plugins"]}
    assert listing["contract_version"] == 2
    assert plugins["autoencoders"]["contract"] == 2 and plugins["autoencoders"]["status"] == "loaded"
    future = plugins["test_plugin_future"]
    assert (future["status"], future["stage"], future["contract"]) == ("failed", "contract", 3)
    assert main(["plugins", "list"]) == 0
    assert "failed in contract: test_plugin_future was written for plugin contract 3" in capsys.readouterr().out


@pytest.mark.parametrize("fields, message", [
    ({"builds_on": ("tiny",), "trainer": "builtins:object", "data_kind": "text",
      "capabilities": ("ImageSampler", "Trainer")}, "cannot be built on itself"),
    ({"builds_on": ("other",)}, "has no trainer"),
    ({"builds_on": ("Not A Name",), "trainer": "builtins:object", "data_kind": "text",
      "capabilities": ("ImageSampler", "Trainer")}, "lowercase"),
    ({"imports_from": ("folder",)}, "needs a loader"),
    ({"imports_from": ("safetensors",), "loader": "builtins:object"}, "file suffixes"),
])
def test_new_spec_fields_are_checked_when_registered(fields, message):
    with pytest.raises(SpecError, match=message):
        spec(**fields).validate()


class Contract1Sampler:
    """An image model written for contract 1: no class names, options or samplers."""

    image_shape = (4, 4, 1)
    conditions = ()

    def sample(self, n, *, seed, condition=None, on_step=None):
        if on_step:
            on_step(1, 1, None)
        return np.full((n, 4, 4, 1), seed / 10, np.float32)


class Contract2Sampler(Contract1Sampler):
    conditions = ("label",)
    class_names = ("cat", "dog")
    sampling_options = ("steps", "sampler")
    samplers = ("ddim", "euler")

    def sample(self, n, *, seed, condition=None, options=None, on_step=None):
        self.seen = options
        return super().sample(n, seed=seed, condition=condition, on_step=on_step)


def test_a_contract_1_image_model_gets_the_defaults_and_no_options():
    info = sampler_info(Contract1Sampler())
    assert (info.class_names, info.sampling_options, info.samplers) == ((), (), ())
    assert sample_images(Contract1Sampler(), 2, seed=3).shape == (2, 4, 4, 1)  # called without options
    with pytest.raises(ModelError, match="does not support steps"):
        sample_images(Contract1Sampler(), 2, seed=3, options=SampleOptions(steps=20))


def test_a_contract_2_image_model_gets_the_options_it_supports_only():
    model = Contract2Sampler()
    info = sampler_info(model)
    assert info.class_names == ("cat", "dog") and info.samplers == ("ddim", "euler")
    sample_images(model, 1, seed=0, options=SampleOptions(steps=12, sampler="euler"))
    assert (model.seen.steps, model.seen.sampler) == (12, "euler")
    sample_images(model, 1, seed=0)
    assert model.seen == SampleOptions()
    with pytest.raises(ModelError, match="does not support guidance_scale"):
        sample_images(model, 1, seed=0, options=SampleOptions(guidance_scale=7.5))
    model.sampling_options = ("steps", "eta")
    with pytest.raises(ModelError, match="does not know"):
        sampler_info(model)


def test_a_step_preview_says_what_it_shows():
    preview = StepPreview(step=3, images=np.zeros((1, 4, 4, 1), np.float32), shows="prediction")
    assert (preview.step, preview.shows) == (3, "prediction")
    with pytest.raises(ValueError, match="shows one of"):
        StepPreview(step=1, images=np.zeros((1, 4, 4, 1)), shows="noise")


def test_the_plugin_manager_shows_a_refused_plugins_contract(qtbot):
    from studio.ui.plugins_dialog import COLUMNS, PluginsDialog

    host = PluginHost()
    host.add(plugin(3), "future", version="9.0")
    dialog = PluginsDialog(host)
    qtbot.addWidget(dialog)
    row = [p.name for p in dialog.plugins].index("future")
    assert dialog.table.item(row, COLUMNS.index("Contract")).text() == "3"
    dialog.table.selectRow(row)
    text = dialog.details.toPlainText()
    assert "written for plugin contract 3 (this studio speaks 2)" in text and "Update Generative Studio" in text


def test_an_image_model_whose_config_cannot_say_the_image_size_is_refused_when_registered(tmp_path, capsys):
    @dataclasses.dataclass
    class NoSize:
        latent_dim: int = 2

    bad = spec(config=NoSize, capabilities=("ImageSampler", "Trainer"), trainer="builtins:object",
               data_kind="images")
    with pytest.raises(SpecError, match="needs the config fields image_size, channels .* NoSize has no image_size, "
                                        "channels"):
        bad.validate()

    class Plugin:
        @hookimpl
        def studio_register_models(self, register):
            register(bad)

    info = PluginHost().add(Plugin(), "sizeless")
    assert info.status == "failed" and "image_size" in info.error  # refused before anything is trained


def test_an_image_model_with_the_fields_is_accepted():
    @dataclasses.dataclass
    class Sized:
        image_size: int = 16
        channels: int = 1

    spec(config=Sized, capabilities=("ImageSampler", "Trainer"), trainer="builtins:object", data_kind="images")\
        .validate()

"""Plugin loading: failures are contained and reported, the allow-list recovers."""

import json
from dataclasses import dataclass

import pytest

from studio import hookimpl
from studio.cli import main
from studio.core.plugins import PluginHost, discover
from studio.core.specs import ModelSpec
from studio.ui.plugins_dialog import PluginsDialog


@dataclass
class TinyConfig:
    size: int = 1


def model_spec(name="tiny"):
    return ModelSpec(name=name, title="Tiny", family="test", capabilities=("LatentCodec",),
                     config=TinyConfig, factory="builtins:object")


BROKEN_IMPORT = """
raise RuntimeError("this plugin cannot be imported")
"""

BROKEN_HOOK = """
from dataclasses import dataclass
from studio import hookimpl
from studio.core.specs import ModelSpec

@dataclass
class Config:
    size: int = 1

@hookimpl
def studio_register_models(register):
    register(ModelSpec(name="half-registered", title="Half", family="test",
                       capabilities=("LatentCodec",), config=Config, factory="builtins:object"))

@hookimpl
def studio_register_panels(register):
    raise ValueError("boom in a hook")
"""


def test_plugin_that_fails_to_import_is_reported_and_the_app_starts(make_plugin_dist, studio_app):
    make_plugin_dist("test_plugin_import", BROKEN_IMPORT)
    app = studio_app()
    info = app.host.plugins["test_plugin_import"]
    assert info.status == "failed" and info.stage == "import"
    assert "this plugin cannot be imported" in info.error
    assert len(app.window.panels) == 5  # everything else still loaded

    dialog = PluginsDialog(app.host, app.window)
    row = next(r for r, p in enumerate(dialog.plugins) if p.name == "test_plugin_import")
    dialog.table.selectRow(row)
    assert "RuntimeError: this plugin cannot be imported" in dialog.details.toPlainText()
    assert "failed in import" in dialog.table.item(row, 3).text()


def test_plugin_that_raises_in_a_hook_is_disabled_and_withdrawn(make_plugin_dist, studio_app):
    make_plugin_dist("test_plugin_hook", BROKEN_HOOK)
    app = studio_app()
    info = app.host.plugins["test_plugin_hook"]
    assert (info.status, info.stage) == ("failed", "studio_register_panels")
    assert "boom in a hook" in info.error
    assert "half-registered" not in app.host.registry.models  # its earlier registration is withdrawn
    assert app.window.isVisible()


def test_cli_lists_failed_plugins_with_traceback(make_plugin_dist, capsys):
    make_plugin_dist("test_plugin_import", BROKEN_IMPORT)
    assert main(["plugins", "list"]) == 0
    out = capsys.readouterr().out
    assert "failed in import: RuntimeError: this plugin cannot be imported" in out
    assert "Traceback" in out
    assert main(["plugins", "list", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert listed["test_plugin_import"]["status"] == "failed"
    assert listed["panels"]["status"] == "loaded"


def test_allow_list_loads_only_named_plugins(make_plugin_dist, monkeypatch):
    make_plugin_dist("test_plugin_import", BROKEN_IMPORT)
    monkeypatch.setenv("STUDIO_PLUGINS", "panels")
    host = discover()
    assert host.plugins["test_plugin_import"].status == "skipped"
    assert host.plugins["panels"].status == "loaded"
    assert not host.failures


def test_empty_allow_list_loads_nothing_and_the_window_explains(monkeypatch, studio_app):
    monkeypatch.setenv("STUDIO_PLUGINS", "")
    app = studio_app()
    assert all(p.status == "skipped" for p in app.host.plugins.values())
    assert app.window.tabs.tabText(0) == "Welcome"


def test_inline_plugin_registers_models():
    class Plugin:
        @hookimpl
        def studio_register_models(self, register):
            register(model_spec())

    host = PluginHost()
    host.add(Plugin(), "inline")
    assert host.registry.model("tiny").plugin == "inline"
    assert host.plugins["inline"].contributes == {"models": ["tiny"]}


@pytest.mark.parametrize("bad, message", [
    (lambda: model_spec(name="Bad Name"), "lowercase"),
    (lambda: "not a spec", "expected a ModelSpec"),
])
def test_malformed_spec_disables_the_plugin(bad, message):
    class Plugin:
        @hookimpl
        def studio_register_models(self, register):
            register(bad())

    host = PluginHost()
    info = host.add(Plugin(), "bad")
    assert info.status == "failed" and message in info.error
    assert not host.registry.models


def test_misspelled_hook_is_reported():
    class Plugin:
        @hookimpl
        def studio_register_model(self, register):  # missing "s"
            pass

    info = PluginHost().add(Plugin(), "typo")
    assert info.status == "failed" and "studio_register_model" in info.error


def test_duplicate_model_name_is_refused_for_the_second_plugin():
    class First:
        @hookimpl
        def studio_register_models(self, register):
            register(model_spec())

    class Second(First):
        pass

    host = PluginHost()
    host.add(First(), "first")
    info = host.add(Second(), "second")
    assert info.status == "failed" and "already registered by plugin 'first'" in info.error


def test_app_ready_reaches_plugins_added_later_and_failures_are_contained():
    seen = []

    class Ready:
        @hookimpl
        def studio_app_ready(self, context):
            seen.append(context.window)

    class Broken:
        @hookimpl
        def studio_register_models(self, register):
            register(model_spec())

        @hookimpl
        def studio_app_ready(self):
            raise RuntimeError("not ready")

    from studio.core.plugins import StudioContext

    host = PluginHost()
    host.add(Broken(), "broken")
    host.app_ready(StudioContext(host.registry, window="w"))
    host.add(Ready(), "late")
    assert seen == ["w"]
    assert host.plugins["broken"].stage == "studio_app_ready"
    assert "tiny" not in host.registry.models

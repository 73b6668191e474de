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


RIVAL = """
raise RuntimeError("the rival must never be imported")
"""


def test_plugin_reusing_a_built_in_name_is_refused_not_swapped_in(make_plugin_dist):
    site = make_plugin_dist("test_plugin_rival", RIVAL)
    # the rival package's entry point takes the built-in panels' name
    (site / "test_plugin_rival-0.1.dist-info" / "entry_points.txt").write_text(
        "[studio.plugins]\npanels = test_plugin_rival\n")
    host = discover()
    builtin = host.plugins["panels"]
    assert (builtin.status, builtin.distribution) == ("loaded", "generative-studio")
    assert host.registry.panels["image-canvas"].plugin == "panels"
    rival = host.plugins["panels (test_plugin_rival)"]
    assert (rival.name, rival.status, rival.distribution) == ("panels", "failed", "test_plugin_rival")
    assert "the name 'panels' is already used by generative-studio" in rival.summary
    assert rival in host.failures


def test_plugin_that_calls_sys_exit_on_import_is_disabled(make_plugin_dist, capsys):
    make_plugin_dist("test_plugin_exit", "import sys\nsys.exit('leaving on import')\n")
    host = discover()  # would raise SystemExit without the fix
    info = host.plugins["test_plugin_exit"]
    assert (info.status, info.stage) == ("failed", "import")
    assert "SystemExit: leaving on import" in info.error
    assert host.plugins["panels"].status == "loaded"


def test_plugin_that_calls_sys_exit_in_a_hook_is_disabled():
    import sys

    class Quitter:
        @hookimpl
        def studio_register_models(self, register):
            register(model_spec())
            sys.exit(3)

    host = PluginHost()
    info = host.add(Quitter(), "quitter")
    assert (info.status, info.stage) == ("failed", "studio_register_models")
    assert "SystemExit: 3" in info.error
    assert "tiny" not in host.registry.models


def test_keyboard_interrupt_in_a_plugin_still_stops_the_studio():
    class Interrupted:
        @hookimpl
        def studio_register_models(self, register):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        PluginHost().add(Interrupted(), "interrupted")


REQUIRED_FIELD = """
from dataclasses import dataclass
from studio import hookimpl
from studio.core.specs import ModelSpec

@dataclass
class Config:
    size: int  # no default

@hookimpl
def studio_register_models(register):
    register(ModelSpec(name="needs-size", title="Needs size", family="test",
                       capabilities=("LatentCodec",), config=Config, factory="builtins:object"))
"""


def test_config_field_without_default_disables_the_plugin_and_models_list_works(make_plugin_dist, capsys):
    make_plugin_dist("test_plugin_required", REQUIRED_FIELD)
    host = discover()
    info = host.plugins["test_plugin_required"]
    assert (info.status, info.stage) == ("failed", "studio_register_models")
    assert "every config field needs a default" in info.error and "size has none" in info.error
    assert "needs-size" not in host.registry.models
    assert main(["models", "list", "--json"]) == 0  # crashed calling Config() before
    names = [m["name"] for m in json.loads(capsys.readouterr().out)["models"]]
    assert "needs-size" not in names


def test_config_with_default_factory_is_accepted():
    from dataclasses import field

    @dataclass
    class ListConfig:
        sizes: list = field(default_factory=lambda: [1, 2])

    spec = ModelSpec(name="lists", title="Lists", family="test", capabilities=("LatentCodec",),
                     config=ListConfig, factory="builtins:object")
    spec.validate()


def test_unknown_names_in_the_allow_list_are_reported(monkeypatch, capsys, qtbot):
    monkeypatch.setenv("STUDIO_PLUGINS", "panels,no-such-plugin")
    host = discover()
    missing = host.plugins["no-such-plugin"]
    assert missing.status == "not found"
    assert "no installed plugin has this name" in missing.summary
    assert host.plugins["panels"].status == "loaded"

    assert main(["plugins", "list"]) == 0
    out, err = capsys.readouterr()
    assert "no-such-plugin" in out and "not found" in out
    assert "warning: STUDIO_PLUGINS names 'no-such-plugin', but no installed plugin" in err
    assert main(["plugins", "list", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert listed["no-such-plugin"]["status"] == "not found"

    dialog = PluginsDialog(host)
    qtbot.addWidget(dialog)
    statuses = {dialog.table.item(r, 0).text(): dialog.table.item(r, 3).text() for r in range(dialog.table.rowCount())}
    assert statuses["no-such-plugin"].startswith("not found")


def test_a_plugin_that_failed_is_seen_in_the_window_the_panels_and_the_jobs(make_plugin_dist, studio_app, tmp_path):
    from studio.core.workspace import Workspace, choose_workspace

    make_plugin_dist("test_plugin_markovish", BROKEN_IMPORT)
    workspace = Workspace.open(choose_workspace())  # a run of that plugin's model, from before it broke
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.safetensors").write_bytes(b"weights")
    workspace.store.add_job("old-run", "markovish", str(run), {"title": "Markovish on poems"}, 10)
    workspace.store.update_job("old-run", status="cancelled", step=5)
    workspace.store.add_checkpoint("markovish", str(run / "checkpoint.safetensors"), 5)
    workspace.close()

    app = studio_app()
    warning = app.window.plugin_warning
    assert "test_plugin_markovish failed to load" in warning.text() and not warning.isHidden()
    body = app.window.panels["text-composer"].stack.empty.body_text
    assert "failed to load: test_plugin_markovish" in body and "no enabled plugin provides (markovish)" in body
    dock = app.window.jobs_dock
    dock.reload()
    assert dock.table.item(0, 1).text() == "cancelled, model's plugin missing"
    assert dock.table.cellWidget(0, 4) is None  # no Resume for a model that is not there
    with pytest.raises(Exception, match="test_plugin_markovish"):
        app.jobs.resume("old-run")

"""Pytest fixtures for testing a plugin, shipped with the studio (as napari ships ``make_napari_viewer``).

Installing the studio registers this module as a pytest plugin (the ``pytest11``
entry point ``studio``), so a plugin's tests can ask for these fixtures with no
conftest:

- ``make_studio_host(*plugins, builtins=True)``: a plugin host with the
  installed plugins (``builtins=False``: none) and the given plugin modules
  loaded; fails the test with the plugin's traceback if one does not load.
- ``studio_data(kind, ...)``: a tiny dataset of a data kind, as a trainer gets
  it (a :class:`~studio.core.data.DataSplit`): ``"images"`` (scikit-learn's
  handwritten digits at the ``size`` and ``channels`` asked for) or
  ``"text"`` (a stretch of the Shakespeare the studio bundles) or ``"music"``
  (a few of music21's Bach chorales as four-track Scores, whole pieces in each part).
- ``make_studio_checkpoint(model, data=None, steps=20, **settings)``: train a
  model that many steps with its own trainer and save it as a run folder (the
  checkpoint and its ``job.json``); returns the checkpoint's path.
- ``make_studio_panel(name, checkpoint=None, host=None)``: the studio's window
  on a new workspace in a temporary folder, showing the panel ``name`` with
  the checkpoint chosen; returns the panel (needs pytest-qt). Drive it as an
  artist would (click its buttons) and wait with ``qtbot.waitUntil``.

Every fixture works in a temporary folder and changes no settings of yours.
This module imports only pytest until a fixture is used.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

#: the data argument (``studio train --data``) of each kind's tiny dataset: what ``job.json`` records,
#: so a panel that maps a model's training data (the latent explorer) finds it
TINY_SOURCES = {"images": "digits", "text": "shakespeare", "music": "bach-chorales"}
#: characters of Shakespeare in the tiny text dataset
TINY_TEXT_LENGTH = 20_000
#: chorales in the tiny music dataset
TINY_CHORALES = 8


def tiny_data(kind: str, *, size: int = 16, channels: int = 1, seed: int = 0) -> Any:
    """A tiny dataset of ``kind``, split as a trainer receives it."""
    from studio.core.data.images import load_digits

    if kind == "images":
        return load_digits(size=size, channels=channels).split(seed=seed)
    if kind == "text":
        from studio.core.data.text import TextCorpus, load_shakespeare

        text = load_shakespeare().text[:TINY_TEXT_LENGTH]
        return TextCorpus("Shakespeare (a stretch)", text).split(seed=seed)
    if kind == "music":
        from studio.core.data.music import MusicSet

        return MusicSet("Bach chorales (a few)", list(_tiny_chorales())).split(seed=seed)
    raise ValueError(f"The studio has no tiny dataset of kind {kind!r} yet; it has {sorted(TINY_SOURCES)}.")


@functools.lru_cache(maxsize=1)
def _tiny_chorales() -> tuple[Any, ...]:
    """The first :data:`TINY_CHORALES` of music21's chorales with four sung parts (parsed once a session:
    music21 takes a tenth of a second a chorale)."""
    from studio.core.data import DataError
    from studio.core.data.music import bach_chorale, chorale_names

    scores = []
    for name in chorale_names():
        try:
            scores.append(bach_chorale(name))
        except DataError:  # one with its sung parts named after the instruments doubling them
            continue
        if len(scores) == TINY_CHORALES:
            break
    return tuple(scores)


@pytest.fixture
def studio_data() -> Callable[..., Any]:
    """``studio_data(kind, size=16, channels=1, seed=0)``: a tiny DataSplit of ``"images"``, ``"text"`` or
    ``"music"``."""
    return tiny_data


@pytest.fixture
def make_studio_host() -> Callable[..., Any]:
    """``make_studio_host(*plugin_modules, builtins=True)``: a PluginHost with the installed plugins (or
    none) and these modules loaded; fails the test with the traceback of any plugin that failed."""

    def make(*plugins: Any, builtins: bool = True) -> Any:
        from studio.core.plugins import PluginHost, discover

        host = discover() if builtins else PluginHost()
        for plugin in plugins:
            if any(info.module == plugin.__name__ and info.status == "loaded" for info in host.plugins.values()):
                continue  # installed, so already loaded through its entry point
            host.add(plugin, _entry_point_name(plugin))
        failed = [info for info in host.plugins.values() if info.status == "failed"]
        if failed:
            pytest.fail("\n\n".join(f"The plugin {info.name} failed to load ({info.stage}):\n{info.error}"
                                    for info in failed), pytrace=False)
        return host

    return make


def _entry_point_name(plugin: Any) -> str:
    """The name a plugin module has as an installed entry point (found in its distribution's metadata
    even when the module is imported from a source folder), else its module's name."""
    from importlib import metadata

    for entry_point in metadata.entry_points(group="studio.plugins"):
        if entry_point.value == plugin.__name__:
            return entry_point.name
    return plugin.__name__.rpartition(".")[2]


@pytest.fixture
def make_studio_checkpoint(tmp_path_factory, make_studio_host) -> Callable[..., Path]:
    """``make_studio_checkpoint(model, data=None, steps=20, seed=0, host=None, **settings)``: train
    ``model`` (on its kind's tiny dataset unless ``data`` is given) and save a run folder; the
    checkpoint's path."""

    def make(model: str, data: Any = None, steps: int = 20, *, seed: int = 0, host: Any = None,
             **settings: Any) -> Path:
        from studio.core.checkpoint import save_checkpoint
        from studio.core.config import config_dict
        from studio.core.specs import resolve

        spec = (host or make_studio_host()).registry.model(model)
        config = spec.config(**settings)
        if data is None:
            shape = {k: getattr(config, k) for k in ("image_size", "channels") if hasattr(config, k)}
            data = tiny_data(spec.data_kind, **({"size": shape["image_size"], "channels": shape["channels"]}
                                                if shape else {}), seed=seed)
        trainer = resolve(spec.trainer)(config, data, device="cpu", seed=seed)
        for _ in trainer.steps(0, steps):
            pass
        folder = tmp_path_factory.mktemp(model)
        save_checkpoint(folder / "checkpoint.safetensors", spec.name, trainer.config, steps, trainer.state())
        job = {"model": spec.name, "data": TINY_SOURCES.get(spec.data_kind), "steps": steps, "seed": seed,
               "config": config_dict(trainer.config), "upstream": {}, "start_from": None}
        (folder / "job.json").write_text(json.dumps(job, indent=2))
        return folder / "checkpoint.safetensors"

    return make


@pytest.fixture
def make_studio_panel(request, tmp_path_factory, monkeypatch) -> Callable[..., Any]:
    """``make_studio_panel(name, checkpoint=None, host=None)``: the studio's window on a new workspace,
    showing panel ``name`` with ``checkpoint`` chosen; the panel. Needs pytest-qt."""
    qtbot = request.getfixturevalue("qtbot")  # pytest-qt: the window is closed after the test
    apps: list[Any] = []

    def make(name: str, checkpoint: Optional[Path] = None, host: Any = None) -> Any:
        from PySide6.QtCore import QSettings

        from studio.core.checkpoint import read_header
        from studio.core.plugins import discover
        from studio.core.workspace import choose_workspace
        from studio.ui.app import StudioApp, make_qapplication
        from studio.ui.settings import Settings

        root = tmp_path_factory.mktemp("studio")
        monkeypatch.setenv("STUDIO_WORKSPACE", str(root / "workspace"))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "config"))
        make_qapplication()
        QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(root / "config"))
        app = StudioApp(host or discover(), Settings(), "cpu")
        assert app.open(choose_workspace()), "the studio could not open its workspace"
        qtbot.addWidget(app.window)
        apps.append(app)
        if name not in app.window.panels:
            pytest.fail(f"No panel named {name!r}; there are {sorted(app.window.panels)}.", pytrace=False)
        if checkpoint is not None:
            header = read_header(checkpoint)
            app.workspace.store.add_checkpoint(header.spec, str(checkpoint), header.step)
            app.window.refresh_panels()
        app.window.show_panel(name)
        panel = app.window.panels[name]
        if checkpoint is not None and not panel.picker.select(str(checkpoint)):
            pytest.fail(f"The {name} panel does not list {checkpoint} (does its model offer the panel's "
                        "capability?).", pytrace=False)
        return panel

    yield make
    for app in apps:
        _end_jobs(app)
        app.close()


def _end_jobs(app: Any) -> None:
    """Jobs outlive the app by design, but not a test: end the job processes it started."""
    import contextlib
    import os
    import signal

    for job in app.jobs.manager.jobs() if app.jobs is not None else ():
        if job.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(job.pid, signal.SIGKILL)

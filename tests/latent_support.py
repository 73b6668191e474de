"""What the Latent Explorer tests share: one VAE (z=2) trained per session on Fashion-MNIST at
16x16 (about 15 s on a busy 2-core machine), recorded in each test's workspace like a finished
job, the panel showing its map, and ways to drive the panel."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from needs import FASHION_MNIST_MISSING, needs
from PySide6.QtWidgets import QFileDialog

from studio.core.checkpoint import save_checkpoint
from studio.core.config import config_dict
from studio.core.data.images import fashion_mnist_available
from studio.core.imaging import save_png

STEPS = 200


@pytest.fixture(scope="session")
def trained_vae():
    needs(fashion_mnist_available(), FASHION_MNIST_MISSING)

    from studio.core.data import load_data
    from studio.core.plugins import discover
    from studio.core.specs import resolve

    registry = discover().registry
    spec = registry.model("vae")
    config = dataclasses.replace(spec.config(), image_size=16, batch_size=32, learning_rate=3e-3)
    data = load_data(registry, "images", "fashion-mnist", config).split(seed=0)
    trainer = resolve(spec.trainer)(config, data, device="cpu", seed=0)
    for _ in trainer.steps(0, STEPS):
        pass
    return SimpleNamespace(config=config, state=trainer.state(), model=trainer.model.eval(), data=data)


def add_checkpoint(app, trained, name="vae-test", step=STEPS) -> str:
    """Save the trained VAE into the workspace as a finished job would, and catalogue it."""
    folder = app.workspace.folder("jobs") / name
    path = folder / "checkpoint.safetensors"
    save_checkpoint(path, "vae", trained.config, step, trained.state)
    job = {"model": "vae", "data": "fashion-mnist", "steps": step, "seed": 0, "config": config_dict(trained.config)}
    (folder / "job.json").write_text(json.dumps(job))
    app.workspace.store.add_checkpoint("vae", str(path), step)
    return str(path)


@pytest.fixture
def explorer(studio_app, trained_vae, qtbot):
    app = studio_app()
    add_checkpoint(app, trained_vae)
    app.window.refresh_panels()  # what a finished job's checkpoint event does
    app.window.show_panel("latent-explorer")
    panel = app.window.panels["latent-explorer"]
    qtbot.waitUntil(lambda: panel.state.data_map is not None, timeout=60_000)
    qtbot.waitUntil(lambda: panel.view.array is not None and panel.morph.strip.frames is not None)
    panel.app = app
    return panel


def latent_of(panel):
    """The latent of the image in the big view."""
    return panel.state.shown.latent


def strip_params(tool) -> dict:
    """The parameters of the frames a tool (the state's morph or walk) made, or {} before any."""
    return {} if tool.strip is None else tool.strip.params


def wait_for_new_image(qtbot, panel, before):
    qtbot.waitUntil(lambda: panel.view.array is not None and not np.array_equal(panel.view.array, before))
    return panel.view.array.copy()


def flush(qtbot, panel) -> None:
    """Wait until every request queued on the inference thread so far has run and its callbacks arrived."""
    done = []
    panel.context.inference.submit(None, lambda _model, _ctx: None, on_result=done.append)
    qtbot.waitUntil(lambda: bool(done))


def hold_the_worker(panel):
    """Keep the inference thread busy until the returned event is set (requests queue up behind it)."""
    gate = threading.Event()
    panel.context.inference.worker.submit(None, lambda _model, _ctx: gate.wait(10))
    return gate


def choose_data(panel, name: str) -> None:
    index = panel.data.findData(name)
    panel.data.setCurrentIndex(index)
    panel.data.activated.emit(index)  # as when the artist picks it


def make_folders(explorer, tmp_path) -> None:
    """Two folders of the map's images: T-shirts (without "the attribute") and trousers (with it)."""
    data = explorer.state.data_map
    for folder, label in (("plain", 0), ("trousers", 1)):
        (tmp_path / folder).mkdir()
        for i in np.flatnonzero(data.labels == label)[:12]:
            save_png(data.images[i], tmp_path / folder / f"{i}.png")
    for edit, folder in zip(explorer.attributes.folder_edits, ("plain", "trousers"), strict=True):
        edit.setText(str(tmp_path / folder))


def make_folder_vector(explorer, qtbot, tmp_path) -> None:
    make_folders(explorer, tmp_path)
    explorer.tools.setCurrentWidget(explorer.attributes)
    explorer.attributes.folders_requested.emit(*(e.text() for e in explorer.attributes.folder_edits))
    qtbot.waitUntil(lambda: "trousers − plain" in explorer.state.attributes.vectors)


def answer_save_dialog(monkeypatch, path: Path, chosen="PNG image (*.png)") -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(path), chosen))

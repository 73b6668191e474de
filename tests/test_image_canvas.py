"""The Image Canvas: sample a grid with a seed, pick an image, export it, drop it back."""

import numpy as np
import pytest
from drag_and_drop import drop
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from studio.core.checkpoint import save_checkpoint
from studio.core.data import load_data
from studio.core.imaging import read_png_params
from studio.core.plugins import discover
from studio.core.specs import resolve


@pytest.fixture(scope="module")
def vae_file(tmp_path_factory):
    """A small VAE checkpoint (16x16 digits, a few steps: what it draws doesn't matter here)."""
    registry = discover().registry
    spec = registry.model("vae")
    config = spec.config(image_size=16, batch_size=32)
    trainer = resolve(spec.trainer)(config, load_data(registry, "images", "digits", config).split(), seed=0)
    for _ in trainer.steps(0, 5):
        pass
    path = tmp_path_factory.mktemp("models") / "vae.safetensors"
    save_checkpoint(path, "vae", trainer.config, 5, trainer.state())
    return path


@pytest.fixture
def canvas(studio_app, vae_file, qtbot):
    app = studio_app()
    app.workspace.store.add_checkpoint("vae", str(vae_file), 5)
    app.window.refresh_panels()
    panel = app.window.panels["image-canvas"]
    app.window.show_panel("image-canvas")
    assert panel.has_content()
    return panel


def sample(panel, qtbot, seed):
    panel.seed.setValue(seed)
    before = panel.state.grid
    panel.sample_button.click()
    qtbot.waitUntil(lambda: panel.state.grid is not None and panel.state.grid is not before)
    return panel.state.grid.images.copy()


def test_without_a_trained_model_the_canvas_says_how_to_get_one(studio_app):
    panel = studio_app().window.panels["image-canvas"]
    assert not panel.has_content()
    assert "studio train diffusion --data" in panel.stack.empty.body_text


def test_the_same_seed_gives_the_same_grid_and_another_seed_another(canvas, qtbot):
    canvas.count.setValue(9)
    first = sample(canvas, qtbot, 7)
    assert first.shape == (9, 16, 16, 1)
    assert np.array_equal(first, sample(canvas, qtbot, 7))
    assert not np.allclose(first, sample(canvas, qtbot, 8))
    assert canvas.grid_view.array is not None


def test_clicking_a_tile_shows_it_large(canvas, qtbot):
    canvas.count.setValue(4)
    sample(canvas, qtbot, 1)
    canvas.resize(900, 600)
    qtbot.waitUntil(lambda: not canvas.grid_view.pixmap().isNull())
    pixmap = canvas.grid_view.pixmap()
    left = (canvas.grid_view.width() - pixmap.width()) / 2
    top = (canvas.grid_view.height() - pixmap.height()) / 2
    # the centre of the bottom-right tile of a 2x2 grid
    index = canvas.tile_at(left + pixmap.width() * 0.75, top + pixmap.height() * 0.75)
    assert index == 3
    qtbot.mouseClick(canvas.grid_view, Qt.LeftButton, pos=QPoint(int(left + pixmap.width() * 0.75),
                                                                 int(top + pixmap.height() * 0.75)))
    assert canvas.state.selected == 3
    assert np.array_equal(canvas.detail_view.array, canvas.state.grid.images[3])


def test_export_then_drop_back_restores_the_same_images(canvas, qtbot, tmp_path, monkeypatch):
    canvas.count.setValue(4)
    made = sample(canvas, qtbot, 42)
    canvas.state.select(2)
    target = tmp_path / "picked.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PNG image (*.png)"))
    canvas.export(single=True)
    params = read_png_params(target)
    assert params["seed"] == 42 and params["index"] == 2 and params["model"] == "vae"
    assert len(params["checkpoint_sha256"]) == 64
    assert canvas.context.workspace.store.artifacts()[-1]["path"] == str(target)

    canvas.seed.setValue(0)
    canvas.count.setValue(1)
    before = canvas.state.grid
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    assert not drop(canvas, notes)
    assert drop(canvas, target)
    qtbot.waitUntil(lambda: canvas.state.grid is not before)
    assert canvas.seed.value() == 42 and canvas.count.value() == 4
    assert np.array_equal(canvas.state.grid.images, made)


def test_a_png_without_settings_is_refused_and_nothing_changes(canvas, qtbot, tmp_path, monkeypatch):
    from PIL import Image

    plain = tmp_path / "plain.png"
    Image.new("L", (8, 8)).save(plain)
    told = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: told.append(text))
    canvas.seed.setValue(5)
    canvas.import_file(plain)
    assert told and "carries no settings to restore" in told[0]
    assert canvas.seed.value() == 5


def test_a_model_already_in_the_workspace_draws_a_grid_when_the_studio_opens(studio_app, vae_file, qtbot):
    from studio.core.workspace import Workspace, choose_workspace

    workspace = Workspace.open(choose_workspace())
    workspace.store.add_checkpoint("vae", str(vae_file), 5)
    workspace.close()
    panel = studio_app().window.panels["image-canvas"]
    assert panel.has_content()
    qtbot.waitUntil(lambda: panel.state.grid is not None)  # without pressing Sample
    params = panel.state.grid.params
    assert params["checkpoint"] == str(vae_file) and params["seed"] == panel.seed.value()
    assert panel.grid_view.array is not None


def test_an_image_view_shows_its_hint_until_there_is_an_image(qtbot):
    from studio.ui.widgets.image_view import ImageView

    view = ImageView("Click an image")
    qtbot.addWidget(view)
    view.resize(120, 120)
    view.show()
    assert view.text() == "Click an image"
    view.set_image(np.zeros((8, 8), np.float32))
    assert view.text() == "" and view.pixmap().width() == 120  # enlarged by whole pixels
    view.set_image(None)
    assert view.text() == "Click an image" and view.pixmap().isNull()


def test_edit_undo_shows_the_grid_before_and_its_seed(canvas, qtbot):
    from PySide6.QtGui import QAction

    canvas.count.setValue(4)
    first = sample(canvas, qtbot, 1)
    second = sample(canvas, qtbot, 2)
    window = canvas.window()
    undo, redo = window.findChild(QAction, "Undo"), window.findChild(QAction, "Redo")
    assert undo.isEnabled() and undo.text().replace("&", "") == "Undo Sample 4 images (seed 2)"
    undo.trigger()  # Edit ▸ Undo
    assert np.array_equal(canvas.state.grid.images, first) and canvas.seed.value() == 1
    assert np.array_equal(canvas.grid_view.array, canvas.state.grid.picture())
    redo.trigger()
    assert np.array_equal(canvas.state.grid.images, second) and canvas.seed.value() == 2
    window.show_panel("latent-explorer")  # Edit ▸ Undo follows the panel shown
    assert not undo.isEnabled()
    window.show_panel("image-canvas")
    assert undo.isEnabled()


def test_cancel_stops_sampling_and_keeps_the_grid_shown(canvas, qtbot):
    canvas.count.setValue(4)
    shown = sample(canvas, qtbot, 1)
    gate = __import__("threading").Event()
    canvas.context.inference.worker.submit(None, lambda _m, _c: gate.wait(10))  # the thread is busy
    canvas.seed.setValue(99)
    canvas.sample_button.click()
    assert canvas.task_bar.isVisible() and "Sampling 4 images" in canvas.task_bar.progress.format()
    qtbot.keyClick(canvas.sample_button, Qt.Key_Escape)
    assert not canvas.task_bar.isVisible()
    gate.set()
    done = []
    canvas.context.inference.submit(None, lambda _m, _c: None, on_result=done.append)
    qtbot.waitUntil(lambda: bool(done))
    assert np.array_equal(canvas.state.grid.images, shown)


def test_an_image_goes_to_the_latent_explorer_as_a_point_of_the_same_model(canvas, qtbot, vae_file):
    canvas.count.setValue(4)
    sample(canvas, qtbot, 3)
    canvas.state.select(2)
    assert canvas.send_button.isEnabled()
    canvas.send_button.click()
    window = canvas.window()
    explorer = window.panels["latent-explorer"]
    assert window.current_panel() is explorer
    assert explorer.state.choice.ref.checkpoint == str(vae_file)
    qtbot.waitUntil(lambda: explorer.state.shown is not None)
    assert explorer.state.shown.caption == "image 3 of seed 3"
    model = explorer.state  # the point is the image's own latent: decoding it gives the image back, roughly
    assert model.base is not None and model.base.shape == (2,)


def test_a_damaged_or_foreign_file_dropped_on_the_canvas_is_explained(canvas, qtbot, tmp_path, monkeypatch):
    from PIL import Image, PngImagePlugin

    told = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: told.append(text))
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text: told.append(text))
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    canvas.seed.setValue(5)
    assert drop(canvas, damaged)
    assert "damaged.png is not a readable PNG image" in told[-1] and canvas.seed.value() == 5
    qtbot.waitUntil(lambda: canvas.state.info is not None)  # the model has said what it takes
    foreign = tmp_path / "foreign.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512")
    Image.new("RGB", (8, 8)).save(foreign, pnginfo=info)
    assert drop(canvas, foreign)
    assert canvas.seed.value() == 1234, told
    assert "From foreign.png: seed 1234" in told[-1] and "sampler Euler a" in told[-1] and "size 512x512" in told[-1]

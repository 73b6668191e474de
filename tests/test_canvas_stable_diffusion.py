"""Stable Diffusion on the Image Canvas (issue 16), as an artist uses it: drop a model folder on the
canvas, write a prompt and a negative prompt, choose a size, sample, export a PNG whose parameters
another tool reads, drop it back for the same pixels; and `studio generate` with the same options."""

import hashlib
import shutil

import numpy as np
import pytest
from drag_and_drop import drop
from PySide6.QtWidgets import QFileDialog, QMessageBox
from sd_support import tiny_folder

from studio.cli import main
from studio.core.imaging import read_png_metadata
from studio.core.png_parameters import parse_parameters
from studio.ui.kit import model_panel
from studio.ui.panels.image_canvas.state import Grid

LOADING_S = 120  # the first diffusers import takes tens of seconds here


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_folder(tmp_path_factory.mktemp("sd"))


@pytest.fixture
def warnings(monkeypatch):
    said = []
    for kind in ("warning", "information"):
        monkeypatch.setattr(QMessageBox, kind, lambda parent, title, message, *a, said=said: said.append(message))
    # a failure with a traceback opens a box of its own (with Details…): a bug, unless the test expects one
    monkeypatch.setattr(model_panel, "warn", lambda parent, title, message, detail="": said.append(
        message + (f"\n[traceback]\n{detail}" if detail else "")))
    return said


@pytest.fixture
def canvas(studio_app, folder, qtbot, warnings):
    app = studio_app()
    app.window.show_panel("image-canvas")
    panel = app.window.panels["image-canvas"]
    assert drop(panel, folder)  # as from a file manager
    qtbot.waitUntil(lambda: panel.state.grid is not None or bool(warnings), timeout=LOADING_S * 1000)
    assert not warnings
    return panel


def unet_hash(folder) -> str:
    return hashlib.sha256((folder / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()).hexdigest()[:10]


def sample(panel, qtbot):
    before = panel.state.grid
    panel.sample_button.click()
    qtbot.waitUntil(lambda: panel.state.grid is not before, timeout=60_000)
    return panel.state.grid


def test_a_dropped_folder_is_imported_chosen_and_offers_its_prompts_size_and_guidance(canvas, folder):
    choice = canvas.picker.current()
    assert (choice.spec.name, choice.ref.checkpoint) == ("stable-diffusion", str(folder.resolve()))
    assert canvas.picker.combo.currentText() == "tiny-sd"
    assert not canvas.prompt_row.isHidden() and not canvas.negative_prompt.isHidden()
    assert not canvas.size_box.isHidden() and (canvas.width_spin.value(), canvas.height_spin.value()) == (32, 32)
    assert canvas.guidance.value() == 7.0  # the model's own default, not the studio's 3
    assert canvas.sampler.currentText() == "Euler a"
    assert canvas.importer.button.isVisible() and canvas.importer.button.isEnabled()


def test_prompt_negative_prompt_and_size_make_the_png_another_tool_reads_and_the_canvas_restores(
        canvas, qtbot, folder, tmp_path, monkeypatch):
    canvas.count.setValue(2)
    canvas.steps.setValue(3)
    canvas.prompt.setText("a red barn")
    canvas.negative_prompt.setText("blurry")
    canvas.width_spin.setValue(48)
    grid = sample(canvas, qtbot)
    assert grid.images.shape == (2, 32, 48, 3)
    assert grid.params["condition"] == {"prompt": "a red barn", "negative_prompt": "blurry"}
    made = grid.images.copy()

    canvas.state.select(1)
    target = tmp_path / "barn.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PNG image (*.png)"))
    canvas.export(single=True)
    text = read_png_metadata(target).parameters
    lines = text.splitlines()
    assert lines[0] == "a red barn" and lines[1] == "Negative prompt: blurry"
    parsed = parse_parameters(text)
    seed = grid.params["seed"]
    assert (parsed["Steps"], parsed["Sampler"], parsed["CFG scale"], parsed["Size"]) == ("3", "Euler a", "7",
                                                                                          "48x32")
    assert parsed["Seed"] == str(seed + 1)  # the image's own seed, as the web UI writes it
    assert parsed["Model hash"] == unet_hash(folder) and parsed["Model"] == "tiny-sd"

    canvas.prompt.setText("something else")
    canvas.negative_prompt.setText("")
    canvas.width_spin.setValue(32)
    before = canvas.state.grid
    assert drop(canvas, target)
    qtbot.waitUntil(lambda: canvas.state.grid is not before, timeout=60_000)
    assert canvas.prompt.text() == "a red barn" and canvas.negative_prompt.text() == "blurry"
    assert canvas.width_spin.value() == 48
    # that image again, alone (a batch of one rounds a few float32 bits differently from a batch of two)
    np.testing.assert_allclose(canvas.state.grid.images[0], made[1], atol=1e-5)


def test_a_web_ui_png_gives_its_prompt_negative_prompt_and_size(canvas, tmp_path, warnings):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a castle\nNegative prompt: fog\nSteps: 7, Sampler: DPM++ 2M Karras, CFG scale: 5, "
                                "Seed: 99, Size: 64x40, Model hash: 0123456789, Model: other")
    path = tmp_path / "webui.png"
    Image.new("RGB", (64, 40)).save(path, pnginfo=info)
    assert drop(canvas, path)
    s = canvas.state.settings
    assert (s.prompt, s.negative_prompt, s.size, s.steps, s.sampler, s.guidance_scale, s.seed) == (
        "a castle", "fog", (64, 40), 7, "DPM++ 2M Karras", 5.0, 99)
    taken, left = warnings[-1].split("Not used:")
    assert "size 64x40" in taken and "negative prompt fog" in taken
    assert "Model hash 0123456789" in left and "negative prompt" not in left


def test_a_size_the_model_cannot_make_is_explained_and_the_grid_is_kept(canvas, qtbot, warnings):
    shown = canvas.state.grid
    canvas.width_spin.setValue(44)
    canvas.sample_button.click()
    qtbot.waitUntil(lambda: bool(warnings), timeout=60_000)
    assert "multiples of 8" in warnings[-1] and "40x32" in warnings[-1]
    assert canvas.state.grid is shown


def test_a_pickle_or_a_broken_folder_dropped_on_the_canvas_is_refused_saying_why(canvas, qtbot, tmp_path, folder,
                                                                                warnings):
    chosen = canvas.picker.current()
    pickle = tmp_path / "model.ckpt"
    pickle.write_bytes(b"\x80\x04K\x01.")
    assert drop(canvas, pickle)
    qtbot.waitUntil(lambda: bool(warnings), timeout=60_000)
    assert "pickle" in warnings[-1] and "convert" in warnings[-1].lower()
    broken = shutil.copytree(folder, tmp_path / "no-unet")
    shutil.rmtree(broken / "unet")
    assert drop(canvas, broken)
    qtbot.waitUntil(lambda: len(warnings) == 2, timeout=60_000)
    assert "unet" in warnings[-1]
    assert canvas.picker.current() == chosen and canvas.importer.button.isEnabled()


def test_studio_generate_takes_the_prompt_negative_prompt_and_size(folder, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["generate", "stable-diffusion", "--checkpoint", str(folder), "--n", "1", "--steps", "2",
                 "--prompt", "a red barn", "--negative-prompt", "blurry", "--size", "40x32", "--out", str(out)]) == 0
    metadata = read_png_metadata(out)
    assert metadata.parameters.splitlines()[:2] == ["a red barn", "Negative prompt: blurry"]
    assert parse_parameters(metadata.parameters)["Size"] == "40x32"
    assert parse_parameters(metadata.parameters)["CFG scale"] == "7"
    with pytest.raises(SystemExit) as exited:
        main(["generate", "stable-diffusion", "--checkpoint", str(folder), "--size", "big", "--out", str(out)])
    assert exited.value.code == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_clip_scores_each_image_orders_the_grid_best_first_and_the_png_keeps_the_score(
        canvas, qtbot, tmp_path, monkeypatch, warnings):
    from clip_support import BLUE, RED, coloured, save, tiny_clip, train_red_and_blue

    model, tokenizer, processor = tiny_clip(tmp_path / "clip")
    clip = save(train_red_and_blue(model, tokenizer, processor), processor, tmp_path / "clip")
    # a grid of blue, red, blue, red images "made from" the prompt "red": CLIP should put the red ones first
    rng = np.random.default_rng(3)
    blue, red = coloured(BLUE, 2, rng), coloured(RED, 2, rng)
    images = np.stack([blue[0], red[0], blue[1], red[1]])
    params = {**canvas.state.grid.params, "condition": {"prompt": "red"}, "n": 4}
    canvas.state.show(Grid(images, params))
    canvas.import_clip(str(clip))
    qtbot.waitUntil(lambda: canvas.state.scoring.scores is not None or bool(warnings), timeout=60_000)
    assert not warnings and canvas.score_check.isChecked() and canvas.scorer.currentText() == "clip"
    scores = canvas.state.scoring.scores
    assert scores.shape == (4,) and min(scores[[1, 3]]) > max(scores[[0, 2]])
    assert [label.split("CLIP ")[1] for label in canvas.grid_view.labels] == [f"{x:.1f}" for x in scores]

    canvas.best_first.setChecked(True)
    order = canvas.shown_order()
    assert set(order[:2]) == {1, 3} and order == [int(i) for i in np.argsort(-scores, kind="stable")]
    np.testing.assert_array_equal(canvas.grid_view.grid.images[0], images[order[0]])
    canvas.grid_view.tile_clicked.emit(0)  # the first tile shown is the best image
    assert canvas.state.selected == order[0] and "CLIP score" in canvas.detail_caption.text()

    target = tmp_path / "best.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PNG image (*.png)"))
    canvas.export(single=True)
    params = read_png_metadata(target).params
    assert params["clip_score"] == round(float(scores[order[0]]), 2) and params["clip_scorer"] == "clip"

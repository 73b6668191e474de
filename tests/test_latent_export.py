"""Latent Explorer exports: PNGs and GIFs carry what made them, dropping one back restores
the view (points, morphs, attribute vectors, walks), and bad files change nothing."""

from __future__ import annotations

import numpy as np
from drag_and_drop import drop
from latent_support import (
    STEPS,
    add_checkpoint,
    answer_save_dialog,
    latent_of,
    make_folder_vector,
    strip_params,
    wait_for_new_image,
)
from PIL import Image
from PySide6.QtWidgets import QFileDialog, QMessageBox

from studio.core.imaging import read_png_params, save_png, to_uint8
from studio.ui.panels.latent_explorer.map_view import Pick


def test_an_attribute_export_restores_its_vector_a_class_or_a_folder_one(explorer, qtbot, trained_vae,
                                                                         monkeypatch, tmp_path):
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    explorer.tools.setCurrentWidget(explorer.attributes)
    explorer.attributes.vector.setCurrentText("Trouser")
    before = explorer.view.array.copy()
    explorer.attributes.slider.setValue(100)
    wait_for_new_image(qtbot, explorer, before)
    class_latent, class_base = latent_of(explorer).copy(), explorer.state.base.copy()
    answer_save_dialog(monkeypatch, tmp_path / "class.png")
    explorer.export()

    name = "trousers − plain"
    make_folder_vector(explorer, qtbot, tmp_path)
    before = explorer.view.array.copy()
    explorer.attributes.slider.setValue(-50)
    qtbot.waitUntil(lambda: explorer.state.shown.origin.get("strength") == -0.5
                    and explorer.state.shown.origin["attribute"] == name)
    folder_latent = latent_of(explorer).copy()
    vector = explorer.state.attributes.vectors[name].copy()
    answer_save_dialog(monkeypatch, tmp_path / "folder.png")
    explorer.export()
    params = read_png_params(tmp_path / "folder.png")
    np.testing.assert_allclose(params["vector"], vector)  # the vector travels in the file

    other = add_checkpoint(explorer.app, trained_vae, "vae-other", step=STEPS + 1)
    explorer.refresh()
    assert explorer.picker.select(other)
    qtbot.waitUntil(lambda: explorer.state.data_map is not None, timeout=30_000)
    assert name not in explorer.state.attributes.vectors

    drop(explorer, tmp_path / "folder.png")  # back to the first model, whose map is made again
    qtbot.waitUntil(lambda: explorer.state.data_map is not None and explorer.state.shown is not None
                    and np.array_equal(latent_of(explorer), folder_latent), timeout=30_000)
    assert explorer.attributes.name() == name and explorer.attributes.strength() == -0.5
    np.testing.assert_allclose(explorer.state.attributes.vectors[name], vector)
    assert "Trouser" in explorer.state.attributes.vectors and explorer.tools.currentWidget() is explorer.attributes
    explorer.attributes.slider.setValue(-100)  # going on with the restored vector
    qtbot.waitUntil(lambda: explorer.state.shown.origin.get("strength") == -1.0)
    np.testing.assert_allclose(latent_of(explorer), explorer.state.base - vector, atol=1e-6)

    drop(explorer, tmp_path / "class.png")
    qtbot.waitUntil(lambda: np.array_equal(latent_of(explorer), class_latent))
    assert explorer.attributes.name() == "Trouser" and explorer.attributes.strength() == 1.0
    np.testing.assert_array_equal(explorer.state.base, class_base)
    assert warnings == []

    params.pop("vector")  # from before vectors travelled, and a vector this studio never made
    params["attribute"] = "smiling − neutral"
    save_png(np.zeros((8, 8, 1), np.float32), tmp_path / "old.png", params)
    drop(explorer, tmp_path / "old.png")  # restored on the inference thread: its checkpoint's hash is checked
    qtbot.waitUntil(lambda: bool(warnings) and "“smiling − neutral” is not known here" in warnings[-1])
    assert explorer.attributes.strength() == 0.0
    qtbot.waitUntil(lambda: np.array_equal(latent_of(explorer), folder_latent))  # the image itself is restored


def test_a_walk_export_restores_the_walk(explorer, qtbot, monkeypatch, tmp_path):
    explorer.map.picked.emit(Pick(0.4, 0.2, "current", None, True))
    explorer.tools.setCurrentWidget(explorer.walk)
    explorer.walk.direction.setCurrentIndex(explorer.walk.direction.findData("z1"))
    explorer.walk.extent.setValue(1.5)
    explorer.walk.steps.setValue(7)
    wanted = {"mode": "walk", "centre": [0.4000000059604645, 0.20000000298023224], "direction": "z1",
              "extent": 1.5, "steps": 7}
    qtbot.waitUntil(lambda: strip_params(explorer.state.walk) == wanted)
    explorer.walk.strip.slider.setValue(2)
    frame = latent_of(explorer).copy()
    answer_save_dialog(monkeypatch, tmp_path / "walk", "PNG sheet (*.png)")
    explorer.export_what("walk")
    answer_save_dialog(monkeypatch, tmp_path / "frame.png")
    explorer.export()

    explorer.map.picked.emit(Pick(-1.0, 1.0, "current", None, True))  # another walk elsewhere
    explorer.walk.direction.setCurrentIndex(explorer.walk.direction.findData("z2"))
    explorer.walk.steps.setValue(11)
    qtbot.waitUntil(lambda: explorer.state.walk.strip.params["steps"] == 11)
    explorer.tools.setCurrentWidget(explorer.morph)

    explorer.import_file(tmp_path / "walk.png")
    qtbot.waitUntil(lambda: explorer.tools.currentWidget() is explorer.walk)
    qtbot.waitUntil(lambda: explorer.state.walk.strip.params == wanted)
    np.testing.assert_allclose(explorer.state.base, [0.4, 0.2], atol=1e-7)
    assert explorer.walk.settings() == {"direction": "z1", "extent": 1.5, "steps": 7}

    explorer.import_file(tmp_path / "frame.png")
    qtbot.waitUntil(lambda: np.array_equal(latent_of(explorer), frame) and explorer.walk.strip.selected == 2)
    assert explorer.state.shown.origin["mode"] == "walk" and explorer.state.shown.origin["frame"] == 2
    assert explorer.caption.text() == "restored from frame.png"


def test_exports_are_enlarged_by_whole_pixels_to_the_size_chosen(explorer, monkeypatch, tmp_path):
    from studio.ui.panels.latent_explorer.scaling import scale_factor

    assert scale_factor((28, 28, 1), 256) == 10 and scale_factor((32, 32, 3), 256) == 8
    assert scale_factor((16, 16, 1), 0) == 1 and scale_factor((300, 40, 1), 256) == 1
    assert explorer.export_sizes[256].isChecked()  # the default
    for side, size in ((0, 16), (512, 512)):
        explorer.export_sizes[side].trigger()  # Export ▸ Size
        answer_save_dialog(monkeypatch, tmp_path / f"{side}.png")
        explorer.export()
        with Image.open(tmp_path / f"{side}.png") as png:
            assert png.size == (size, size)
        params = read_png_params(tmp_path / f"{side}.png")
        assert params["scale"] == size // 16 and params["latent"] == latent_of(explorer).tolist()
    from studio.ui.panels.latent_explorer.panel import EXPORT_SIDE
    from studio.ui.settings import Settings

    another_window = Settings()
    another_window.declare([EXPORT_SIDE])
    assert another_window.get("latent-explorer/export-side") == 512  # the choice is remembered


def test_export_then_drop_back_restores_the_point_and_the_model(explorer, qtbot, monkeypatch, tmp_path,
                                                               trained_vae):
    original = explorer.state.choice.ref.checkpoint
    explorer.map.picked.emit(Pick(1.0, -0.5, "current", None, True))
    qtbot.waitUntil(lambda: explorer.caption.text().startswith("map point (1.00"))
    latent, image = latent_of(explorer).copy(), explorer.view.array.copy()
    answer_save_dialog(monkeypatch, tmp_path / "point.png")
    explorer.app.window.export()  # File ▸ Export
    params = read_png_params(tmp_path / "point.png")
    assert params["model"] == "vae" and params["checkpoint"] == original and params["mode"] == "point"
    assert len(params["checkpoint_sha256"]) == 64 and params["latent"] == latent.tolist()

    other = add_checkpoint(explorer.app, trained_vae, "vae-other", step=STEPS + 1)
    explorer.refresh()
    assert explorer.picker.select(other)
    qtbot.waitUntil(lambda: explorer.state.data_map is not None and explorer.state.shown is not None)
    assert not np.array_equal(latent_of(explorer), latent)

    drop(explorer, tmp_path / "point.png")
    qtbot.waitUntil(lambda: explorer.state.choice.ref.checkpoint == original)
    qtbot.waitUntil(lambda: explorer.view.array is not None and np.array_equal(to_uint8(explorer.view.array),
                                                                                 to_uint8(image)))
    np.testing.assert_array_equal(latent_of(explorer), latent)  # with its image, not before
    np.testing.assert_array_equal(explorer.state.base, latent)

    qtbot.waitUntil(lambda: explorer.state.morph.strip is not None)  # the new map's morph comes after the image
    explorer.morph.strip.slider.setValue(6)  # a morph frame restores its morph too
    answer_save_dialog(monkeypatch, tmp_path / "sheet", "PNG sheet (*.png)")
    explorer.export_what("morph")
    sheet = read_png_params(tmp_path / "sheet.png")
    assert sheet["mode"] == "morph" and sheet["steps"] == 10 and "latent" not in sheet
    answer_save_dialog(monkeypatch, tmp_path / "morph", "Animated GIF (*.gif)")
    explorer.export_what("morph")
    with Image.open(tmp_path / "morph.gif") as gif:
        assert gif.n_frames == 10 and gif.size == (256, 256)  # each frame enlarged, as the sheet's are
    assert sheet["scale"] == 16
    answer_save_dialog(monkeypatch, tmp_path / "frame.png")
    explorer.app.window.export()
    frame = latent_of(explorer).copy()
    a, b = explorer.state.morph.ends["a"].latent.copy(), explorer.state.morph.ends["b"].latent.copy()
    explorer.map.picked.emit(Pick(0.0, 0.0, "a", None, True))  # change the morph, then restore it
    explorer.import_file(tmp_path / "frame.png")  # what File ▸ Import calls
    qtbot.waitUntil(lambda: np.array_equal(explorer.state.morph.ends["a"].latent, a))
    np.testing.assert_array_equal(explorer.state.morph.ends["b"].latent, b)
    qtbot.waitUntil(lambda: np.array_equal(latent_of(explorer), frame))
    qtbot.waitUntil(lambda: explorer.morph.strip.selected == 6 and explorer.state.morph.strip.params["a"] == a.tolist())


def test_bad_pngs_are_explained_and_change_nothing(explorer, qtbot, monkeypatch, tmp_path):
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    latent, checkpoint = latent_of(explorer).copy(), explorer.state.choice.ref.checkpoint

    plain = tmp_path / "plain.png"
    save_png(np.zeros((8, 8, 1), np.float32), plain)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(plain), ""))
    explorer.app.window.import_file()  # File ▸ Import
    assert "carries no Generative Studio parameters" in warnings[-1]

    answer_save_dialog(monkeypatch, tmp_path / "made.png")
    explorer.export()
    params = read_png_params(tmp_path / "made.png")
    params.update(checkpoint="/nowhere/checkpoint.safetensors", checkpoint_sha256="0" * 64,
                  latent=[9.0, 9.0])
    moved = tmp_path / "moved.png"
    save_png(np.zeros((8, 8, 1), np.float32), moved, params)
    drop(explorer, moved)
    qtbot.waitUntil(lambda: len(warnings) == 2)
    assert "is not here" in warnings[-1] and "/nowhere/checkpoint.safetensors" in warnings[-1]
    assert "nothing was changed" in warnings[-1]

    qtbot.wait(100)
    np.testing.assert_array_equal(latent_of(explorer), latent)
    assert explorer.state.choice.ref.checkpoint == checkpoint and len(warnings) == 2

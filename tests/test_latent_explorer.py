"""The Latent Explorer: the map, clicks and drags that decode, morphs that end on the
reconstructions, attribute vectors that work, walks and prior grids, long work that can be
cancelled."""

from __future__ import annotations

import dataclasses

import numpy as np
from latent_support import (
    STEPS,
    add_checkpoint,
    answer_save_dialog,
    choose_data,
    flush,
    hold_the_worker,
    latent_of,
    make_folder_vector,
    make_folders,
    strip_params,
    wait_for_new_image,
)
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QPushButton

from studio.core.checkpoint import save_checkpoint
from studio.core.imaging import read_png_params, to_uint8
from studio.ui.panels.latent_explorer.map_view import Pick


def test_a_larger_latent_is_mapped_by_pca_and_clicks_map_back(studio_app, qtbot):

    from studio.core.data import load_data
    from studio.core.plugins import discover
    from studio.core.specs import resolve

    registry = discover().registry
    config = dataclasses.replace(registry.model("vae").config(), latent_dim=4, image_size=16, batch_size=32)
    trainer = resolve(registry.model("vae").trainer)(config, load_data(registry, "images", "digits", config).split(0))
    for _ in trainer.steps(0, 30):
        pass
    app = studio_app()
    path = app.workspace.folder("checkpoints") / "vae-z4.safetensors"
    save_checkpoint(path, "vae", config, 30, trainer.state())
    app.workspace.store.add_checkpoint("vae", str(path), 30)
    app.window.refresh_panels()
    app.window.show_panel("latent-explorer")
    panel = app.window.panels["latent-explorer"]
    qtbot.waitUntil(lambda: panel.state.data_map is not None and panel.view.array is not None, timeout=60_000)
    data = panel.state.data_map
    assert data.latents.shape[1] == 4 and data.projection.is_pca
    bottom = panel.map.plot.getPlotItem().getAxis("bottom").labelText
    assert bottom == f"PC1 ({data.principal.explained[0]:.0%} of variance)"

    panel.map.click(QPointF(0.8, -0.4), Qt.NoModifier)
    qtbot.waitUntil(lambda: panel.caption.text().startswith("map point (0.80"))
    expected = data.principal.mean + 0.8 * data.principal.directions[0] - 0.4 * data.principal.directions[1]
    np.testing.assert_allclose(latent_of(panel), expected, atol=1e-5)
    np.testing.assert_allclose(panel.view.array, trainer.model.eval().decode(latent_of(panel)[None])[0], atol=1e-4)


def test_without_a_trained_model_the_panel_says_what_to_do(studio_app):
    panel = studio_app().window.panels["latent-explorer"]
    assert panel.stack.currentWidget() is panel.stack.empty
    text = panel.stack.empty.body_text
    assert "Variational autoencoder" in text and "studio train" in text and "None is trained" in text
    assert "Open a checkpoint…" in [b.text() for b in panel.stack.empty.findChildren(QPushButton)]


def test_the_map_shows_the_validation_set_by_class(explorer, trained_vae):
    data = explorer.state.data_map
    assert data.argument == "fashion-mnist"  # from the checkpoint's job.json
    assert data.latents.shape == (5000, 2) and data.images.shape == (5000, 16, 16, 1)
    assert [explorer.map.plot.getPlotItem().getAxis(a).labelText for a in ("bottom", "left")] == ["z₁", "z₂"]
    assert explorer.map.class_names == data.class_names and "Trouser" in explorer.map.legend.text()
    hint = explorer.map.hint  # how to work the map, under the legend
    assert hint.isVisible() and "double-click" in hint.text() and "Shift/Ctrl-click" in hint.text()
    expected = trained_vae.model.encode(data.images[:10].astype(np.float32) / 255)
    np.testing.assert_allclose(data.latents[:10], expected, atol=1e-4)


def test_a_click_on_the_map_decodes_that_point(explorer, qtbot, trained_vae):
    before = explorer.view.array.copy()
    x, y = np.percentile(explorer.state.data_map.points, 90, axis=0)
    viewport = explorer.map.plot.viewport()
    qtbot.mouseClick(viewport, Qt.LeftButton, pos=explorer.map.scene_point(x, y))
    image = wait_for_new_image(qtbot, explorer, before)
    pixel = max(explorer.map.viewbox.viewPixelSize())
    np.testing.assert_allclose(latent_of(explorer), [x, y], atol=2 * pixel)
    np.testing.assert_allclose(image, trained_vae.model.decode(latent_of(explorer)[None])[0], atol=1e-4)
    marker = explorer.map.marker.getData()
    np.testing.assert_allclose([marker[0][0], marker[1][0]], latent_of(explorer), atol=1e-5)

    viewport_point = explorer.map.scene_point
    qtbot.mousePress(viewport, Qt.LeftButton, pos=viewport_point(0.0, 0.0))  # dragging decodes as it goes
    for step in range(1, 6):
        where = [-0.3 * step, 0.2 * step]
        qtbot.mouseMove(viewport, viewport_point(*where))
        qtbot.waitUntil(lambda w=where: explorer.caption.text().startswith("map point")  # before the release
                        and np.allclose(latent_of(explorer), w, atol=2 * pixel))
        np.testing.assert_allclose(explorer.view.array, trained_vae.model.decode(latent_of(explorer)[None])[0],
                                   atol=1e-4)
    qtbot.mouseRelease(viewport, Qt.LeftButton, pos=viewport_point(-1.5, 1.0))
    qtbot.waitUntil(lambda: explorer.caption.text().startswith("map point (-1.5"))
    np.testing.assert_allclose(latent_of(explorer), [-1.5, 1.0], atol=2 * pixel)
    np.testing.assert_allclose(explorer.view.array, trained_vae.model.decode(latent_of(explorer)[None])[0], atol=1e-4)

    index = 7  # hovering an image previews it
    qtbot.mouseMove(viewport, explorer.map.scene_point(*explorer.state.data_map.points[index]))
    qtbot.waitUntil(lambda: explorer.map.preview.isVisible())
    assert explorer.map.hovered is not None
    assert explorer.map.preview.caption.text() == explorer.state.data_map.caption(explorer.map.hovered)


def test_while_dragging_only_the_newest_decode_runs_and_is_shown(explorer, qtbot, monkeypatch):
    import studio.ui.panels.latent_explorer.state as module

    decoded, shown = [], []
    request = module.decode_request
    monkeypatch.setattr(module, "decode_request", lambda latents: (
        lambda model, ctx: (decoded.append(latents.copy()), request(latents)(model, ctx))[1]))
    explorer.state.events.shown.connect(lambda: shown.append(explorer.state.shown.caption))
    gate = hold_the_worker(explorer)
    for step in range(1, 6):  # a drag faster than the model decodes
        explorer.map.dragged(QPointF(0.2 * step, -0.1 * step), finished=False)
    gate.set()
    flush(qtbot, explorer)
    np.testing.assert_allclose(np.concatenate(decoded), [[1.0, -0.5]])  # the stale ones never ran
    assert shown == ["map point (1.00, -0.50)"]
    np.testing.assert_allclose(latent_of(explorer), [1.0, -0.5])


def test_a_late_decode_never_paints_over_a_frame_chosen_after_it(explorer, qtbot, monkeypatch, tmp_path):
    frames, before = explorer.morph.strip.frames, latent_of(explorer).copy()
    assert explorer.morph.strip.selected != 3
    explorer.map.picked.emit(Pick(1.2, -0.7, "current", None, True))  # a click: its decode is on its way
    np.testing.assert_array_equal(latent_of(explorer), before)  # the view and its latent change together, later
    explorer.morph.strip.slider.setValue(3)  # scrubbing the morph before the decode arrives
    flush(qtbot, explorer)  # the click's decode has run and come back
    assert np.array_equal(explorer.view.array, frames[3])
    np.testing.assert_allclose(latent_of(explorer), explorer.state.morph.strip.latents[3], atol=1e-6)
    assert explorer.caption.text().startswith("morph frame 4 of 10")
    marker = explorer.map.marker.getData()
    np.testing.assert_allclose([marker[0][0], marker[1][0]], explorer.state.morph.strip.latents[3], atol=1e-6)

    answer_save_dialog(monkeypatch, tmp_path / "frame.png")
    explorer.export()  # the pixels and the parameters are of the same image
    params = read_png_params(tmp_path / "frame.png")
    assert params["mode"] == "morph" and params["frame"] == 3
    assert params["latent"] == latent_of(explorer).tolist()
    with Image.open(tmp_path / "frame.png") as png:
        pixels = np.asarray(png)
    factor = params["scale"]
    assert factor == 16 and pixels.shape == (256, 256)  # at least 256 px by default, sharp pixels
    np.testing.assert_array_equal(pixels[::factor, ::factor], to_uint8(frames[3]))


def test_the_morph_ends_are_the_reconstructions_of_a_and_b(explorer, qtbot, trained_vae):
    data, model = explorer.state.data_map, trained_vae.model
    first, other = 3, int(np.flatnonzero(data.labels != data.labels[3])[0])
    explorer.map.click(QPointF(*map(float, data.points[first])), Qt.ShiftModifier)
    explorer.map.click(QPointF(*map(float, data.points[other])), Qt.ControlModifier)
    a, b = explorer.state.morph.ends["a"], explorer.state.morph.ends["b"]
    assert a.image is not None and b.image is not None  # the images under the cursor, not map points

    def reconstruction(image):
        return model.decode(model.encode(image[None].astype(np.float32) / 255))[0]

    for mode in ("linear", "slerp"):
        explorer.morph.mode.setCurrentIndex(explorer.morph.mode.findData(mode))
        qtbot.waitUntil(lambda m=mode: strip_params(explorer.state.morph).get("interpolation") == m
                        and explorer.state.morph.strip.params["b"] == b.latent.tolist())
        frames = explorer.morph.strip.frames
        assert len(frames) == explorer.morph.steps.value() == 10
        np.testing.assert_allclose(frames[0], reconstruction(a.image), atol=1e-4)
        np.testing.assert_allclose(frames[-1], reconstruction(b.image), atol=1e-4)
        assert not np.allclose(frames[4], frames[0], atol=0.05)

    explorer.morph.strip.slider.setValue(4)  # scrubbing shows the frame large
    assert np.array_equal(explorer.view.array, frames[4])
    np.testing.assert_allclose(latent_of(explorer), explorer.state.morph.strip.latents[4])


def test_a_class_vector_moves_a_classifier_towards_that_class(explorer, qtbot, trained_vae):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    train = trained_vae.data.train
    with threadpool_limits(1):
        classifier = LogisticRegression(max_iter=500).fit(train.images[:2000].reshape(2000, -1) / 255,
                                                          train.labels[:2000])
    data, target = explorer.state.data_map, 1  # "Trouser"
    explorer.tools.setCurrentWidget(explorer.attributes)
    explorer.attributes.vector.setCurrentText(data.class_names[target])

    def probability(image):
        return classifier.predict_proba(to_uint8(image).reshape(1, -1) / 255)[0, target]

    rises = 0
    others = np.flatnonzero(data.labels != target)[:50]
    for index in others:
        explorer.map.picked.emit(Pick(0, 0, "current", int(index), True))  # a double-click on that image
        qtbot.waitUntil(lambda i=index: explorer.view.array is not None and explorer.caption.text() ==
                        data.caption(int(i)))
        before = explorer.view.array.copy()
        explorer.attributes.slider.setValue(100)  # strength +1
        after = wait_for_new_image(qtbot, explorer, before)
        rises += probability(after) > probability(before)
    assert rises > len(others) // 2, f"P({data.class_names[target]}) rose for only {rises} of {len(others)}"
    vector = explorer.state.attributes.vectors[data.class_names[target]]
    np.testing.assert_allclose(latent_of(explorer), explorer.state.base + vector)


def test_mapping_other_data_shows_progress_and_can_be_cancelled(explorer, qtbot):
    def choose_data(name):
        globals()["choose_data"](explorer, name)

    choose_data("digits")
    assert explorer.task_bar.isVisible()
    assert explorer.state.data_map is None and explorer.view.array is None  # the old map is gone
    assert not explorer.map.hint.isVisible()  # no map to work
    explorer.task_bar.cancel_button.click()
    qtbot.waitUntil(lambda: explorer.map.message.isVisible() and "Cancelled" in explorer.map.message.text())
    assert not explorer.task_bar.isVisible() and explorer.state.data_map is None

    choose_data("digits")
    qtbot.waitUntil(lambda: explorer.state.data_map is not None, timeout=30_000)
    assert explorer.state.data_map.argument == "digits" and explorer.map.class_names == [str(d) for d in range(10)]
    assert len(explorer.state.data_map.latents) == 180  # the held-out tenth of 1,797 digits
    assert not explorer.task_bar.isVisible() and not explorer.map.message.isVisible()


def test_a_vector_from_two_folders_of_images(explorer, qtbot, trained_vae, tmp_path):
    from studio.core.data.images import load_folder

    make_folder_vector(explorer, qtbot, tmp_path)
    assert explorer.attributes.name() == "trousers − plain"

    def mean_latent(folder):
        images = load_folder(tmp_path / folder, size=16, channels=1).images.astype(np.float32) / 255
        return trained_vae.model.encode(images).mean(axis=0)

    vector = explorer.state.attributes.vectors["trousers − plain"]
    np.testing.assert_allclose(vector, mean_latent("trousers") - mean_latent("plain"), atol=1e-4)
    before = explorer.view.array.copy()
    explorer.attributes.slider.setValue(-50)
    wait_for_new_image(qtbot, explorer, before)
    np.testing.assert_allclose(latent_of(explorer), explorer.state.base - 0.5 * vector, atol=1e-6)


def test_cancel_stops_both_long_jobs_the_map_and_a_folder_vector(explorer, qtbot, tmp_path):
    make_folders(explorer, tmp_path)
    gate = hold_the_worker(explorer)  # both wait their turn, so both are running when Cancel is pressed
    choose_data(explorer, "digits")
    explorer.attributes.folders_requested.emit(*(e.text() for e in explorer.attributes.folder_edits))
    assert [t.name for t in explorer.state.work.tasks] == ["map", "folders"] and explorer.task_bar.isVisible()
    explorer.task_bar.cancel_button.click()
    gate.set()
    qtbot.waitUntil(lambda: "Cancelled" in explorer.map.message.text())
    flush(qtbot, explorer)
    assert explorer.state.data_map is None and "trousers − plain" not in explorer.state.attributes.vectors
    assert not explorer.task_bar.isVisible()


def test_folder_vectors_stay_when_the_data_changes_but_not_with_another_model(explorer, qtbot, trained_vae,
                                                                              tmp_path):
    make_folder_vector(explorer, qtbot, tmp_path)
    vector = explorer.state.attributes.vectors["trousers − plain"].copy()
    choose_data(explorer, "digits")
    qtbot.waitUntil(lambda: explorer.state.data_map is not None, timeout=30_000)
    vectors = explorer.state.attributes.vectors
    assert "Trouser" not in vectors and "3" in vectors  # the new map's classes
    np.testing.assert_array_equal(explorer.state.attributes.vectors["trousers − plain"], vector)
    combo = explorer.attributes.vector
    assert "trousers − plain" in [combo.itemText(i) for i in range(combo.count())]

    other = add_checkpoint(explorer.app, trained_vae, "vae-other", step=STEPS + 1)
    explorer.refresh()
    assert explorer.picker.select(other)
    qtbot.waitUntil(lambda: explorer.state.data_map is not None, timeout=30_000)
    # another model's latents: the vector means nothing
    assert "trousers − plain" not in explorer.state.attributes.vectors


def test_walk_and_prior_grid(explorer, qtbot, trained_vae, monkeypatch, tmp_path):
    explorer.map.picked.emit(Pick(0.4, 0.2, "current", None, True))
    explorer.tools.setCurrentWidget(explorer.walk)  # a walk through the chosen point
    explorer.walk.direction.setCurrentIndex(explorer.walk.direction.findData("z2"))
    qtbot.waitUntil(lambda: strip_params(explorer.state.walk).get("direction") == "z2")
    latents = explorer.state.walk.strip.latents
    assert len(latents) == 11 and explorer.walk.strip.selected == 5
    np.testing.assert_allclose(latents[5], [0.4, 0.2], atol=1e-6)
    np.testing.assert_allclose(latents[:, 0], 0.4, atol=1e-6)  # only z2 changes, ±2 std of the map's z2
    spread = explorer.state.data_map.latents[:, 1].std()
    np.testing.assert_allclose(latents[-1, 1] - latents[0, 1], 4 * spread, rtol=1e-4)

    explorer.tools.setCurrentWidget(explorer.prior)
    qtbot.waitUntil(lambda: explorer.state.prior.grid is not None)
    expected = trained_vae.model.sample_prior(64, seed=0)
    np.testing.assert_allclose(explorer.state.prior.grid.latents, expected)
    first = explorer.prior.grid.array.copy()
    explorer.prior.seed.setValue(7)
    qtbot.waitUntil(lambda: explorer.state.prior.grid.params["seed"] == 7)
    assert not np.array_equal(explorer.prior.grid.array, first)
    explorer.prior.cell_chosen.emit(3)  # clicking a sample makes it the current point
    sample = trained_vae.model.sample_prior(64, seed=7)[3]
    np.testing.assert_allclose(latent_of(explorer), sample)
    np.testing.assert_allclose(explorer.state.base, sample)

    answer_save_dialog(monkeypatch, tmp_path / "sample.png")
    explorer.export()  # one sample, then another point; restoring it makes it the chosen point again
    explorer.map.picked.emit(Pick(-0.5, 0.5, "current", None, True))
    qtbot.waitUntil(lambda: explorer.caption.text().startswith("map point (-0.50"))
    explorer.import_file(tmp_path / "sample.png")
    qtbot.waitUntil(lambda: explorer.caption.text().startswith("restored from sample.png"))
    np.testing.assert_allclose(latent_of(explorer), sample)
    np.testing.assert_allclose(explorer.state.base, sample)
    assert explorer.state.shown.origin["mode"] == "prior" and explorer.state.shown.origin["index"] == 3

    answer_save_dialog(monkeypatch, tmp_path / "grid.png")
    explorer.export_what("prior")
    explorer.prior.seed.setValue(8)
    qtbot.waitUntil(lambda: explorer.state.prior.grid.params["seed"] == 8)
    explorer.import_file(tmp_path / "grid.png")
    qtbot.waitUntil(lambda: explorer.state.prior.grid.params["seed"] == 7)
    assert explorer.prior.seed.value() == 7


def test_a_checkpoint_saved_again_reloads_and_keeps_the_chosen_point(explorer, qtbot, trained_vae):
    explorer.map.picked.emit(Pick(0.5, 0.5, "current", None, True))
    qtbot.waitUntil(lambda: explorer.caption.text().startswith("map point (0.50"))
    old_map = explorer.state.data_map
    state = trained_vae.state  # training went on: the same file, new weights and step
    moved = {k: (v + 0.05 if k == "model.decoder_input.bias" else v) for k, v in state.tensors.items()}
    path = explorer.state.choice.ref.checkpoint
    save_checkpoint(path, "vae", trained_vae.config, STEPS + 500, type(state)(moved, state.meta))
    explorer.app.workspace.store.add_checkpoint("vae", path, STEPS + 500)
    before = explorer.view.array.copy()
    explorer.app.window.refresh_panels()
    assert explorer.state.choice.step == STEPS + 500
    qtbot.waitUntil(lambda: explorer.state.data_map is not None and explorer.state.data_map is not old_map)
    image = wait_for_new_image(qtbot, explorer, before)  # decoded by the new weights
    np.testing.assert_allclose(latent_of(explorer), [0.5, 0.5], atol=1e-6)
    assert explorer.caption.text().startswith("map point (0.50") and image.shape == before.shape

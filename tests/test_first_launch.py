"""First launch: a new workspace, nothing trained, no dataset installed. The starter models the studio
ships make the latent explorer, the canvas, the piano roll and the composer work; they are read-only, and training
one further makes a new run in the workspace."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QDialog, QFileDialog

from studio.core.digests import file_sha256
from studio.core.imaging import read_png_params
from studio.core.provenance import locate
from studio.core.starters import starters
from studio.ui.train_dialog import TrainDialog

pytestmark = pytest.mark.starters


@pytest.fixture
def first_launch(studio_app, monkeypatch, tmp_path):
    """The studio opened on a new workspace, on a machine without Fashion-MNIST."""
    monkeypatch.setattr("studio.core.data.images.FASHION_MNIST_DIR", tmp_path / "no-fashion-mnist")
    return studio_app()


def shown(app, name):
    app.window.show_panel(name)
    return app.window.panels[name]


def test_the_studio_ships_its_starters_each_a_few_mb_with_the_command_that_trained_it():
    found = {s.spec: s for s in starters()}
    assert set(found) >= {"vae", "gpt", "diffusion", "dcgan", "cgan", "cnn-classifier", "music-transformer",
                          "event-transformer", "controller"}
    for starter in found.values():
        assert starter.checkpoint.stat().st_size < 5 * 2**20
        assert starter.command.startswith(f"studio train {starter.spec} --data ")
        assert f"--steps {starter.step}" in starter.command


def test_every_panel_with_a_built_in_family_works_before_anything_is_trained(first_launch, qtbot):
    app = first_launch
    assert app.workspace.store.checkpoints() == []

    canvas = shown(app, "image-canvas")
    assert canvas.has_content() and canvas.picker.current().starter
    assert canvas.picker.combo.currentText() == "Fashion-MNIST diffusion · starter"  # the featured model's
    qtbot.waitUntil(lambda: canvas.state.info is not None and canvas.state.grid is not None, timeout=60_000)
    assert canvas.sampler.currentText() == "DDIM" and canvas.guidance.value() == 3.0
    canvas.count.setValue(16)
    canvas.label.setCurrentText("Trouser")
    before = canvas.state.grid
    canvas.sample_button.click()
    qtbot.waitUntil(lambda: canvas.state.grid is not before, timeout=60_000)
    images = canvas.state.grid.images
    assert images.shape == (16, 32, 32, 1)
    # clothes on a dark ground: bright middles, dark corners, and sixteen different pictures
    middle, corners = images[:, 12:20, 12:20].mean(), images[:, :3, :3].mean()
    assert middle > corners + 0.2
    apart = np.abs(images[:, None] - images[None]).mean(axis=(2, 3, 4))
    assert apart[~np.eye(16, dtype=bool)].min() > 0.005
    # the judge that ships with it sees the class asked for
    assert [judge.title for judge in canvas.state.judging.judges] == ["Fashion-MNIST CNN judge · starter"]
    canvas.classes.setChecked(True)
    qtbot.waitUntil(lambda: len(canvas.state.judging.verdicts) == 16, timeout=30_000)
    assert sum(name == "Trouser" for name, _ in canvas.state.judging.verdicts) >= 12

    explorer = shown(app, "latent-explorer")
    assert explorer.has_content() and explorer.picker.current().starter
    qtbot.waitUntil(lambda: explorer.state.data_map is not None, timeout=60_000)
    data = explorer.state.data_map
    assert explorer.state.data_argument == "fashion-mnist-sample"
    assert len(data.points) == 3000 and set(data.labels) == set(range(10))
    # the starter separates the classes it was trained on: trousers and bags lie apart
    trousers, bags = data.points[data.labels == 1].mean(axis=0), data.points[data.labels == 8].mean(axis=0)
    spread = data.points.std(axis=0).mean()
    assert np.linalg.norm(trousers - bags) > spread
    qtbot.waitUntil(lambda: explorer.view.array is not None, timeout=30_000)

    composer = shown(app, "text-composer")
    assert composer.has_content() and composer.picker.current().starter
    composer.editor.setPlainText("ROMEO:\n")
    composer.editor.moveCursor(QTextCursor.End)
    composer.controls.temperature.setValue(0.0)
    composer.controls.length.setValue(120)
    composer.generate_button.click()
    qtbot.waitUntil(lambda: not composer.writing, timeout=60_000)
    written = composer.editor.toPlainText()[len("ROMEO:\n"):]
    assert len(written) >= 120
    words = written.split()
    common = {"the", "and", "to", "of", "I", "a", "my", "you", "that", "is", "in", "not", "me", "be", "with"}
    assert sum(w.strip(",.;:!?").lower() in common or w in common for w in words) >= 3

    dream = shown(app, "dream-simulator")
    assert dream.has_content() and dream.picker.current().starter
    dream.state.set_driver("controller")  # the starter's C drives in its M's dream
    dream.state.play()
    qtbot.waitUntil(lambda: dream.state.frame is not None and dream.state.frame.step >= 30, timeout=60_000)
    frame = dream.state.frame
    assert frame.dream.shape == (64, 64, 3) and frame.driver == "controller"
    # a CarRacing frame as V learnt it: green grass around the grey road, the red car at the bottom middle
    red, green, blue = frame.dream.reshape(-1, 3).mean(axis=0)
    assert green > red + 0.1 and green > blue + 0.1
    car = frame.dream[48:60, 28:36]
    assert (car[..., 0] - car[..., 1]).max() > 0.2
    dream.state.pause()


def test_a_starter_trains_further_into_a_new_run_and_stays_as_it_was(first_launch, qtbot, monkeypatch):
    app = first_launch
    canvas = shown(app, "image-canvas")
    assert canvas.state.models.select(str(next(s.checkpoint for s in starters("vae"))))
    starter = canvas.picker.current()
    before = file_sha256(starter.ref.checkpoint)
    opened = []

    def exec_dialog(dialog):
        opened.append(dialog)
        return QDialog.Rejected

    monkeypatch.setattr(TrainDialog, "exec", exec_dialog)
    assert canvas.picker.train_button.isEnabled()
    canvas.picker.train_button.click()
    [dialog] = opened
    assert dialog.spec().name == "vae"
    assert dialog.start_from.currentData() == starter.ref.checkpoint
    assert dialog.source.currentData() == "fashion-mnist"  # what it was trained on (not installed here)
    assert dialog.steps.value() > starter.step
    assert dialog.setting_edits["image_size"].text() == "32"  # the starter's settings, not the defaults'

    dialog.source.setCurrentIndex(dialog.source.findData("digits"))
    dialog.steps.setValue(starter.step + 3)
    dialog.start()
    assert dialog.result() == QDialog.Accepted
    job = app.jobs.manager.jobs()[0]
    assert job.args["start_from"] == starter.ref.checkpoint and "(trained further)" in job.args["title"]
    qtbot.waitUntil(lambda: app.jobs.manager.jobs()[0].status == "finished", timeout=120_000)
    rows = app.workspace.store.checkpoints(["vae"])
    assert [row["step"] for row in rows] == [starter.step + 3]
    assert rows[0]["path"] != starter.ref.checkpoint
    assert file_sha256(starter.ref.checkpoint) == before
    app.window.refresh_panels()
    labels = [choice.label for choice in canvas.state.models.choices]
    assert len(labels) == 1 + len([s for s in starters() if s.spec in ("vae", "diffusion", "dcgan", "cgan")])
    assert not labels[0].endswith("· starter") and all(label.endswith("· starter") for label in labels[1:])


def test_an_image_made_with_a_starter_finds_it_again_by_its_hash(first_launch, qtbot, tmp_path, monkeypatch):
    app = first_launch
    canvas = shown(app, "image-canvas")
    canvas.count.setValue(4)
    canvas.sample_button.click()
    qtbot.waitUntil(lambda: canvas.state.grid is not None, timeout=30_000)
    target = tmp_path / "made.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PNG image (*.png)"))
    assert canvas.export(single=False) is None
    params = read_png_params(target)
    assert params["checkpoint"] == canvas.picker.current().ref.checkpoint
    params["checkpoint"] = "/elsewhere/an-older-install/checkpoint.safetensors"  # the studio was reinstalled
    found = locate(params, registry=app.host.registry, store=app.workspace.store, name=target.name)
    assert found.checkpoint == canvas.picker.current().ref.checkpoint


def test_a_damaged_starter_folder_is_left_out(monkeypatch, tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    for folder in (good, bad):
        folder.mkdir()
        (folder / "checkpoint.safetensors").write_bytes(b"weights")
    (good / "starter.json").write_text(json.dumps({"title": "Good", "spec": "vae", "step": 5, "command": "c"}))
    (bad / "starter.json").write_text("{ not json")
    monkeypatch.setattr("studio.core.starters.starters_folder", lambda: tmp_path)
    assert [s.name for s in starters()] == ["good"] and starters("gpt") == []


def test_the_piano_roll_continues_a_chorale_on_first_launch(first_launch, qtbot, tmp_path):
    """Each music starter continues the opening of a chorale after the playhead, in its key, as one
    undoable track."""
    from dataclasses import replace

    import music21

    from studio.core.data.music import bach_chorale
    from studio.core.music.midi import write_midi

    chorale = bach_chorale("bach/bwv166.6")
    opening = chorale.with_notes(replace(n, duration=min(n.duration, 16 - n.start))
                                 for n in chorale.notes if n.start < 16)
    write_midi(opening, tmp_path / "opening.mid")
    stream = music21.stream.Stream([music21.note.Note(n.pitch, quarterLength=n.duration) for n in opening.notes])
    scale = {p.pitchClass for p in stream.analyze("key").getScale().getPitches()}

    roll = shown(first_launch, "piano-roll")
    found = {s.checkpoint.parent.name: s for s in starters()}
    for name in ("music-transformer-chorales", "event-transformer-chorales"):
        assert roll.state.models.select(str(found[name].checkpoint))
        roll.import_file(tmp_path / "opening.mid")
        roll.state.set_playhead(16.0)
        roll.continue_bar.temperature.setValue(0.8)
        roll.continue_bar.seed.setValue(3)
        roll.continue_bar.continue_button.click()
        qtbot.waitUntil(lambda: not roll.generation.writing, timeout=60_000)
        assert [t.track.name for t in roll.state.tracks][:4] == ["Soprano", "Alto", "Tenor", "Bass"]
        written = roll.state.score().voice_notes(4)
        assert len(written) >= 8, name
        assert all(16.0 <= n.start < 32.0 for n in written), name
        in_key = sum(n.pitch % 12 in scale for n in written) / len(written)
        assert in_key >= 0.75, (name, in_key)
        roll.undo_stack.undo()  # the continuation is one step
        assert len(roll.state.tracks) == 4

"""What a saved text remembers of the models that wrote it, new seeds, and checkpoints retrained in place."""

from __future__ import annotations

import json
import shutil

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QTextCursor
from PySide6.QtWidgets import QFileDialog, QMessageBox
from test_text_composer import PROMPT, _train, composer, models, no_modal_warnings, write  # noqa: F401

from studio.ui.panels.text_composer.controls import NEW_SEED
from studio.ui.settings import Settings


@pytest.fixture
def save(composer, monkeypatch, tmp_path):  # noqa: F811
    """Save the composer's text to a file in tmp_path; returns the file and its sidecar's settings."""
    def save_as(name="passage.txt"):
        target = tmp_path / name
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "Text (*.txt *.md)"))
        assert composer.export() is None
        return target, json.loads((tmp_path / f"{name}.studio.json").read_text())
    return save_as


def test_a_typed_text_names_no_model_or_seed(composer, save):  # noqa: F811
    composer.editor.setPlainText("Words of my own.")
    target, params = save()
    assert params == {"panel": "text-composer", "generations": []}
    composer.import_file(target)
    assert composer.editor.toPlainText() == "Words of my own." and composer.state.opened == []


def test_every_generation_still_in_the_text_is_recorded_where_it_is(composer, qtbot, save):  # noqa: F811
    composer.controls.new_seed_each_time.setChecked(True)
    first = write(composer, qtbot, PROMPT, temperature=1.0, length=15, seed=7)
    composer.editor.moveCursor(QTextCursor.End)
    composer.controls.temperature.setValue(0.5)
    composer.generate_button.click()
    qtbot.waitUntil(lambda: not composer.writing, timeout=30_000)
    text = composer.editor.toPlainText()
    _target, params = save()
    one, two = params["generations"]
    assert (one["seed"], one["temperature"], one["prompt"]) == (7, 1.0, PROMPT)
    assert two["seed"] != 7 and two["temperature"] == 0.5 and two["prompt"] == first[-8 * 32:]
    for record in (one, two):
        assert text[record["offset"]:record["offset"] + record["length"]] == record["text"]
        assert record["model"] == "gpt" and len(record["checkpoint_sha256"]) == 64 and record["tokens"] == 15
    assert {k: params[k] for k in ("seed", "temperature")} == {"seed": two["seed"], "temperature": 0.5}  # newest

    composer.window().findChild(QAction, "Undo").trigger()  # Edit ▸ Undo: the second generation is gone from
    # the text, and from the record
    _target, params = save()
    assert [r["seed"] for r in params["generations"]] == [7]


def test_save_reopen_and_generate_again_writes_the_same_bytes(composer, qtbot, save, models):  # noqa: F811
    composer.controls.new_seed_each_time.setChecked(True)
    composer.controls.top_k.setValue(20)
    text = write(composer, qtbot, "My own start.\n" + PROMPT, temperature=0.9, length=40, seed=42)
    assert composer.controls.seed.value() != 42  # the next Generate will write something new
    target, params = save()
    [record] = params["generations"]
    assert record["seed"] == 42 and text[record["offset"]:] == record["text"]

    composer.editor.setPlainText("something else")
    composer.controls.restore({})
    composer.import_file(target)
    assert composer.controls.seed.value() == 42 and composer.picker.current().ref.checkpoint == str(models["gpt"])
    cursor = composer.editor.textCursor()  # take the generated passage out and write it again
    cursor.setPosition(record["offset"])
    cursor.movePosition(QTextCursor.End, QTextCursor.KeepAnchor)
    cursor.removeSelectedText()
    composer.generate_button.click()
    qtbot.waitUntil(lambda: not composer.writing, timeout=30_000)
    assert composer.editor.toPlainText().encode() == target.read_bytes()
    _target, again = save("again.txt")
    assert [r["text"] for r in again["generations"]] == [record["text"]]  # the reopened record is not doubled


def test_generate_undo_generate_writes_something_new_and_the_choice_is_remembered(composer, qtbot):  # noqa: F811
    composer.controls.new_seed_each_time.setChecked(True)
    first = write(composer, qtbot, PROMPT, temperature=1.0, length=30, seed=3)
    composer.editor.setFocus()
    qtbot.keyClick(composer.editor, Qt.Key_Z, Qt.ControlModifier)  # the editor's own undo key
    assert composer.editor.toPlainText() == PROMPT
    composer.generate_button.click()
    qtbot.waitUntil(lambda: not composer.writing, timeout=30_000)
    assert composer.editor.toPlainText() != first
    assert composer.state.last_params["seed"] != 3

    composer.controls.new_seed_each_time.setChecked(False)
    another_window = Settings()
    another_window.declare([NEW_SEED])
    assert another_window.get(NEW_SEED.key) is False  # remembered
    assert str(QSettings().value(NEW_SEED.key)).lower() == "false"
    seed = composer.controls.seed.value()
    write(composer, qtbot, PROMPT, temperature=1.0, length=5, seed=seed)
    assert composer.controls.seed.value() == seed


def test_a_checkpoint_saved_again_is_reloaded_and_a_reopened_text_says_so(composer, qtbot, save, models,  # noqa: F811
                                                                         tmp_path, monkeypatch):
    composer.controls.new_seed_each_time.setChecked(False)
    path = tmp_path / "growing.safetensors"
    shutil.copy(models["gpt"], path)
    store = composer.context.workspace.store
    store.add_checkpoint("gpt", str(path), 40)
    composer.refresh()
    assert composer.picker.select(str(path))
    before = write(composer, qtbot, PROMPT, temperature=1.0, length=30, seed=5)
    target, _params = save()

    other = _train("gpt", tmp_path, 60, name="further", n_layer=2, n_head=2, n_embd=32, block_size=32,
                   batch_size=8)
    shutil.copy(other, path)  # training went on and saved over the same file
    store.add_checkpoint("gpt", str(path), 60)
    statuses = []
    monkeypatch.setattr(composer.context, "show_status", statuses.append)
    composer.context.inference.worker.unload = _recording(composer.context.inference.worker.unload, unloaded := [])
    composer.window().refresh_panels()
    assert unloaded and "saved again" in statuses[-1] and composer.picker.current().step == 60
    after = write(composer, qtbot, PROMPT, temperature=1.0, length=30, seed=5)
    store.add_checkpoint("gpt", str(other), 60)
    composer.refresh()
    assert composer.picker.select(str(other))
    assert after == write(composer, qtbot, PROMPT, temperature=1.0, length=30, seed=5) != before  # the new weights

    told = []
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, message: told.append(message))
    composer.import_file(target)
    qtbot.waitUntil(lambda: bool(told))
    assert "trained further since" in told[0]
    # the weights that wrote it are still catalogued (the copy it was made from): they are chosen, so the
    # same seed writes the same text again
    assert f"found at {models['gpt']}" in told[0] and composer.picker.current().ref.checkpoint == str(models["gpt"])


def _recording(unload, calls):
    def recording(predicate=lambda ref: True):
        calls.append(predicate)
        return unload(predicate)
    return recording

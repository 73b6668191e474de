"""The Text Composer: streaming, cancel, greedy, alternatives, attention, save and reopen, model folders."""

import json

import pytest
from drag_and_drop import drop
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QFileDialog, QMessageBox

from studio.core.checkpoint import save_checkpoint
from studio.core.data.text import TextCorpus, load_shakespeare
from studio.core.plugins import discover
from studio.core.specs import resolve
from studio.engine import inference

PROMPT = "ROMEO:\n"


def _train(spec_name: str, folder, steps: int, name: str = "", **settings):
    """A tiny model trained through the real trainer on a slice of the bundled Shakespeare."""
    registry = discover().registry
    spec = registry.model(spec_name)
    data = TextCorpus("slice", load_shakespeare().text[:20_000]).split()
    trainer = resolve(spec.trainer)(spec.config(**settings), data, seed=0)
    for _ in trainer.steps(0, steps):
        pass
    path = folder / f"{name or spec_name}.safetensors"
    save_checkpoint(path, spec_name, trainer.config, steps, trainer.state())
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text-models")
    return {
        "gpt": _train("gpt", folder, 40, n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=8),
        "lstm": _train("lstm", folder, 20, embedding_dim=16, hidden_size=32, num_layers=1, block_size=32,
                       batch_size=8),
    }


@pytest.fixture(autouse=True)
def no_modal_warnings(monkeypatch):
    """A warning box would wait for a click that never comes: record it instead, and fail on it."""
    told = _Told()
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, message: told.append(message))
    yield told
    assert not told or told.expected, told


class _Told(list):
    expected = False  #: a test that wants a warning sets this


@pytest.fixture
def composer(studio_app, models, qtbot):
    app = studio_app()
    app.workspace.store.add_checkpoint("lstm", str(models["lstm"]), 20)
    app.workspace.store.add_checkpoint("gpt", str(models["gpt"]), 40)
    app.window.refresh_panels()
    app.window.show_panel("text-composer")
    panel = app.window.panels["text-composer"]
    assert panel.picker.select(str(models["gpt"]))
    assert panel.has_content()
    return panel


def start(panel, text=PROMPT, *, temperature=0.0, length=40, seed=0):
    panel.editor.setPlainText(text)
    panel.editor.moveCursor(QTextCursor.End)
    panel.controls.temperature.setValue(temperature)
    panel.controls.length.setValue(length)
    panel.controls.seed.setValue(seed)
    panel.generate_button.click()


def write(panel, qtbot, text=PROMPT, **settings) -> str:
    start(panel, text, **settings)
    qtbot.waitUntil(lambda: not panel.writing, timeout=30_000)
    return panel.editor.toPlainText()


def worker_idle(panel, qtbot):
    """Wait until the inference thread has finished everything queued before now."""
    done = []
    panel.context.inference.submit(None, lambda _model, _ctx: None, on_result=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=30_000)


def test_without_a_model_the_composer_says_to_train_or_import_one(studio_app):
    panel = studio_app().window.panels["text-composer"]
    assert not panel.has_content()
    body = panel.stack.empty.body_text
    assert "studio train" in body and "Hugging Face" in body and "Import model folder" in body


def test_tokens_stream_in_and_escape_stops_within_a_token_keeping_the_text(composer, qtbot, monkeypatch):
    steps = []  # (request id, whether it was already cancelled) for every ctx.step of the worker
    step = inference.RequestContext.step

    def recording(self, *args):
        steps.append((self._request.id, self.cancelled))
        return step(self, *args)

    monkeypatch.setattr(inference.RequestContext, "step", recording)
    composer.window().show()
    qtbot.waitExposed(composer.window())
    lengths = []
    composer.editor.textChanged.connect(lambda: lengths.append(len(composer.editor.toPlainText())))
    submitted = []
    submit = composer.context.inference.submit
    monkeypatch.setattr(composer.context.inference, "submit", lambda *a, **k: (submitted.append(submit(*a, **k)),
                                                                                submitted[-1])[1])
    start(composer, temperature=1.0, length=5000)
    [request] = [r for r in submitted if r.key and r.key.endswith(":write")]
    qtbot.waitUntil(lambda: len(set(lengths)) >= 5, timeout=30_000)
    assert composer.writing  # it grew over several updates while the request still ran
    composer.editor.setFocus()
    qtbot.keyClick(composer.editor, Qt.Key_Escape)
    assert not composer.writing
    kept = composer.editor.toPlainText()
    worker_idle(composer, qtbot)
    assert composer.editor.toPlainText() == kept  # later tokens were dropped, the written ones kept
    assert kept.startswith(PROMPT) and len(kept) > len(PROMPT)
    mine = [cancelled for rid, cancelled in steps if rid == request.id]
    assert mine[-1] and mine.count(True) == 1  # the model stopped at its next token


def test_greedy_writing_is_the_same_every_time(composer, qtbot):
    first = write(composer, qtbot, temperature=0.0, length=40)
    assert len(first) > len(PROMPT)
    assert write(composer, qtbot, temperature=0.0, length=40) == first
    assert composer.state.last_params["temperature"] == 0.0 and composer.state.last_params["tokens"] == 40


def test_alternatives_are_different_and_picking_one_inserts_it(composer, qtbot):
    composer.editor.setPlainText(PROMPT)
    composer.editor.moveCursor(QTextCursor.End)
    composer.controls.temperature.setValue(1.0)
    composer.controls.length.setValue(30)
    seed = composer.controls.seed.value()
    composer.alternatives_button.click()
    qtbot.waitUntil(lambda: not composer.writing, timeout=30_000)
    texts = [composer.alternatives.text(i) for i in range(3)]
    assert all(texts) and len(set(texts)) == 3
    assert composer.alternatives.buttons[1].isEnabled()
    composer.alternatives.buttons[1].click()
    assert composer.editor.toPlainText() == PROMPT + texts[1]
    assert composer.state.last_params["seed"] == seed + 1
    assert composer.editor.token_spans()  # inserted as generated tokens: coloured, clickable


def click_character(panel, qtbot, position: int):
    editor = panel.editor
    cursor = QTextCursor(editor.document())
    cursor.setPosition(position)
    left = editor.cursorRect(cursor)
    cursor.setPosition(position + 1)
    right = editor.cursorRect(cursor)
    qtbot.mouseClick(editor.viewport(), Qt.LeftButton, pos=QPoint((left.x() + right.x()) // 2, left.center().y()))


def test_clicking_a_generated_token_shows_its_attention_over_the_earlier_text(composer, qtbot):
    composer.window().show()
    qtbot.waitExposed(composer.window())
    text = write(composer, qtbot, temperature=0.0, length=20)
    position = len(PROMPT) + 10  # the 11th generated character
    click_character(composer, qtbot, position)
    generation_id, index = composer.editor.chosen
    assert index == 10
    view = composer.attention
    weights = view.weights()
    assert weights is not None and weights.shape == (len(PROMPT) + 10,)
    assert weights.sum() == pytest.approx(1.0, abs=1e-2)
    assert "".join(view.pieces) == text[:position]  # aligned with the text it attended to
    assert view.layer.count() == 2 and view.head.count() == 3  # 2 layers; average and 2 heads
    view.head.setCurrentIndex(2)
    assert view.weights().sum() == pytest.approx(1.0, abs=1e-2)


def test_an_lstm_says_it_has_no_attention(composer, qtbot, models):
    assert composer.picker.select(str(models["lstm"]))
    write(composer, qtbot, temperature=0.0, length=10)
    (generation_id, index), _probability = composer.editor.token_at_position(len(PROMPT) + 3)
    composer.show_attention(generation_id, index)
    assert "no attention" in composer.attention.caption.text()
    assert composer.attention.weights() is None


def test_save_writes_the_settings_beside_the_text_and_opening_it_restores_them(composer, qtbot, tmp_path,
                                                                             monkeypatch, models):
    composer.controls.top_k.setValue(20)
    text = write(composer, qtbot, temperature=0.9, length=30, seed=42)
    target = tmp_path / "passage.txt"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "Text (*.txt *.md)"))
    assert composer.export() is None
    assert target.read_text() == text
    params = json.loads((tmp_path / "passage.txt.studio.json").read_text())
    assert params["model"] == "gpt" and params["checkpoint"] == str(models["gpt"])
    assert len(params["checkpoint_sha256"]) == 64
    assert (params["seed"], params["temperature"], params["top_k"], params["max_new_tokens"]) == (42, 0.9, 20, 30)
    assert params["prompt"] == PROMPT and params["tokens"] == 30

    composer.picker.select(str(models["lstm"]))
    composer.controls.restore({})
    composer.editor.setPlainText("something else")
    assert drop(composer.editor, target)  # onto the text, as a writer would
    assert composer.editor.toPlainText() == text
    assert composer.controls.sampling().params() == {"temperature": 0.9, "top_k": 20, "top_p": None,
                                                     "max_new_tokens": 30, "seed": 42}
    qtbot.waitUntil(lambda: composer.picker.current().ref.checkpoint == str(models["gpt"]))  # found off the GUI thread
    assert params["step"] == 40 and params["model_title"] == "GPT (transformer)"

    told = []
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, message: told.append(message))
    params["checkpoint"] = str(tmp_path / "gone.safetensors")  # moved: found again by its SHA-256
    (tmp_path / "passage.txt.studio.json").write_text(json.dumps(params))
    composer.picker.select(str(models["lstm"]))
    composer.import_file(target)
    qtbot.waitUntil(lambda: composer.picker.current().ref.checkpoint == str(models["gpt"]))
    assert told and f"no longer at {tmp_path / 'gone.safetensors'}" in told[0]

    params["checkpoint_sha256"] = "0" * 64  # and weights that are nowhere
    (tmp_path / "passage.txt.studio.json").write_text(json.dumps(params))
    composer.import_file(target)
    qtbot.waitUntil(lambda: len(told) == 2)
    assert "not on this machine" in told[1] and "gone.safetensors is missing" in told[1]
    assert composer.editor.toPlainText() == text


def test_a_bad_model_folder_shows_the_loaders_message_and_changes_nothing(composer, qtbot, tmp_path,
                                                                          no_modal_warnings):
    folder = tmp_path / "gpt2"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"not even a pickle")
    told = no_modal_warnings
    told.expected = True
    store = composer.context.workspace.store
    def listed():  # (a checkpoint's hash may be filled in meanwhile)
        return [(row["path"], row["step"]) for row in store.checkpoints()]

    before, chosen = listed(), composer.picker.current()
    assert drop(composer, folder)
    qtbot.waitUntil(lambda: bool(told), timeout=30_000)
    assert "pytorch_model.bin" in told[0] and "safetensors" in told[0]
    assert listed() == before and composer.picker.current() == chosen
    assert composer.importer.button.isEnabled()


def test_characters_the_model_never_saw_are_skipped_and_the_writer_is_told(composer, qtbot, monkeypatch):
    """The bundled Shakespeare has no digits, double quotes, brackets or tabs."""
    statuses = []
    monkeypatch.setattr(composer.context, "show_status", statuses.append)
    prompt = 'Notes (2024):\t"Hi"\n' + "x" * 5000 + '\nSaid "Romeo" (1595):\n'  # only the end is read
    text = write(composer, qtbot, prompt, temperature=0.0, length=20)
    assert text.startswith(prompt) and len(text) == len(prompt) + 20
    assert "8 characters before the cursor the model never saw were replaced by similar ones or skipped" \
        in statuses[-1]
    assert composer.state.last_params["prompt"] == prompt[-8 * 32:]  # what the model was given: the end
    assert write(composer, qtbot, PROMPT, temperature=0.0, length=5)  # nothing to tell: no note
    assert "never saw" not in statuses[-1]


def test_length_is_capped_at_a_sane_maximum(composer):
    assert composer.controls.length.maximum() == 20_000

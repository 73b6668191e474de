"""The composer's editor and generation helpers: runs of tokens, tints, attention labels, alternatives."""

from __future__ import annotations

import pytest
from needs import needs_module
from PySide6.QtGui import QTextCursor

from studio.ui.panels.text_composer.editor import ComposerEditor
from studio.ui.panels.text_composer.runs import tint_level

LIKELY, UNLIKELY = 0.9, 0.01


@pytest.fixture
def editor(qtbot):
    editor = ComposerEditor()
    qtbot.addWidget(editor)
    editor.resize(600, 400)
    return editor


def stream(editor, tokens, generation=1):
    editor.start_stream()
    for index, (text, probability) in enumerate(tokens):
        editor.write_token(generation, index, text, probability)
    editor.end_stream()


def test_a_long_stream_is_a_few_runs_and_every_character_finds_its_token(editor):
    tokens = [("ab", LIKELY), ("c", LIKELY), ("\n", LIKELY), ("d😀", UNLIKELY), ("e", UNLIKELY), ("f", LIKELY)] * 300
    stream(editor, tokens)
    text = "".join(t for t, _ in tokens)
    assert editor.toPlainText() == text
    assert len(editor.runs) == 601  # a run per change of tint level ("f" joins the next "ab"), not per token
    spans = editor.token_spans()
    assert len(spans) == len([t for t, _ in tokens if t != "\n"])
    # every position maps back to the token that wrote it, emoji (two UTF-16 units) and line breaks included
    units = 0
    for index, (piece, probability) in enumerate(tokens[:24]):
        for character in piece:
            width = len(character.encode("utf-16-le")) // 2
            if character != "\n":
                assert editor.token_at_position(units) == ((1, index), probability), (index, character)
            units += width


def test_text_typed_inside_a_run_does_not_shift_the_tokens_after_it(editor):
    stream(editor, [("To", LIKELY), (" be", LIKELY), (" or", LIKELY), (" not", LIKELY)])
    cursor = QTextCursor(editor.document())
    cursor.setPosition(5)  # after "To be"
    editor.setTextCursor(cursor)
    editor.insertPlainText(" typed")
    assert editor.toPlainText() == "To be typed or not"
    assert editor.token_at_position(7) is None  # typed text is the writer's
    assert editor.token_at_position(12)[0] == (1, 2)  # " or" is still token 2
    assert editor.token_at_position(16)[0] == (1, 3)
    editor.choose((1, 3))
    [outline] = editor.extraSelections()
    assert (outline.cursor.selectionStart(), outline.cursor.selectionEnd()) == (14, 18)


def test_only_unlikely_tokens_are_tinted_and_more_the_less_likely(editor):
    assert tint_level(0.3) == tint_level(0.1) == 0  # a character model's ordinary choices at temperature 0.8
    assert 0 < tint_level(0.05) < tint_level(0.01) < tint_level(0.001) == tint_level(1e-9)
    stream(editor, [("likely ", LIKELY), ("rare", UNLIKELY), (" likely", LIKELY)])
    editor.show()
    editor.rebuild_highlights()
    assert [(start, end) for start, end, _colour in editor.tints] == [(7, 11)]
    editor.set_colour_probabilities(False)
    assert editor.tints == []


def test_attention_labels_keep_characters_split_across_tokens_whole():
    from studio.ui.panels.text_composer.generation import pieces
    from studio_builtins.text.tokenizer import ByteBPETokenizer

    tokenizer = ByteBPETokenizer.learn("abc", 256)  # bytes only: an emoji is 4 tokens
    ids = tokenizer.encode("a😀b")
    assert pieces(tokenizer.decode, ids) == ["a", "", "", "", "😀", "b"]
    assert pieces(tokenizer.decode, ids[:3]) == ["a", "", "\ufffd"]  # a prompt cut inside one still shows it


def test_alternatives_are_written_a_token_of_each_in_turn_each_as_it_would_be_alone():
    torch = needs_module("torch")
    from studio.ui.panels.text_composer.generation import Alternative, Sampling, alternatives
    from studio_builtins.text.config import GPTConfig
    from studio_builtins.text.gpt import GPT

    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=16)).eval()
    payloads = []

    class Context:
        def step(self, step, total, payload):
            payloads.append(payload)

    sampling = Sampling(temperature=1.0, max_new_tokens=6, seed=4)
    assert alternatives(model, Context(), "To be", sampling, 3) == 18
    steps = [p for p in payloads if isinstance(p, Alternative)]
    assert [p.index for p in steps[:6]] == [0, 1, 2, 0, 1, 2]
    for index in range(3):
        alone = [s.token for s in model.generate("To be", max_new_tokens=6, temperature=1.0, seed=4 + index)]
        assert [p.step.token for p in steps if p.index == index] == alone


@pytest.mark.parametrize("written", ["to be or not\n", "\nto be", "\nto be\n", "to be"])
def test_a_generation_that_begins_or_ends_a_line_is_recorded_whole(qtbot, written):
    from studio.core.capabilities import TokenStep
    from studio.ui.panels.text_composer.generation import Generations
    from studio.ui.panels.text_composer.record import live_records

    editor = ComposerEditor()
    qtbot.addWidget(editor)
    editor.setPlainText("Prompt.")
    editor.moveCursor(QTextCursor.End)
    generations = Generations()
    generation = generations.new({"model": "m"})
    editor.start_stream()
    for i, character in enumerate(written):
        generations.add(generation, TokenStep(i, character, 0.5))
        editor.write_token(generation.id, i, character, 0.5)
    editor.end_stream()
    editor.insertPlainText("After.")
    document = editor.toPlainText()
    [record] = live_records(document, editor.generation_spans(), generations.get)
    assert document[record["offset"]:record["offset"] + record["length"]] == written == record["text"]

"""Hugging Face causal LMs from a local folder: a tiny GPT-2 built here, and folders that must be refused.

transformers is imported inside the fixtures and tests only: its model classes take seconds to import.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from needs import needs_module

from studio.core.capabilities import ModelError, SequenceGenerator

needs_module("transformers")

PROMPT = "ROMEO: what light"


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    """A tiny GPT-2 with a byte-level BPE tokenizer learned from the bundled Shakespeare, saved as a
    Hugging Face model folder (safetensors)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from studio.core.data.text import load_shakespeare

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator([load_shakespeare().text[:50_000]], trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<|endoftext|>"],
        show_progress=False))
    eos = tokenizer.token_to_id("<|endoftext|>")
    folder = tmp_path_factory.mktemp("hf") / "tiny-gpt2"
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|endoftext|>",
                            eos_token="<|endoftext|>").save_pretrained(folder)
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=48, vocab_size=tokenizer.get_vocab_size(),
                        bos_token_id=eos, eos_token_id=eos)
    GPT2LMHeadModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def lm(hf_folder):
    from studio_builtins.text.hf import load_hf_folder

    return load_hf_folder(str(hf_folder), "cpu")


def test_a_local_gpt2_folder_streams_tokens(lm):
    assert isinstance(lm, SequenceGenerator)
    assert lm.context_length == 48
    assert lm.decode(lm.encode(PROMPT + " ünï 😀\n")) == PROMPT + " ünï 😀\n"
    stream = lm.generate(PROMPT, max_new_tokens=50, temperature=0.9, top_k=50, seed=0)
    steps = [next(stream) for _ in range(3)]
    stream.close()
    assert all(0.0 < s.probability <= 1.0 for s in steps)


def test_greedy_matches_transformers_generate(lm):
    ours = [s.token for s in lm.generate(PROMPT, max_new_tokens=20, temperature=0)]
    ids = lm.model.generate(__import__("torch").tensor([lm.encode(PROMPT)]), max_new_tokens=20, do_sample=False)
    theirs = ids[0, len(lm.encode(PROMPT)):].tolist()
    eos = lm.tokenizer.eos_token_id
    assert ours == (theirs[:theirs.index(eos)] if eos in theirs else theirs)
    assert ours == [s.token for s in lm.generate(PROMPT, max_new_tokens=20, temperature=0, use_cache=False)]


def test_cache_and_window_agree_past_the_context_and_attention_is_given(lm):
    def run(**options):
        return list(lm.generate(PROMPT, max_new_tokens=70, temperature=1.0, seed=5, with_attention=True, **options))

    cached, uncached = run(), run(use_cache=False)
    assert [s.token for s in cached] == [s.token for s in uncached]
    first = cached[0].attention
    assert first.shape == (2, 2, len(lm.encode(PROMPT)))
    np.testing.assert_allclose(first.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(first, uncached[0].attention, atol=1e-5)
    assert max(s.attention.shape[-1] for s in cached) <= lm.context_length
    assert lm.model.config._attn_implementation != "eager"  # the fast kernel is back after each step


def test_loaded_through_the_registry_like_any_model(hf_folder):
    from studio.core.checkpoint import load_model
    from studio.core.plugins import discover
    from studio_builtins.text.hf import load_hf_folder

    model = load_model(discover().registry, "hf-causal-lm", hf_folder)
    assert isinstance(model, SequenceGenerator) and model.context_length == 48

    def sampled(lm):
        return [s.token for s in lm.generate(PROMPT, max_new_tokens=12, temperature=1.0, seed=3)]

    tokens = sampled(model)
    assert tokens == sampled(load_hf_folder(str(hf_folder), "cpu")) and len(tokens) == 12


def test_the_inference_cache_counts_a_hugging_face_models_memory(lm):
    from studio.engine.machine import model_bytes

    expected = sum(p.numel() * p.element_size() for p in lm.model.parameters())
    assert expected > 0 and model_bytes(lm) == expected


def _broken_copy(hf_folder, tmp_path, change):
    folder = tmp_path / "broken"
    shutil.copytree(hf_folder, folder)
    change(folder)
    return folder


def _edit_config(**values):
    def change(folder):
        config = json.loads((folder / "config.json").read_text())
        config.update(values)
        (folder / "config.json").write_text(json.dumps(config))
    return change


def _empty_tokenizer(folder):
    from tokenizers import Tokenizer, models

    (folder / "tokenizer.json").write_text(Tokenizer(models.BPE()).to_str())


def _four_word_tokenizer(folder):
    """Loads, and encodes part of any English text: the check once let it through."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"<unk>": 0, "Hello": 1, "world": 2, ",": 3}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    (folder / "tokenizer.json").write_text(tokenizer.to_str())


def _small_tokenizer(letters):
    """A byte-level BPE of 60 tokens learned from ``letters``: it writes back only what it saw."""
    def change(folder):
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.train_from_iterator([letters * 50], trainers.BpeTrainer(vocab_size=60, show_progress=False))
        (folder / "tokenizer.json").write_text(tokenizer.to_str())
    return change


@pytest.mark.parametrize("change, message", [
    (lambda f: (f / "config.json").unlink(), "has no config.json"),
    (lambda f: (f / "model.safetensors").unlink(), "has no weights: model.safetensors is missing"),
    (lambda f: (f / "model.safetensors").rename(f / "pytorch_model.bin"),
     "only as pytorch_model.bin, a pickle file .* loads safetensors only"),
    (lambda f: (f / "tokenizer.json").unlink(), "has no tokenizer"),
    (_edit_config(n_embd=64), r"do not fit its config.json; tensors of the wrong shape: "
     r"transformer.h.0.attn.c_attn.bias is \(96,\) in the file but \(192,\) by the config, .* and \d+ more"),
    (_edit_config(n_layer=3), "do not fit its config.json; tensors missing from the weights: .*h.2"),
    (_edit_config(architectures=["GPT2ForSequenceClassification"]),
     "is a GPT2ForSequenceClassification, not a causal language model"),
    (_edit_config(model_type="vit"), "config.json cannot be used|does not generate text"),
    (_empty_tokenizer, "loaded with 1 token.* cannot encode text"),
    (_four_word_tokenizer, r"\(\d tokens\) does not give text back unchanged: 'Hello, world! The quick brown "
     r"fox.' came back as 'Hello , world"),
    (_small_tokenizer("Hello world"), "does not give text back unchanged"),
    (_small_tokenizer("Hello, world! The quick brown fox.\n"),
     r"has only \d\d tokens but the model was made for 400; they do not belong together"),
])
def test_unusable_folders_are_refused_with_a_clear_message(hf_folder, tmp_path, change, message):
    from studio_builtins.text.hf import load_hf_folder

    with pytest.raises(ModelError, match=message):
        load_hf_folder(str(_broken_copy(hf_folder, tmp_path, change)), "cpu")


def test_the_spec_factory_needs_a_folder():
    from studio_builtins.text.config import HFCausalLMConfig
    from studio_builtins.text.hf import from_config

    with pytest.raises(ModelError, match="Choose the Hugging Face model folder"):
        from_config(HFCausalLMConfig())
    with pytest.raises(ModelError, match="is not a folder"):
        from_config(HFCausalLMConfig(folder="/no/such/folder"))


def test_the_composer_imports_a_folder_lists_it_without_a_step_and_writes_with_it(hf_folder, studio_app, qtbot,
                                                                                 monkeypatch):
    from PySide6.QtGui import QTextCursor
    from PySide6.QtWidgets import QMessageBox

    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, message: warnings.append(message))
    app = studio_app()
    app.window.show_panel("text-composer")
    panel = app.window.panels["text-composer"]
    assert not panel.has_content()
    panel.importer.run(str(hf_folder))
    qtbot.waitUntil(lambda: panel.picker.current() is not None or bool(warnings), timeout=120_000)
    assert not warnings
    choice = panel.picker.current()
    assert (choice.spec.name, choice.ref.checkpoint) == ("hf-causal-lm", str(hf_folder.resolve()))
    assert panel.picker.combo.currentText() == "tiny-gpt2"  # imported as it is: no training step to show
    assert panel.has_content() and panel.importer.button.isEnabled()
    panel.editor.setPlainText(PROMPT)
    panel.editor.moveCursor(QTextCursor.End)
    panel.controls.temperature.setValue(1.0)
    panel.controls.length.setValue(10)
    panel.generate_button.click()
    qtbot.waitUntil(lambda: not panel.writing, timeout=60_000)
    assert not warnings
    text = panel.editor.toPlainText()
    assert text.startswith(PROMPT) and len(text) > len(PROMPT)

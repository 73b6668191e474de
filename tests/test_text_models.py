"""The built-in text models: tokenizers, streaming, the key/value cache, attention, training, checkpoints."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from needs import needs_module

torch = needs_module("torch")

from studio.core.capabilities import ModelError, SequenceGenerator  # noqa: E402
from studio.core.data.text import load_shakespeare  # noqa: E402
from studio_builtins.text.config import GPTConfig, LSTMConfig  # noqa: E402
from studio_builtins.text.gpt import GPT  # noqa: E402
from studio_builtins.text.lstm import LSTMModel  # noqa: E402
from studio_builtins.text.tokenizer import (  # noqa: E402
    ByteBPETokenizer,
    CharTokenizer,
    StreamDecoder,
    learn_tokenizer,
    tokenizer_from_json,
)
from studio_builtins.text.trainer import GPTTrainer, LSTMTrainer  # noqa: E402

UNICODE = "Ça va? Добрый день!\n\tπ ≈ 3.14159 — 😀👍🏽\r\n中文  trailing spaces  \n\n"
TINY_GPT = dict(n_layer=2, n_head=2, n_embd=32, block_size=16, batch_size=8, warmup_steps=2)


@pytest.fixture(scope="module")
def shakespeare():
    return load_shakespeare().split(seed=0)


@pytest.fixture(scope="module")
def gpt(shakespeare):
    """A tiny character GPT, trained a little so its greedy choices are not near ties."""
    trainer = GPTTrainer(GPTConfig(**TINY_GPT), shakespeare, seed=0)
    for _ in trainer.steps(0, 30):
        pass
    return trainer.model.eval()


# -- tokenizers -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_tokenizers_round_trip_text_exactly(kind):
    corpus = UNICODE * 20 + load_shakespeare().text[:20_000]
    tokenizer = learn_tokenizer(kind, corpus, bpe_vocab_size=400)
    for text in (UNICODE, corpus, "", "\n", " a"):
        assert tokenizer.decode(tokenizer.encode(text)) == text
    again = tokenizer_from_json(tokenizer.to_json())
    assert again.encode(corpus) == tokenizer.encode(corpus)
    assert again.vocab_size == tokenizer.vocab_size


def test_bpe_tokenizer_learns_merges_and_covers_unseen_text():
    tokenizer = ByteBPETokenizer.learn(load_shakespeare().text[:50_000], 300)
    assert tokenizer.vocab_size == 300
    text = "Unseen: ünïcödé ✓ 🤖"
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert len(tokenizer.encode("the king")) < len("the king")


def test_stream_decoder_waits_for_whole_characters():
    tokenizer = ByteBPETokenizer.learn("abc", 256)  # bytes only: an emoji is 4 tokens
    ids = tokenizer.encode("a😀b")
    assert len(ids) == 6
    decoder = StreamDecoder(tokenizer)
    pieces = [decoder.feed(token) for token in ids]
    assert pieces == ["a", "", "", "", "😀", "b"]
    decoder = StreamDecoder(tokenizer)  # a stream cut inside a character ends with a replacement
    cut = [decoder.feed(t, final=i == 2) for i, t in enumerate(ids[:3])]
    assert "".join(cut) == tokenizer.decode(ids[:3]) == "a\ufffd"


def test_character_tokenizer_names_unknown_characters():
    tokenizer = CharTokenizer.learn("hello world")
    with pytest.raises(ModelError, match=r"never saw in training \('Z', '😀'\); it knows 8 characters"):
        tokenizer.encode("hello Z😀")


def test_unknown_tokenizer_kind_is_a_model_error():
    with pytest.raises(ModelError, match="Unknown tokenizer 'words'; choose one of char, bpe"):
        GPT(GPTConfig(tokenizer="words"))


# -- generation -------------------------------------------------------------------------
@pytest.mark.parametrize("factory", [lambda: GPT(GPTConfig()), lambda: LSTMModel(LSTMConfig(cell="gru"))])
def test_default_configs_build_working_generators(factory):
    model = factory().eval()
    assert isinstance(model, SequenceGenerator)
    steps = list(model.generate("Hi", max_new_tokens=5, temperature=0.8, seed=1))
    assert len(steps) == 5 and all(0.0 < s.probability <= 1.0 for s in steps)


def test_generation_is_lazy_one_forward_per_token(gpt, monkeypatch):
    calls = []
    real_run = gpt.run
    monkeypatch.setattr(gpt, "run", lambda *a, **k: calls.append(1) or real_run(*a, **k))
    stream = gpt.generate("ROMEO:", max_new_tokens=100, temperature=1.0, seed=0)
    assert calls == []  # nothing runs before the first token is asked for
    first = next(stream)
    assert len(calls) == 1 and first.text in gpt.tokenizer.characters
    next(stream), next(stream)
    stream.close()
    assert len(calls) == 3


def test_greedy_is_deterministic_and_the_cache_changes_nothing(gpt):
    def tokens(**options):
        return [s.token for s in gpt.generate("KING:", max_new_tokens=40, temperature=0, **options)]

    cached = tokens()
    assert cached == tokens()  # block_size is 16: this also crosses the context limit twice
    assert cached == tokens(use_cache=False)
    text = "".join(s.text for s in gpt.generate("KING:", max_new_tokens=40, temperature=0))
    assert text == gpt.decode(cached)


def test_decoding_on_the_inference_thread_gives_the_same_tokens_and_leaves_a_training_model_training(gpt):
    """In inference mode (as the inference thread runs requests) a session enters no context per token;
    outside it, one in training mode is switched to eval for each forward and back."""
    def tokens(**options):
        return [s.token for s in gpt.generate("KING:", max_new_tokens=40, temperature=0, **options)]

    expected = tokens()
    with torch.inference_mode():
        assert tokens() == expected and tokens(use_cache=False) == expected
    gpt.train()
    try:
        assert tokens() == expected and gpt.training  # eval for each token (no dropout), then back
    finally:
        gpt.eval()


def test_sampling_is_reproducible_with_a_seed_and_top_k_1_is_greedy(gpt):
    def sample(**options):
        return [s.token for s in gpt.generate("O", max_new_tokens=25, **options)]

    assert sample(temperature=1.0, seed=7) == sample(temperature=1.0, seed=7)
    assert sample(temperature=1.0, top_p=0.9, seed=7) == sample(temperature=1.0, top_p=0.9, seed=7)
    assert sample(temperature=1.5, top_k=1, seed=3) == sample(temperature=0)
    assert sample(temperature=1.0, top_p=1e-6, seed=3) == sample(temperature=0)


@pytest.mark.parametrize("options, message", [
    (dict(temperature=-1), "temperature must be 0"),
    (dict(top_k=0), "top_k must be at least 1"),
    (dict(top_p=0.0), "top_p must be above 0"),
    (dict(max_new_tokens=-2), "max_new_tokens must be 0 or more"),
])
def test_bad_sampling_options_are_model_errors_at_once(gpt, options, message):
    with pytest.raises(ModelError, match=message):
        gpt.generate("A", **{"max_new_tokens": 3, **options})


def test_attention_has_one_row_per_layer_and_head_summing_to_one(gpt):
    prompt = "To be, or not"
    steps = list(gpt.generate(prompt, max_new_tokens=6, temperature=0, with_attention=True))
    for i, step in enumerate(steps[:3]):
        assert step.attention.shape == (2, 2, len(prompt) + i)
        np.testing.assert_allclose(step.attention.sum(-1), 1.0, atol=1e-5)
    assert steps[-1].attention.shape[-1] <= gpt.context_length
    uncached = list(gpt.generate(prompt, max_new_tokens=6, temperature=0, with_attention=True, use_cache=False))
    np.testing.assert_allclose(steps[2].attention, uncached[2].attention, atol=1e-5)
    assert [s.token for s in steps] == [s.token for s in uncached]
    assert all(s.attention is None for s in gpt.generate(prompt, max_new_tokens=2))


def test_lstm_streams_from_its_recurrent_state():
    model = LSTMModel(LSTMConfig(hidden_size=32, embedding_dim=16)).eval()
    greedy = [s.token for s in model.generate("abc", max_new_tokens=20, temperature=0)]
    assert greedy == [s.token for s in model.generate("abc", max_new_tokens=20, temperature=0)]
    assert all(s.attention is None for s in model.generate("abc", max_new_tokens=2, with_attention=True))


# -- training ---------------------------------------------------------------------------
@pytest.mark.parametrize("trainer_class, config", [
    (GPTTrainer, GPTConfig(**TINY_GPT)),
    (GPTTrainer, GPTConfig(**{**TINY_GPT, "tokenizer": "bpe", "bpe_vocab_size": 320})),
    (LSTMTrainer, LSTMConfig(hidden_size=64, embedding_dim=32, block_size=32, batch_size=16, warmup_steps=2)),
    (LSTMTrainer, LSTMConfig(cell="gru", hidden_size=64, embedding_dim=32, block_size=32, batch_size=16,
                             warmup_steps=2, num_layers=1)),
])
def test_a_few_steps_lower_the_loss(shakespeare, trainer_class, config):
    trainer = trainer_class(config, shakespeare, seed=0)
    assert trainer.config.tokenizer_json and not config.tokenizer_json  # learned, then put in the config
    before = trainer.validate()["loss"]
    losses = [p.losses["loss"] for p in trainer.steps(0, 40)]
    after = trainer.validate()["loss"]
    assert after < before - 0.3, (before, after)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert trainer.validate()["loss"] == after  # the same validation windows every time


def test_training_is_deterministic_and_resumes_with_the_same_tokenizer(tmp_path, shakespeare):
    from studio.core.checkpoint import config_from_dict, read_checkpoint, save_checkpoint

    config = GPTConfig(**{**TINY_GPT, "tokenizer": "bpe", "bpe_vocab_size": 300})
    a = GPTTrainer(config, shakespeare, seed=1)
    b = GPTTrainer(config, shakespeare, seed=1)
    assert [p.losses for p in a.steps(0, 5)] == [p.losses for p in b.steps(0, 5)]
    save_checkpoint(tmp_path / "run.safetensors", "gpt", a.config, 5, a.state())
    checkpoint = read_checkpoint(tmp_path / "run.safetensors")
    resumed = GPTTrainer(config_from_dict(GPTConfig, checkpoint.config), shakespeare, seed=1)
    resumed.restore(checkpoint.state)
    assert resumed.config.tokenizer_json == a.config.tokenizer_json
    assert [p.losses for p in a.steps(5, 8)] == [p.losses for p in resumed.steps(5, 8)]


def test_too_little_text_is_a_model_error():
    from studio.core.data import DataSplit

    with pytest.raises(ModelError, match=r"shorter than one training window \(block_size \+ 1 = 17 tokens\)"):
        GPTTrainer(GPTConfig(**TINY_GPT), DataSplit(train="short text", validation="more"))
    with pytest.raises(ModelError, match="The training text is empty"):
        GPTTrainer(GPTConfig(**TINY_GPT), DataSplit(train="", validation=""))


@pytest.mark.parametrize("name, trainer_class, config", [
    ("gpt", GPTTrainer, GPTConfig(**{**TINY_GPT, "tokenizer": "bpe", "bpe_vocab_size": 300})),
    ("lstm", LSTMTrainer, LSTMConfig(hidden_size=32, embedding_dim=16, block_size=16, batch_size=8)),
])
def test_checkpoint_round_trip_through_the_registry(tmp_path, shakespeare, name, trainer_class, config):
    from studio.core.checkpoint import load_model, save_checkpoint
    from studio.core.plugins import discover

    trainer = trainer_class(config, shakespeare, seed=0)
    for _ in trainer.steps(0, 3):
        pass
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, name, trainer.config, 3, trainer.state())
    loaded = load_model(discover().registry, name, path)
    assert isinstance(loaded, SequenceGenerator)

    def greedy(model):
        return [s.token for s in model.generate("ROMEO: ", max_new_tokens=30, temperature=0)]

    assert greedy(loaded) == greedy(trainer.model)
    assert loaded.encode("What, ho!\n") == trainer.model.encode("What, ho!\n")


def test_the_plugin_registers_without_importing_torch():
    code = ("import sys, studio_builtins.text as t; from studio.core.specs import ModelSpec; "
            "specs = []; t.studio_register_models(register=specs.append); [s.validate() for s in specs]; "
            "print(sorted(s.name for s in specs), 'torch' in sys.modules, 'transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "['gpt', 'hf-causal-lm', 'lstm'] False False", done.stderr


# -- prompts the model cannot wholly read ------------------------------------------------
def test_lenient_encoding_replaces_or_skips_characters_a_character_model_never_saw():
    tokenizer = CharTokenizer.learn("hello world, 'ok'.\n")
    assert tokenizer.decode(tokenizer.encode_lenient("Hello “World” 42!\tok")) == "hello 'world' . ok"
    with pytest.raises(ModelError):  # training data is never changed silently
        tokenizer.encode("Hello")


def test_unknown_characters_anywhere_in_the_prompt_do_not_stop_generation(gpt, monkeypatch):
    """Digits, quotes and tabs are not in the bundled Shakespeare; a long prompt is read from its end."""
    def tokens(prompt):
        return [s.token for s in gpt.generate(prompt, max_new_tokens=10, temperature=0)]

    assert tokens("2024\t" * 5000 + "KING:") == tokens("KING:")  # the digits and tabs are left out
    assert gpt.decode(gpt.encode('"Hi", said (KING) X')) == "'Hi', said KING x"  # similar ones stand in
    encoded = []
    real = gpt.tokenizer.encode_lenient
    monkeypatch.setattr(gpt.tokenizer, "encode_lenient", lambda text: encoded.append(len(text)) or real(text))
    next(gpt.generate("x" * 1_000_000, max_new_tokens=1))
    assert encoded == [8 * gpt.context_length]  # only the end that can reach the context is encoded


class _Scripted:
    """A session whose logits make the greedy choice the next token of ``script``."""

    def __init__(self, script, vocab):
        self.script, self.vocab = list(script), vocab

    def feed(self, tokens):
        logits = torch.zeros(self.vocab)
        logits[self.script.pop(0)] = 10.0
        return logits, None


@pytest.mark.parametrize("decoder", ["stream", "incremental"])
def test_text_held_back_before_the_end_of_text_token_still_comes_out(decoder):
    from studio_builtins.text.hf import _IncrementalDecoder
    from studio_builtins.text.sampling import stream

    tokenizer = ByteBPETokenizer.learn("abc", 256)  # bytes only: an emoji is 4 tokens
    ids = tokenizer.encode("a😀")
    stop = tokenizer.encode("z")[0]
    written = ids[:3]  # "a" and half of the emoji, then the end of text
    feed = StreamDecoder(tokenizer).feed if decoder == "stream" else _IncrementalDecoder(tokenizer.decode).feed
    steps = list(stream(_Scripted(written + [stop], tokenizer.vocab_size), [0], feed, max_new_tokens=20,
                        temperature=0, top_k=None, top_p=None, seed=0, stop_token=stop))
    assert [s.token for s in steps[:3]] == written
    assert "".join(s.text for s in steps) == tokenizer.decode(written) == "a\ufffd"
    assert len(steps) == 4 and steps[3].token == stop  # the held-back text comes with the stop token


def test_training_text_is_encoded_in_chunks_to_int32_with_the_same_ids():
    from studio_builtins.text.trainer import encode_array

    text = load_shakespeare().text[:30_000]
    for kind in ("char", "bpe"):
        tokenizer = learn_tokenizer(kind, text, bpe_vocab_size=300)
        ids = encode_array(tokenizer, text, chunk=1000)
        assert ids.dtype == np.int32 and ids.tolist() == tokenizer.encode(text)
    assert encode_array(tokenizer, "").shape == (0,)

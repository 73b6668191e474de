"""The Text Composer's state driven by a fake language model, with no window: streaming tokens
with their provenance, new seeds, Stop, alternatives, sidecars, reopening and settings checked."""

import dataclasses

import pytest

from studio.core.capabilities import TokenStep
from studio.core.digests import file_sha256
from studio.ui.panels.text_composer.generation import Sampling
from studio.ui.panels.text_composer.state import ComposerState


class FakeWriter:
    """Writes the letters of its alphabet in an order its seed picks; a context of 64 characters."""

    context_length = 64
    alphabet = "abcdefgh "

    def encode(self, text):
        return [self.alphabet.index(c) for c in text if c in self.alphabet]

    def decode(self, tokens):
        return "".join(self.alphabet[t] for t in tokens)

    def generate(self, prompt, *, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None,
                 with_attention=False):
        import random

        rng = random.Random(seed)
        for _ in range(max_new_tokens):
            token = 0 if temperature == 0 else rng.randrange(len(self.alphabet))
            yield TokenStep(token, self.alphabet[token], 0.5)


@pytest.fixture
def composer(bench):
    bench.add_spec("fake-writer", ("SequenceGenerator",))
    path = bench.add_model("fake-writer", FakeWriter())
    state = ComposerState(bench.executor, bench.registry, bench.store, new_seed_each_time=False)
    state.models.refresh()
    bench.executor.run()  # the checkpoint's SHA-256
    state.path = path
    state.tokens, state.ends = [], []
    state.events.token.connect(lambda *token: state.tokens.append(token))
    state.events.finished.connect(lambda run, done: state.ends.append((run, done)))
    return state


def written(state):
    return "".join(text for _id, _index, text, _p in state.tokens)


def test_tokens_stream_with_what_made_them(composer, bench):
    composer.set_sampling(Sampling(temperature=1.0, max_new_tokens=12, seed=4))
    composer.generate("abc")
    bench.executor.run()
    assert len(written(composer)) == 12 and composer.ends[-1][1] is True
    params = composer.last_params
    assert (params["model"], params["step"], params["seed"], params["tokens"], params["prompt"]) == \
        ("fake-writer", 10, 4, 12, "abc")
    assert params["checkpoint_sha256"] == file_sha256(composer.path) and params["panel"] == "text-composer"
    again = written(composer)
    composer.tokens.clear()
    composer.generate("abc")
    bench.executor.run()
    assert written(composer) == again  # the same seed writes the same text


def test_a_new_seed_each_time_moves_on_after_it_is_used(composer, bench):
    composer.new_seed_each_time = True
    composer.set_sampling(Sampling(temperature=1.0, max_new_tokens=5, seed=4))
    composer.generate("")
    bench.executor.run()
    assert composer.last_params["seed"] == 4 and composer.sampling.seed != 4


def test_stop_keeps_what_was_written_and_drops_the_rest(composer, bench):
    composer.set_sampling(Sampling(temperature=1.0, max_new_tokens=100, seed=1))

    def stop_after_five(*_token):
        if len(composer.tokens) == 5:
            composer.cancel()

    composer.events.token.connect(stop_after_five)
    composer.generate("a")
    bench.executor.run()
    assert len(composer.tokens) == 5 and composer.ends[-1][1] is False and not composer.writing
    assert composer.last_params["tokens"] == 5
    assert "Stopped after 5 tokens" in composer.ends[-1][0].summary(False)


def test_choosing_another_model_while_writing_stops_the_writing(composer, bench):
    composer.set_sampling(Sampling(temperature=1.0, max_new_tokens=100, seed=1))
    other = bench.add_model("fake-writer", FakeWriter(), name="other", step=20)

    def switch_after_three(*_token):
        if len(composer.tokens) == 3:  # another model is chosen while it writes
            composer.models.refresh()
            composer.models.select(other)

    composer.events.token.connect(switch_after_three)
    composer.generate("a")
    bench.executor.run()
    assert not composer.writing and composer.ends == [(composer.ends[0][0], False)]
    assert len(composer.tokens) == 3  # nothing more of it arrived


def test_alternatives_are_written_side_by_side_with_their_own_seeds(composer, bench):
    pieces = {}
    composer.events.alternative.connect(lambda index, text: pieces.setdefault(index, []).append(text))
    composer.set_sampling(Sampling(temperature=1.0, max_new_tokens=8, seed=10))
    composer.write_alternatives("ab")
    bench.executor.run()
    texts = ["".join(pieces[i]) for i in range(3)]
    assert len(set(texts)) == 3 and all(len(t) == 8 for t in texts)
    chosen = composer.use_alternative(2)
    assert chosen.text == texts[2] and composer.last_params["seed"] == 12


def test_a_sidecar_records_the_generations_still_in_the_text_and_reopening_restores_them(composer, bench):
    composer.set_sampling(Sampling(temperature=0.0, max_new_tokens=6, seed=3, top_k=5))
    composer.generate("ab")
    bench.executor.run()
    generation_id = composer.tokens[0][0]
    text = "ab" + written(composer)
    sidecar = composer.sidecar(text, {generation_id: (2, 8)})
    [record] = sidecar["generations"]
    assert record["text"] == "aaaaaa" and (record["offset"], record["length"]) == (2, 6)
    assert sidecar["seed"] == 3 and sidecar["top_k"] == 5 and sidecar["checkpoint"] == composer.path

    composer.set_sampling(Sampling())
    other = bench.add_model("fake-writer", FakeWriter(), name="other", step=20)
    composer.models.refresh()
    composer.models.select(other)
    opened = []
    composer.events.opened.connect(opened.append)
    status = composer.open_text(text, sidecar, "passage.txt")
    bench.executor.run()
    assert opened == [text] and status == "Opened passage.txt with the settings that wrote it"
    assert dataclasses.astuple(composer.sampling) == (0.0, 5, None, 6, 3)
    assert composer.choice.ref.checkpoint == composer.path  # the model that wrote it, found again
    assert composer.opened == [record]


def test_settings_are_checked(composer):
    for bad, message in ((Sampling(temperature=9), "temperature goes from 0"),
                         (Sampling(max_new_tokens=50_000), "1 to 20,000 tokens"),
                         (Sampling(top_p=1.5), "Top-p")):
        with pytest.raises(ValueError, match=message):
            composer.set_sampling(bad)


def test_an_import_that_is_cancelled_says_so(composer, bench):
    done = []
    spec = bench.add_spec("folder-writer", ("SequenceGenerator",), loader="builtins:object", imports_from=("folder",))
    assert [s.name for s in composer.importers()] == ["folder-writer"]
    composer.import_model(spec, str(bench.folder), done.append)
    composer.work.cancel()  # the artist pressed Cancel while it loaded
    assert done == [False]
    bench.executor.run()
    assert done == [False] and composer.models.find(str(bench.folder)) is None

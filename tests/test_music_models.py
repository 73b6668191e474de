"""The built-in music models: the book's tokens, the event vocabulary, streaming continuations, training."""

from __future__ import annotations

import itertools
import random

import pytest
from needs import needs_module

torch = needs_module("torch")

from torch.overrides import TorchFunctionMode  # noqa: E402

from studio.core.capabilities import ModelError, MusicGenerator, Note  # noqa: E402
from studio.core.data import DataSplit  # noqa: E402
from studio.core.music.score import Score, TempoChange, TimeSignature, Track  # noqa: E402
from studio_builtins.music.config import EventConfig, MelodyConfig  # noqa: E402
from studio_builtins.music.events import (  # noqa: E402
    NOTE_OFF,
    NOTE_ON,
    TIME_SHIFT,
    VELOCITY,
    VOCAB_SIZE,
    NoteAssembler,
    score_events,
)
from studio_builtins.music.melody import (  # noqa: E402
    REST,
    MelodyVocab,
    bar_positions,
    duration_name,
    melody_tokens,
    note_name,
    pitch_of,
    timed_tokens,
    top_line,
)
from studio_builtins.music.melody_model import MelodyTransformer  # noqa: E402
from studio_builtins.music.trainer import EventTrainer, MelodyTrainer  # noqa: E402

TINY_MELODY = dict(embedding_dim=32, n_heads=2, key_dim=16, feed_forward_dim=32, seq_len=16, batch_size=16,
                   warmup_steps=2, dropout=0.0, learning_rate=3e-3)
TINY_EVENTS = dict(n_layer=2, n_head=2, n_embd=32, block_size=64, batch_size=8, warmup_steps=2, dropout=0.0,
                   learning_rate=3e-3)
SCALE = (60, 62, 64, 65, 67, 69, 71, 72)


def hymn(seed: int, bars: int = 16) -> Score:
    """A two-voice piece in C major: a melody over a bass an octave and a third below, 4/4 at 100 bpm."""
    rng = random.Random(seed)
    notes, time = [], 0.0
    while time < bars * 4:
        length = rng.choice((0.5, 1.0, 1.0, 2.0))
        pitch = rng.choice(SCALE)
        notes += [Note(pitch, time, length, 80, 0), Note(pitch - 15, time, length, 64, 1)]
        time += length
    return Score(notes, [Track("Melody"), Track("Bass")])


@pytest.fixture(scope="module")
def hymns():
    return DataSplit([hymn(i) for i in range(16)], [hymn(100 + i) for i in range(3)], "hymns")


def trained(trainer_class, config, data, steps):
    trainer = trainer_class(config, data, seed=0)
    for _ in trainer.steps(0, steps):
        pass
    return trainer


@pytest.fixture(scope="module")
def melody_model(hymns):
    return trained(MelodyTrainer, MelodyConfig(**TINY_MELODY), hymns, 40).model.eval()


@pytest.fixture(scope="module")
def event_model(hymns):
    return trained(EventTrainer, EventConfig(**TINY_EVENTS), hymns, 40).model.eval()


# -- the book's tokens ------------------------------------------------------------------------
def test_note_names_are_music21s_spelling():
    music21 = needs_module("music21")
    for pitch in range(128):
        if pitch >= 12:  # below, music21's own names collide ("E-1" is MIDI 4 and 27)
            assert note_name(pitch) == music21.pitch.Pitch(midi=pitch).nameWithOctave
        assert pitch_of(note_name(pitch)) == pitch


def test_durations_are_quarter_lengths_as_the_book_writes_them():
    assert [duration_name(d) for d in (1.0, 0.5, 1.5, 4.0, 1 / 3, 2 / 3, 0.001)] == \
        ["1.0", "0.5", "1.5", "4.0", "1/3", "2/3", "1/24"]


def test_the_top_line_keeps_the_highest_note_at_each_onset_and_holds_it():
    notes = [Note(72, 0, 2), Note(60, 0, 1), Note(62, 1, 1),  # a held soprano over a moving alto
             Note(64, 2, 1), Note(67, 2, 0.5),  # a chord: its top note, then the lower one it leaves
             Note(65, 4, 1)]  # after a beat of silence
    line = [(e.pitch, e.start, e.duration) for e in top_line(notes)]
    assert line == [(72, 0, 2), (67, 2, 0.5), (64, 2.5, 0.5), (None, 3, 1), (65, 4, 1)]
    assert melody_tokens(notes)[:3] == [("START", "0.0"), ("C5", "2.0"), ("G4", "0.5")]
    assert ("rest", "1.0") in melody_tokens(notes)


def test_the_vocabulary_maps_what_it_never_saw_to_the_nearest_token():
    vocab = MelodyVocab.learn([melody_tokens([Note(60, 0, 1), Note(67, 1, 0.5), Note(72, 1.5, 2)])])
    again = MelodyVocab.from_json(vocab.to_json())
    assert again.notes == vocab.notes == ["START", "C4", "G4", "C5"]
    assert vocab.note_id("A4") == vocab.note_id("G4") and vocab.note_id("C8") == vocab.note_id("C5")
    assert vocab.durations[vocab.duration_id("3.0")] == "2.0"
    assert vocab.encode([("C4", "1.0"), (REST, "1.0"), ("G4", "0.5")])[0] == [1, 2]  # no rest token known
    with pytest.raises(ModelError, match="damaged"):
        MelodyVocab.from_json("{}")


# -- the events ----------------------------------------------------------------------------------
def decode(tokens: list[int]) -> list[tuple[int, float, float]]:
    assembler = NoteAssembler(0.0, max_note_seconds=100.0)
    notes = [n for token in tokens for n in assembler.feed(token)] + assembler.finish(1e9)
    return sorted((n.pitch, round(n.start, 2), round(n.end, 2)) for n in notes)


def test_events_round_trip_a_polyphonic_score_at_its_tempo():
    score = Score([Note(60, 0, 2, 100), Note(64, 0, 1, 40), Note(67, 1, 1.5, 40), Note(60, 1.5, 1)],
                  tempos=[TempoChange(0, 120), TempoChange(2, 60)])
    tokens = score_events(score)
    assert all(0 <= t < VOCAB_SIZE for t in tokens) and VOCAB_SIZE == 388
    # 120 bpm up to beat 2 (0.5 s a beat), 60 bpm after; the second C4 cuts the first one short at beat 1.5
    assert decode(tokens) == [(60, 0.0, 0.75), (60, 0.75, 1.5), (64, 0.0, 0.5), (67, 0.5, 1.5)]
    assert tokens[0] == VELOCITY + 25 and tokens.count(NOTE_OFF + 60) == 2


def test_a_long_silence_is_several_time_shifts():
    tokens = score_events(Score([Note(60, 0, 0.5), Note(62, 10, 0.5)]))  # 100 bpm: 0.3 s, 5.7 s silent, 0.3 s
    shifts = [t - TIME_SHIFT + 1 for t in tokens if TIME_SHIFT <= t < VELOCITY]
    assert shifts == [30, 100, 100, 100, 100, 100, 70, 30]


def test_notes_come_out_in_order_of_start_and_a_held_note_is_capped():
    assembler = NoteAssembler(0.0, max_note_seconds=1.0)
    held = [NOTE_ON + 48, TIME_SHIFT + 19, NOTE_ON + 60, TIME_SHIFT + 29]  # a bass, a tenor from 0.2 s, 0.5 s
    assert [assembler.feed(t) for t in held] == [[], [], [], []]
    out = assembler.feed(NOTE_OFF + 60)  # the tenor ends, but the bass began first and is still held
    assert out == []
    assembler.feed(NOTE_ON + 64)
    out = assembler.feed(TIME_SHIFT + 59)  # 1.1 s: the bass is ended at its cap
    assert [(n.pitch, round(n.start, 2), round(n.end, 2)) for n in out] == [(48, 0.0, 1.0), (60, 0.2, 0.5)]
    assert 48 in assembler.model_sounding  # the model still holds it: its NOTE_OFF stays allowed


def test_transposition_moves_note_events_together_and_stays_in_range(hymns):
    trainer = EventTrainer(EventConfig(**TINY_EVENTS, transpose=6), hymns, seed=0)
    windows = trainer.train_stream[torch.arange(8)[:, None] + torch.arange(65)]
    shifts = set()
    for step in range(5):
        trainer._step = step
        moved = trainer.augment(windows)
        notes = windows[..., 0] < TIME_SHIFT
        shift = (moved - windows)[..., 0]
        assert ((shift == 0) | notes).all() and (moved < VOCAB_SIZE).all() and (moved >= 0).all()
        assert all(len(set(row[mask].tolist())) <= 1 for row, mask in zip(shift, notes, strict=True))
        shifts |= set(shift[notes].tolist())
    assert len(shifts) > 3  # by several amounts, up and down
    assert trainer.augment(windows).equal(moved)  # the same step moves them the same way (resumable)


def test_the_melody_model_learns_every_key_it_is_moved_to(hymns):
    trainer = MelodyTrainer(MelodyConfig(**TINY_MELODY, transpose=2), hymns, seed=0)
    notes = trainer.vocab.notes
    assert {pitch_of(n) for n in notes[1:]} == {p + s for p in SCALE for s in range(-2, 3)}  # C major ±2
    windows = trainer.train_stream[torch.arange(4)[:, None] + torch.arange(17)]
    trainer._step = 1
    moved = trainer.augment(windows)
    assert moved[..., 1].equal(windows[..., 1])  # durations stay
    shifts = set()
    for before, after in zip(windows[..., 0].tolist(), moved[..., 0].tolist(), strict=True):
        steps = {pitch_of(notes[b]) - pitch_of(notes[a]) for a, b in zip(before, after, strict=True) if a > 0}
        assert len(steps) == 1  # a window's notes move together
        shifts |= steps
    assert shifts != {0}


# -- generation --------------------------------------------------------------------------------------
@pytest.fixture(params=["melody", "events"])
def model(request, melody_model, event_model):
    return melody_model if request.param == "melody" else event_model


def test_a_continuation_starts_after_the_prompt_streams_in_order_and_stops_at_the_bars(model):
    assert isinstance(model, MusicGenerator) and model.beats_per_bar == 4 and model.controls == ("tempo",)
    prompt = hymn(7, bars=2).notes
    stream = model.generate(prompt, bars=2, seed=3, temperature=1.0)
    assert iter(stream) is stream  # a generator: nothing is made until asked
    notes = list(stream)
    assert notes, "nothing was written"
    assert all(n.start >= 8 and n.start + n.duration <= 16 + 1e-9 and n.voice == 0 for n in notes)
    assert [n.start for n in notes] == sorted(n.start for n in notes)


def test_the_same_seed_gives_the_same_notes_and_temperature_zero_is_greedy(model):
    prompt = hymn(8, bars=2).notes
    runs = [list(model.generate(prompt, bars=2, seed=s, temperature=1.0)) for s in (5, 5, 6)]
    assert runs[0] == runs[1] != runs[2]
    greedy = [list(model.generate(prompt, bars=1, seed=s, temperature=0)) for s in (1, 2)]
    assert greedy[0] == greedy[1]


class CountingTorchCalls(TorchFunctionMode):
    """Counts every torch function called while it is entered (the models call their layers' functions
    directly, so module hooks would miss them)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


def test_closing_the_stream_stops_the_model(model):
    with CountingTorchCalls() as counter:
        stream = model.generate(hymn(9, bars=2).notes, bars=8, seed=0)
        next(stream)
        stream.close()
        made = counter.calls
        assert made >= 1
        list(itertools.islice(stream, 3))  # a closed generator yields nothing and runs nothing
        assert counter.calls == made


def test_an_empty_prompt_starts_at_the_first_beat(model):
    notes = list(model.generate([], bars=2, seed=1))
    assert all(0 <= n.start < 8 for n in notes)


def test_the_tempo_control_sets_the_event_models_clock(event_model):
    prompt = hymn(10, bars=2).notes
    slow = list(event_model.generate(prompt, bars=2, seed=4, controls={"tempo": 50}))
    fast = list(event_model.generate(prompt, bars=2, seed=4, controls={"tempo": 200}))
    assert slow != fast  # the same events are other beats at another tempo (and the prompt reads otherwise)
    with pytest.raises(ModelError, match="tempo"):
        event_model.generate(prompt, bars=2, seed=4, controls={"tempo": "fast"})
    with pytest.raises(ModelError, match="controls"):
        event_model.generate(prompt, bars=2, seed=4, controls={"chords": "C"})


def test_the_key_value_cache_gives_the_notes_of_a_full_rerun(event_model):
    prompt = hymn(11, bars=4).notes  # longer than the 64-event context: the window moves too
    cached = list(event_model.generate(prompt, bars=2, seed=2))
    rerun = list(event_model.generate(prompt, bars=2, seed=2, use_cache=False))
    assert [(n.pitch, n.start) for n in cached] == [(n.pitch, n.start) for n in rerun]


def test_bad_requests_say_what_is_wrong(model):
    with pytest.raises(ModelError, match="bars must be at least 1"):
        model.generate([], bars=0, seed=0)
    with pytest.raises(ModelError, match="temperature"):
        model.generate([], bars=1, seed=0, temperature=-1)


# -- training ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("trainer_class, config, keys", [
    (MelodyTrainer, MelodyConfig(**TINY_MELODY), {"loss", "loss_notes", "loss_durations"}),
    (EventTrainer, EventConfig(**TINY_EVENTS), {"loss"}),
])
def test_a_few_steps_lower_the_held_out_loss(hymns, trainer_class, config, keys):
    trainer = trainer_class(config, hymns, seed=0)
    before = trainer.validate()
    assert set(before) == keys
    for progress in trainer.steps(0, 30):
        assert set(progress.losses) == keys
    after = trainer.validate()
    assert after["loss"] < before["loss"] - 0.3
    if "loss_notes" in keys:
        assert after["loss"] == pytest.approx(after["loss_notes"] + after["loss_durations"])


def test_the_melody_vocabulary_comes_from_the_training_data_and_travels_in_the_checkpoint(hymns, tmp_path):
    from studio.core.checkpoint import load_model, save_checkpoint
    from studio.core.plugins import discover

    trainer = trained(MelodyTrainer, MelodyConfig(**TINY_MELODY, transpose=0), hymns, 3)
    vocab = MelodyVocab.from_json(trainer.config.vocab_json)
    assert vocab.notes[0] == "START" and {pitch_of(n) for n in vocab.notes[1:]} == set(SCALE)
    path = tmp_path / "melody.safetensors"
    save_checkpoint(path, "music-transformer", trainer.config, 3, trainer.state())
    loaded = load_model(discover().registry, "music-transformer", path)
    prompt = hymn(12, bars=1).notes
    assert list(loaded.generate(prompt, bars=1, seed=0)) == list(trainer.model.eval().generate(prompt, bars=1, seed=0))
    resumed = MelodyTrainer(trainer.config, hymns, seed=0)  # resuming keeps the token ids
    assert resumed.config.vocab_json == trainer.config.vocab_json


def test_each_token_carries_where_in_the_bar_the_next_note_starts():
    # 3/4 with a pickup on beat 3, then 4/4 from beat 8 (a bar line)
    notes = [Note(67, 2.0, 1.0), Note(69, 3.0, 2.0), Note(71, 5.0, 1.0), Note(72, 6.0, 1.5), Note(71, 7.5, 0.5),
             Note(69, 8.0, 3.0), Note(67, 11.0, 1.0)]
    score = Score(notes, time_signatures=[TimeSignature(0.0, 3, 4), TimeSignature(8.0, 4, 4)])
    starts = [start for _, _, start in timed_tokens(score.notes)]
    assert starts == [2.0, 2.0, 3.0, 5.0, 6.0, 7.5, 8.0, 11.0]  # START, then each note
    # the next note's start in 1/24 beats from its bar line: 2.0, 0, 2.0, 0, 1.5 of 3/4; 0, 3.0 of 4/4; the end 0
    assert bar_positions(starts, score.length_beats, score.time_signatures, 96) == [48, 0, 48, 0, 36, 0, 72, 0]
    trainer = MelodyTrainer(MelodyConfig(**TINY_MELODY, transpose=0), DataSplit([score] * 4, [score], "bars"))
    assert trainer.config.bar_position and trainer.config.bar_steps == 96  # 4 beats at 24 steps a beat
    assert trainer.train_stream[:8, 2].tolist() == [48, 0, 48, 0, 36, 0, 72, 0]
    book = MelodyTrainer(MelodyConfig(**TINY_MELODY, transpose=0, bar_position=False),
                         DataSplit([score] * 4, [score], "x"))
    assert book.config.bar_steps == 0 and book.train_stream.shape[1] == 2


def test_a_continuation_reads_the_bar_positions_training_gave_it(melody_model):
    seen = []
    melody_model.bar_embedding.register_forward_hook(lambda module, args, out: seen.append(args[0][0].tolist()))
    prompt = [Note(60, 1.0, 1.0), Note(62, 2.0, 0.5), Note(64, 2.5, 1.5)]  # a pickup: the bar starts at 0
    try:
        made = list(melody_model.generate(prompt, bars=1, seed=0))
    finally:
        melody_model.bar_embedding._forward_hooks.clear()
    expected = bar_positions([1.0, 1.0, 2.0, 2.5], 4.0, [TimeSignature(0.0)], 96)
    assert seen[0] == expected == [24, 48, 60, 0]
    time, positions = 4.0, list(expected)
    for note, window in zip(made[:-1], seen[1:], strict=False):  # no rests: each note starts where one ended
        time = note.start + note.duration
        positions.append(round(time * 24) % 96)
        assert window == positions[-melody_model.config.seq_len:]


def test_a_checkpoint_made_before_bar_positions_loads_as_the_book_model(hymns):
    from studio.core.config import config_dict, config_from_dict

    old = config_dict(MelodyConfig(**TINY_MELODY, transpose=0))
    del old["bar_position"], old["bar_steps"]
    book = MelodyTrainer(MelodyConfig(**TINY_MELODY, transpose=0, bar_position=False), hymns, seed=0)
    old["vocab_json"] = book.config.vocab_json
    config = config_from_dict(MelodyConfig, old)
    model = MelodyTransformer(config)
    assert model.bar_embedding is None
    model.load_state_dict(book.model.state_dict())  # the book's weights, nothing more or less
    prompt = hymn(12, bars=1).notes
    assert list(model.eval().generate(prompt, bars=1, seed=0)) == \
        list(book.model.eval().generate(prompt, bars=1, seed=0))
    resumed = MelodyTrainer(config, hymns, seed=0)  # resuming an old one keeps it the book's model
    assert not resumed.config.bar_position and resumed.config.bar_steps == 0
    assert resumed.train_stream.shape[1] == 2


def test_data_that_is_not_music_is_refused_with_a_reason():
    with pytest.raises(ModelError, match="not a list of scores"):
        MelodyTrainer(MelodyConfig(**TINY_MELODY), DataSplit("some text", "more", "shakespeare"))
    with pytest.raises(ModelError, match="validation part of empty has no notes"):
        EventTrainer(EventConfig(**TINY_EVENTS), DataSplit([hymn(0)], [Score()], "empty"))
    with pytest.raises(ModelError, match="shorter than one training window"):
        EventTrainer(EventConfig(**{**TINY_EVENTS, "block_size": 4096}), DataSplit([hymn(0)], [hymn(1)], "x"))

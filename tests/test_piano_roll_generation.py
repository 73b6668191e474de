"""The piano roll's Continue and Variations driven by a fake music model, with no window: notes
stream into a new track after the primer, one undo step, Stop keeps what was written, variations
are auditioned and picked, and what generated a track travels into the exported MIDI file."""

import dataclasses
import random

import pytest

from studio.core.capabilities import Note
from studio.core.digests import file_sha256
from studio.core.music.midi import read_midi, write_midi_artifact
from studio.core.music.score import Score, Track
from studio.ui.panels.piano_roll.files import export_artifact
from studio.ui.panels.piano_roll.generation import RollGeneration
from studio.ui.panels.piano_roll.state import PianoRollState
from studio.ui.panels.piano_roll.writing import ContinueSettings


class FakeMusic:
    """Eighth notes from the end of the prompt, pitches its seed picks; remembers what it was asked."""

    voices = ("melody",)
    controls = ("tempo",)
    beats_per_bar = 4

    def __init__(self):
        self.asked = []
        self.before_note = lambda index: None

    def generate(self, prompt, *, bars, seed, temperature=1.0, controls=None):
        self.asked.append((list(prompt), bars, seed, temperature, controls))
        rng = random.Random(seed)
        start = max((n.start + n.duration for n in prompt), default=0.0)
        for i in range(bars * 8 + 4):  # a little more than asked: the roll cuts it at the bar line
            self.before_note(i)
            yield Note(rng.randrange(60, 72), start + i * 0.5, 0.75, 90)


@pytest.fixture
def roll(bench):
    bench.add_spec("fake-music", ("MusicGenerator",), title="A fake music model")
    path = bench.add_model("fake-music", FakeMusic())
    state = PianoRollState(bench.executor, bench.registry, bench.store)
    state.edits = []
    state.recorder = lambda text, before, after, merge: state.edits.append((text, before, after))
    state.models.refresh()
    bench.executor.run()  # the checkpoint's SHA-256
    state.model = bench.executor.models[path]
    state.path = path
    return state


@pytest.fixture
def generation(roll):
    made = RollGeneration(roll, new_seed_each_time=False)
    made.ends = []
    made.events.finished.connect(lambda run, done: made.ends.append((run, done)))
    return made


def phrase(state, start=0.0, count=8):
    """A phrase of quarter notes on the first track (recorded, as drawing it would be)."""
    state.add_notes([Note(60 + i % 5, start + i, 1.0, 80) for i in range(count)], text="Draw")
    state.edits.clear()


def track_notes(state, track):
    return sorted((n for n in state.notes.values() if n.voice == track), key=lambda n: n.start)


def test_a_continuation_streams_into_a_new_track_after_the_primer(roll, generation, bench):
    phrase(roll, count=8)
    roll.set_playhead(6.0)  # the primer: the first six notes
    generation.set_settings(ContinueSettings(bars=2, temperature=0.9, seed=7))
    arrived = []
    roll.events.notes.connect(lambda ids: arrived.append((len(ids), bool(generation.ends))))
    generation.continue_()
    bench.executor.run()
    assert arrived and all(count == 1 and not ended for count, ended in arrived)  # note by note, while it ran
    assert [t.track.name for t in roll.tracks] == ["Track 1", "Fake Music 1"]
    written = track_notes(roll, 1)
    assert written[0].start == pytest.approx(6.0) and len(written) == 16  # 2 bars of eighths from the primer end
    assert max(n.start + n.duration for n in written) == pytest.approx(14.0)  # cut at the last bar line
    prompt, bars, seed, temperature, controls = roll.model.asked[-1]
    assert len(prompt) == 6 and (bars, seed, temperature) == (2, 7, 0.9) and controls == {"tempo": 100.0}
    run, done = generation.ends[-1]
    assert done and run.first_note_s is not None and "16 notes" in run.summary(True)


def test_the_primer_is_given_from_its_bar_and_the_notes_come_back_in_place(roll, generation, bench):
    phrase(roll, start=9.0, count=4)  # beats 9-13, in the third bar
    roll.set_playhead(20.0)
    generation.set_settings(ContinueSettings(bars=1, seed=1))
    generation.continue_()
    bench.executor.run()
    prompt = roll.model.asked[-1][0]
    assert [n.start for n in prompt] == [1.0, 2.0, 3.0, 4.0]  # from beat 8, the bar line before it
    written = track_notes(roll, 1)
    assert written[0].start == pytest.approx(13.0) and written[-1].start < 17.0


def test_a_selection_is_the_primer(roll, generation, bench):
    phrase(roll, count=8)
    roll.select([i for i, n in roll.notes.items() if n.start in (2.0, 3.0)])
    roll.set_playhead(0.0)
    generation.continue_()
    bench.executor.run()
    assert [n.start for n in roll.model.asked[-1][0]] == [2.0, 3.0]
    assert track_notes(roll, 1)[0].start == pytest.approx(4.0)


def test_an_empty_roll_is_continued_from_the_playhead(roll, generation, bench):
    roll.set_playhead(4.0)
    generation.set_settings(ContinueSettings(bars=1))
    generation.continue_()
    bench.executor.run()
    assert roll.model.asked[-1][0] == []
    written = track_notes(roll, 1)
    assert written[0].start == pytest.approx(4.0) and written[-1].start < 8.0


def test_a_continuation_is_one_undo_step(roll, generation, bench):
    phrase(roll, count=4)
    roll.set_playhead(4.0)
    before = roll.snapshot()
    generation.continue_()
    bench.executor.run()
    assert len(roll.edits) == 1 and roll.edits[0][0].startswith("Continue (")
    text, recorded_before, after = roll.edits[0]
    assert recorded_before == before
    roll.restore(recorded_before)  # undo
    assert len(roll.tracks) == 1 and len(roll.notes) == 4
    roll.restore(after)  # redo
    assert len(roll.tracks) == 2 and len(track_notes(roll, 1)) == 32


def test_stop_keeps_what_was_written_as_one_step(roll, generation, bench):
    phrase(roll, count=4)
    roll.set_playhead(4.0)

    roll.model.before_note = lambda i: roll.work.cancel() if i == 3 else None  # Esc, between two notes
    generation.continue_()
    bench.executor.run()
    assert len(track_notes(roll, 1)) == 3 and not generation.writing
    assert generation.ends[-1][1] is False and "Stopped a continuation after 3 notes" in \
        generation.ends[-1][0].summary(False)
    assert [text for text, _b, _a in roll.edits] == ["Continue (3 notes)"]


def test_choosing_another_model_while_writing_ends_the_step(roll, generation, bench):
    phrase(roll, count=4)
    roll.set_playhead(4.0)
    other = bench.add_model("fake-music", FakeMusic(), name="other", step=20)

    def switch(index):
        if index == 2:  # another model is chosen between two notes
            roll.models.refresh()
            roll.models.select(other)

    roll.model.before_note = switch
    generation.continue_()
    bench.executor.run()
    assert len(track_notes(roll, 1)) == 2 and not roll.in_batch and len(roll.edits) == 1


def test_the_seed_moves_on_after_each_continue_when_asked(roll, generation, bench):
    generation.new_seed_each_time = True
    generation.set_settings(ContinueSettings(seed=5))
    generation.continue_()
    bench.executor.run()
    assert roll.model.asked[-1][2] == 5 and generation.settings.seed != 5


def test_a_second_continuation_gets_its_own_track(roll, generation, bench):
    phrase(roll, count=4)
    roll.set_playhead(4.0)
    for _ in range(2):
        generation.continue_()
        bench.executor.run()
    assert [t.track.name for t in roll.tracks] == ["Track 1", "Fake Music 1", "Fake Music 2"]


def test_variations_are_written_side_by_side_and_one_is_picked(roll, generation, bench):
    phrase(roll, count=4)
    roll.set_playhead(4.0)
    arrived = []
    generation.events.variation.connect(lambda index, note: arrived.append(index))
    generation.set_settings(ContinueSettings(bars=1, seed=20, count=3))
    generation.write_variations()
    bench.executor.run()
    assert arrived[:6] == [0, 1, 2, 0, 1, 2]  # interleaved
    assert [a[2] for a in roll.model.asked] == [20, 21, 22]
    melodies = [tuple(n.pitch for n in v.notes) for v in generation.choices]
    assert len(set(melodies)) == 3 and all(len(m) == 8 for m in melodies)
    assert len(roll.notes) == 4 and roll.edits == []  # nothing in the document until one is picked

    audition = generation.variation_score(1)
    assert [t.name for t in audition.tracks] == ["Track 1", "Variation 2"]
    assert tuple(n.pitch for n in audition.voice_notes(1)) == melodies[1]
    assert generation.audition_start() == 0.0  # a bar before the variation begins at beat 4

    added = generation.pick(1)
    assert added == [1] and roll.tracks[1].track.name == "Fake Music 1"
    assert tuple(n.pitch for n in track_notes(roll, 1)) == melodies[1]
    assert [text for text, _b, _a in roll.edits] == ["Use variation 2 (seed 21)"]
    assert generation.export_params(roll.score())["seed"] == 21


def test_the_exported_midi_says_what_generated_it(roll, generation, bench, tmp_path):
    phrase(roll, count=4)
    roll.set_playhead(4.0)
    generation.set_settings(ContinueSettings(bars=2, temperature=1.2, seed=3))
    generation.continue_()
    bench.executor.run()
    path = tmp_path / "out.mid"
    write_midi_artifact(export_artifact(roll, generation), path)
    params = read_midi(path).params
    assert (params["model"], params["seed"], params["bars"], params["temperature"], params["track"]) == \
        ("fake-music", 3, 2, 1.2, "Fake Music 1")
    assert params["checkpoint_sha256"] == file_sha256(roll.path) and params["panel"] == "piano-roll"
    assert [g["track"] for g in params["generations"]] == ["Fake Music 1"]


def test_a_model_writing_beyond_midi_is_reported(roll, generation, bench):
    class Broken(FakeMusic):
        def generate(self, prompt, **_settings):
            yield Note(200, 0.0, 1.0)

    bench.executor.models[roll.path] = Broken()
    failures = []
    roll.work.events.failed.connect(lambda title, message, detail: failures.append(message))
    generation.continue_()
    bench.executor.run()
    assert failures and "pitch is 0-127" in failures[0] and roll.notes == {} and not roll.in_batch


@pytest.mark.parametrize("settings, words", [
    (ContinueSettings(bars=0), "1 to 64 bars"),
    (ContinueSettings(temperature=5.5), "temperature"),
    (ContinueSettings(seed=-1), "seed"),
    (ContinueSettings(count=1), "2 to 8"),
])
def test_settings_are_checked(generation, settings, words):
    with pytest.raises(ValueError, match=words):
        generation.set_settings(settings)


def test_settings_come_back_from_a_file(generation):
    default = ContinueSettings(bars=4, temperature=1.0, seed=0)
    restored = ContinueSettings.from_params({"bars": 8, "temperature": "0.7", "seed": 12}, default)
    assert dataclasses.astuple(restored) == (8, 0.7, 12, 3)
    assert ContinueSettings.from_params({"bars": 1000}, default) == default


def test_a_multi_voice_model_writes_a_track_per_voice(roll, generation, bench):
    class Choir(FakeMusic):
        voices = ("soprano", "bass")

        def generate(self, prompt, *, bars, seed, temperature=1.0, controls=None):
            for i in range(bars * 4):
                yield Note(72, float(i), 1.0, voice=0)
                yield Note(48, float(i), 1.0, voice=1)

    bench.executor.models[roll.path] = Choir()
    generation.continue_()
    bench.executor.run()
    assert [t.track.name for t in roll.tracks] == ["Track 1", "Fake Music 1 (soprano)", "Fake Music 1 (bass)"]
    assert {n.pitch for n in track_notes(roll, 2)} == {48}
    score = roll.score()
    assert {g["track"] for g in generation.export_params(score)["generations"]} == \
        {"Fake Music 1 (soprano)", "Fake Music 1 (bass)"}
    assert isinstance(score, Score) and isinstance(score.tracks[1], Track)


def studio_settings():
    from studio.ui.panels.piano_roll.controls import SETTINGS
    from studio.ui.settings import Settings

    made = Settings()
    made.declare(SETTINGS)
    return made


def test_the_continue_bar_drives_the_generation(roll, generation, bench, qtbot):
    from studio.ui.panels.piano_roll.controls import ContinueBar

    bar = ContinueBar(generation, studio_settings())
    qtbot.addWidget(bar)
    assert generation.new_seed_each_time is True  # the remembered default
    bar.bars.setValue(2)
    bar.seed.setValue(99)
    bar.temperature.setValue(0.7)
    assert (generation.settings.bars, generation.settings.seed, generation.settings.temperature) == (2, 99, 0.7)
    phrase(roll, count=4)
    roll.set_playhead(4.0)
    bar.continue_button.click()
    assert bar.stop_button.isEnabled()
    bench.executor.run()
    assert not bar.stop_button.isEnabled() and len(track_notes(roll, 1)) == 16
    assert roll.model.asked[-1][2] == 99 and bar.seed.value() == generation.settings.seed != 99  # moved on


def test_the_variations_list_auditions_and_uses_one(roll, generation, bench, qtbot):
    from studio.ui.panels.piano_roll.transport import Transport
    from studio.ui.panels.piano_roll.variations import VariationsView

    played = []

    class Player:
        renderer = type("R", (), {"name": "fake"})

        def play(self, score, **kwargs):
            played.append((score, kwargs["start_beat"]))

        def stop(self):
            pass

    transport = Transport(roll, audio=(True, ""), player_factory=lambda sound: Player())
    view = VariationsView(generation, transport)
    qtbot.addWidget(view)
    phrase(roll, count=8)
    roll.set_playhead(8.0)
    generation.set_settings(ContinueSettings(bars=1, seed=5, count=2))
    generation.write_variations()
    bench.executor.run()
    assert view.labels[0].text().startswith("1. Seed 5: 8 notes") and view.labels[1].text().startswith("2. Seed 6")
    assert view.use_buttons[1].isEnabled() and view.labels[2].isHidden()
    view.play_buttons[1].click()
    score, start = played[-1]
    assert start == 4.0 and [t.name for t in score.tracks] == ["Track 1", "Variation 2"]
    view.use_buttons[1].click()
    assert [t.track.name for t in roll.tracks] == ["Track 1", "Fake Music 1"]
    assert "now a track" in view.caption.text()


def test_through_the_inference_thread_the_first_note_is_in_the_roll_at_once(bench, qtbot):
    from studio.engine.inference import InferenceWorker, ModelRef
    from studio.ui.bridge import InferenceClient
    from studio.ui.kit.models import ModelChoice

    spec = bench.add_spec("fake-music", ("MusicGenerator",))
    worker = InferenceWorker(lambda ref, device: FakeMusic(), device="cpu").start()
    try:
        client = InferenceClient(worker)
        warm = []
        client.submit(None, lambda _model, _ctx: None, on_result=warm.append)  # the thread's first start (torch)
        qtbot.waitUntil(lambda: bool(warm))
        state = PianoRollState(client, bench.registry, bench.store)
        state.choice = ModelChoice(spec, ModelRef("fake-music", "in memory"), "fake", 0)
        generation = RollGeneration(state)
        ends = []
        generation.events.finished.connect(lambda run, done: ends.append((run, done)))
        generation.continue_()
        qtbot.waitUntil(lambda: bool(ends))
        run, done = ends[0]
        assert done and run.written == 32 and len(state.notes) == 32  # the engine's own steps are not notes
        assert run.first_note_s < 0.3  # 4 ms here: at once, with room for a loaded machine
    finally:
        worker.stop()


def test_without_a_model_continue_says_where_to_get_one(bench, qtbot):
    from studio.ui.panels.piano_roll.controls import ContinueBar

    state = PianoRollState(bench.executor, bench.registry, bench.store)
    bar = ContinueBar(RollGeneration(state), studio_settings())
    qtbot.addWidget(bar)
    assert not bar.continue_button.isEnabled() and "Choose a music model" in bar.continue_button.toolTip()


def test_a_continuation_undone_gives_its_name_to_the_next(roll, generation, bench):
    phrase(roll, count=4)
    roll.set_playhead(4.0)
    generation.continue_()
    bench.executor.run()
    roll.restore(roll.edits[-1][1])  # undo
    generation.set_settings(ContinueSettings(seed=8))
    generation.continue_()
    bench.executor.run()
    assert [t.track.name for t in roll.tracks] == ["Track 1", "Fake Music 1"]
    assert generation.export_params(roll.score())["seed"] == 8

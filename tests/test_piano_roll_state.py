"""The Piano Roll's document driven without a window: every edit recorded with the exact snapshots
before and after (undo and redo give them back), batches as one step, the selection, clipboard,
transposing, quantizing to straight and triplet grids, mute and solo, the loop and the primer."""

import pytest

from studio.core.capabilities import Note
from studio.core.music.score import Score, TempoChange, TimeSignature, Track
from studio.ui.panels.piano_roll import grid
from studio.ui.panels.piano_roll.state import PianoRollState, Snapshot


@pytest.fixture
def roll(bench):
    state = PianoRollState(bench.executor, bench.registry, bench.store)
    state.edits = []
    state.recorder = lambda text, before, after, merge: state.edits.append((text, before, after, merge))
    return state


def undoes_and_redoes(state, edit):
    """Apply ``edit``; check it was recorded once with the exact snapshots; undo, redo."""
    before = state.snapshot()
    count = len(state.edits)
    edit()
    after = state.snapshot()
    assert len(state.edits) == count + 1, "one edit, one undo step"
    text, recorded_before, recorded_after, _merge = state.edits[-1]
    assert (recorded_before, recorded_after) == (before, after) and before != after
    state.restore(before)
    assert state.snapshot() == before
    state.restore(after)
    assert state.snapshot() == after
    return text


def notes(state):
    return sorted((n.pitch, n.start, n.duration, n.velocity, n.voice) for n in state.notes.values())


def test_drawing_moving_resizing_and_deleting_each_undo_and_redo(roll):
    assert undoes_and_redoes(roll, lambda: roll.add_notes([Note(60, 1.0, 0.5), Note(64, 2.0, 1.0)])) == "Draw note"
    first, second = sorted(roll.notes)
    roll.select([first, second])
    undoes_and_redoes(roll, lambda: roll.move_notes(None, 0.5, 2))
    assert notes(roll) == [(62, 1.5, 0.5, 80, 0), (66, 2.5, 1.0, 80, 0)]
    undoes_and_redoes(roll, lambda: roll.resize_notes([first], 0.25))
    undoes_and_redoes(roll, lambda: roll.resize_notes([second], 0.5, edge="start"))
    assert notes(roll) == [(62, 1.5, 0.75, 80, 0), (66, 3.0, 0.5, 80, 0)]
    undoes_and_redoes(roll, lambda: roll.delete_notes())
    assert roll.notes == {} and roll.selection == set()


def test_notes_keep_their_ids_through_undo_so_views_redraw_only_them(roll):
    ids = roll.add_notes([Note(60, 0.0, 1.0), Note(62, 1.0, 1.0)])
    seen = []
    roll.events.notes.connect(seen.append)
    roll.move_notes([ids[0]], 1.0, 0)
    roll.restore(roll.edits[-1][1])
    assert seen == [{ids[0]}, {ids[0]}]


def test_a_group_moved_against_beat_zero_or_the_top_key_stops_as_one(roll):
    ids = roll.add_notes([Note(120, 0.5, 1.0), Note(100, 2.0, 1.0)])
    roll.move_notes(ids, -3.0, 12)
    assert notes(roll) == [(107, 1.5, 1.0, 80, 0), (127, 0.0, 1.0, 80, 0)]


def test_a_drag_merges_into_one_step_by_its_merge_name(roll):
    (note,) = roll.add_notes([Note(60, 0.0, 1.0)])
    roll.move_notes([note], 0.25, 0, merge="drag-1")
    roll.move_notes([note], 0.25, 0, merge="drag-1")
    assert [e[3] for e in roll.edits[1:]] == ["drag-1", "drag-1"]  # the undo stack merges them


def test_a_batch_is_one_undo_step_though_every_note_shows_at_once(roll):
    shown = []
    roll.events.notes.connect(shown.append)
    before = roll.snapshot()
    roll.begin_batch()
    track = roll.add_track("Continuation", record=False)
    for beat in range(8):
        roll.add_notes([Note(60 + beat, beat, 1.0, voice=track)])
    assert len(shown) == 8 and roll.edits == []
    roll.end_batch("Continue")
    assert len(roll.edits) == 1 and roll.edits[0][0] == "Continue"
    assert roll.edits[0][1] == before and roll.edits[0][2] == roll.snapshot()
    roll.restore(before)
    assert roll.notes == {} and len(roll.tracks) == 1


def test_a_track_added_without_its_own_step_is_undone_with_the_next_edit(roll):
    before = roll.snapshot()
    track = roll.add_track("Melody", record=False)
    roll.add_notes([Note(70, 0.0, 1.0, voice=track)])
    assert len(roll.edits) == 1 and roll.edits[0][1] == before


def test_box_select_ctrl_click_select_all_and_clear(roll):
    low, high, late = roll.add_notes([Note(48, 0.0, 1.0), Note(72, 0.5, 1.0), Note(60, 8.0, 1.0)])
    roll.select_box(0.75, 2.0, 40, 80)
    assert roll.selection == {low, high}
    roll.toggle_selected(low)
    roll.toggle_selected(late)
    assert roll.selection == {high, late}
    roll.select_all()
    assert roll.selection == {low, high, late}
    roll.clear_selection()
    assert roll.selection == set()
    assert roll.edits[-1][0] == "Draw note", "selecting is not an edit"


def test_copy_and_paste_at_the_playhead_and_cut(roll):
    ids = roll.add_notes([Note(60, 2.0, 1.0), Note(64, 3.0, 0.5, velocity=99)])
    roll.select(ids)
    assert roll.copy() == 2
    roll.set_playhead(8.0)
    roll.paste()
    assert roll.edits[-1][0] == "Paste" and roll.selection.isdisjoint(ids) and len(roll.selection) == 2
    assert sorted((n.pitch, n.start, n.velocity) for i, n in roll.notes.items() if i in roll.selection) == \
        [(60, 8.0, 80), (64, 9.0, 99)]
    roll.select(ids)
    assert undoes_and_redoes(roll, roll.cut) == "Cut"
    assert len(roll.notes) == 2
    roll.paste(at=0.0)
    assert min(n.start for n in roll.notes.values()) == 0.0


def test_transposing_by_a_semitone_and_an_octave(roll):
    ids = roll.add_notes([Note(60, 0.0, 1.0), Note(67, 0.0, 1.0)])
    roll.select(ids)
    assert undoes_and_redoes(roll, lambda: roll.transpose(12)) == "Transpose an octave up"
    roll.transpose(-1)
    assert sorted(n.pitch for n in roll.notes.values()) == [71, 78]
    roll.clear_selection()
    count = len(roll.edits)
    roll.transpose(1)
    assert len(roll.edits) == count, "nothing selected, nothing transposed"


@pytest.mark.parametrize(("snap", "start", "end"), [
    ("1/4", 1.0, 2.0), ("1/8", 1.0, 1.5), ("1/16", 1.25, 1.5), ("1/32", 1.25, 1.5),
    ("1/4T", 4 / 3, 2.0), ("1/8T", 4 / 3, 5 / 3), ("1/16T", 7 / 6, 3 / 2)])
def test_quantize_puts_starts_and_ends_on_the_grid_including_triplets(roll, snap, start, end):
    roll.add_notes([Note(60, 1.2, 0.3)])
    roll.set_snap(snap)
    undoes_and_redoes(roll, roll.quantize)  # nothing selected: every note
    (note,) = roll.notes.values()
    assert (note.start, note.start + note.duration) == pytest.approx((start, end))


def test_snap_values_and_their_checks(roll):
    assert grid.SNAPS["1/8T"] * 3 == pytest.approx(grid.SNAPS["1/4"])
    roll.set_snap("Off")
    assert roll.snap_beats is None and roll.draw_length == grid.FREE_LENGTH
    assert grid.floor(0.9999999, 1 / 3) == pytest.approx(2 / 3) and grid.floor(1.0, 1 / 3) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="1/16T"):
        roll.set_snap("1/64")


def test_velocity_edits_and_the_velocity_drawn_next(roll):
    ids = roll.add_notes([Note(60, 0.0, 1.0), Note(62, 1.0, 1.0)])
    undoes_and_redoes(roll, lambda: roll.set_velocity(ids, 300))
    assert {n.velocity for n in roll.notes.values()} == {127} and roll.velocity == 127


def test_mute_and_solo_decide_what_plays(roll):
    roll.add_notes([Note(60, 0.0, 1.0)])
    bass = roll.add_track("Bass", program=32)
    drums = roll.add_track("Pad")
    roll.add_notes([Note(36, 0.0, 1.0, voice=bass), Note(72, 0.0, 1.0, voice=drums)])
    undoes_and_redoes(roll, lambda: roll.set_muted(0, True))
    heard = roll.score(audible_only=True)
    assert [t.name for t in heard.tracks] == ["Bass", "Pad"] and sorted(n.pitch for n in heard.notes) == [36, 72]
    assert {n.voice for n in heard.notes} == {0, 1}
    undoes_and_redoes(roll, lambda: roll.set_solo(drums, True))
    heard = roll.score(audible_only=True)
    assert [t.name for t in heard.tracks] == ["Pad"] and [(n.pitch, n.voice) for n in heard.notes] == [(72, 0)]
    assert len(roll.score().notes) == 3, "the whole score still has every track"


def test_tracks_are_added_renamed_and_removed_with_their_notes(roll):
    lead = roll.add_track("Lead")
    bass = roll.add_track("Bass")
    assert len({t.colour for t in roll.tracks}) == 3
    roll.add_notes([Note(72, 0.0, 1.0, voice=lead), Note(40, 0.0, 1.0, voice=bass)])
    undoes_and_redoes(roll, lambda: roll.rename_track(bass, "Bass guitar"))
    roll.set_active_track(bass)
    undoes_and_redoes(roll, lambda: roll.remove_track(lead))
    assert [t.track.name for t in roll.tracks] == ["Track 1", "Bass guitar"]
    assert [(n.pitch, n.voice) for n in roll.notes.values()] == [(40, 1)] and roll.active_track == 1
    with pytest.raises(ValueError, match="name"):
        roll.rename_track(0, "  ")


def test_loading_and_adding_scores_keeps_tempo_metre_and_tracks(roll):
    score = Score([Note(60, 0.0, 1.0), Note(48, 0.0, 2.0, voice=1)], [Track("S", 0, 52), Track("B", 1, 52)],
                  tempos=[TempoChange(0.0, 72.0)], time_signatures=[TimeSignature(0.0, 3, 4)], name="bwv",
                  params={"seed": 3})
    undoes_and_redoes(roll, lambda: roll.load_score(score))
    assert (roll.bpm, roll.beats_per_bar, roll.name) == (72.0, 3.0, "bwv")
    back = roll.score()
    assert back.notes == score.notes and back.tracks == score.tracks and back.params == {"seed": 3}
    assert undoes_and_redoes(roll, lambda: roll.add_tracks_from(score, text="Import as new tracks")) == \
        "Import as new tracks"
    assert [t.track.name for t in roll.tracks] == ["S", "B", "S", "B"] and len(roll.notes) == 4
    assert roll.score().voice_notes(3) == [Note(48, 0.0, 2.0, voice=3)]
    with pytest.raises(ValueError, match="track 3"):
        roll.load_score(Score([Note(60, 0.0, 1.0, voice=2)], [Track("only")]))


def test_selected_only_keeps_the_selection_and_its_tracks(roll):
    other = roll.add_track("Other")
    keep, _ = roll.add_notes([Note(60, 0.0, 1.0, voice=other), Note(50, 0.0, 1.0)])
    roll.select([keep])
    part = roll.score(selected_only=True)
    assert [t.name for t in part.tracks] == ["Other"] and part.notes == [Note(60, 0.0, 1.0, voice=0)]


def test_tempo_and_time_signature_edits(roll):
    undoes_and_redoes(roll, lambda: roll.set_bpm(140))
    undoes_and_redoes(roll, lambda: roll.set_time_signature(6, 8))
    assert roll.snapshot().bpm == 140 and roll.snapshot().beats_per_bar == 3.0
    with pytest.raises(ValueError, match="7/5"):
        roll.set_time_signature(7, 5)


def test_playhead_and_loop(roll):
    heard = []
    roll.events.playhead.connect(heard.append)
    roll.set_playhead(-2)
    roll.set_playhead(4.5)
    assert heard == [4.5] and roll.playhead == 4.5
    roll.set_loop(8.0, 4.0)
    assert roll.loop == (4.0, 8.0) and roll.loop_enabled
    roll.set_loop_enabled(False)
    assert not roll.loop_enabled and roll.edits == []


def test_notes_before_cut_at_the_playhead_or_the_selection(roll):
    held, after, short = roll.add_notes([Note(60, 0.0, 4.0), Note(64, 3.0, 1.0), Note(67, 1.0, 0.5)])
    assert roll.notes_before(2.0) == [Note(60, 0.0, 2.0), Note(67, 1.0, 0.5)]
    roll.select([after])
    assert roll.notes_before(2.0) == [Note(64, 3.0, 1.0)]


def test_bad_notes_are_refused_whole(roll):
    with pytest.raises(ValueError, match="track 2"):
        roll.add_notes([Note(60, 0.0, 1.0), Note(60, 0.0, 1.0, voice=1)])
    with pytest.raises(ValueError, match="0 to 127"):
        roll.add_notes([Note(128, 0.0, 1.0)])
    assert roll.notes == {} and roll.edits == []


def test_bars_follow_the_time_signature_map():
    signatures = [TimeSignature(0.0, 4, 4), TimeSignature(8.0, 3, 4), TimeSignature(14.0, 6, 8)]
    assert list(grid.bars(signatures, 0.0, 20.0)) == [
        (0.0, 1, 4.0), (4.0, 2, 4.0), (8.0, 3, 3.0), (11.0, 4, 3.0), (14.0, 5, 3.0), (17.0, 6, 3.0)]
    assert list(grid.bars(signatures, 12.0, 18.0)) == [(14.0, 5, 3.0), (17.0, 6, 3.0)]
    assert grid.pitch_name(60) == "C4" and grid.pitch_name(21) == "A0"


def test_a_snapshot_is_a_value(roll):
    roll.add_notes([Note(60, 0.0, 1.0)])
    snap = roll.snapshot()
    roll.add_notes([Note(62, 0.0, 1.0)])
    assert len(snap.notes) == 1 and isinstance(snap, Snapshot)
    with pytest.raises(TypeError):
        snap.notes[5] = Note(1, 0.0, 1.0)

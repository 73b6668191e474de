"""`studio generate` for the music models: a MIDI file of the prompt and its continuation, and a WAV beside it."""

from __future__ import annotations

import wave
from types import SimpleNamespace

import pytest
from needs import needs_module

needs_module("torch")

from studio.cli import main  # noqa: E402
from studio.core.capabilities import Note  # noqa: E402
from studio.core.music.midi import read_midi, write_midi  # noqa: E402
from studio.core.music.score import Score, TempoChange, TimeSignature, Track  # noqa: E402

TINY = {
    "music-transformer": ["embedding_dim=32", "n_heads=2", "key_dim=16", "feed_forward_dim=32", "seq_len=16",
                          "batch_size=8"],
    "event-transformer": ["n_layer=1", "n_head=2", "n_embd=32", "block_size=64", "batch_size=4"],
}


def chorale(bars: int, bpm: float = 90.0) -> Score:
    """Two voices in contrary motion, a note a beat."""
    melody = [Note(72 - (b % 8), b, 1.0, 90, 0) for b in range(bars * 4)]
    bass = [Note(48 + (b % 8), b, 1.0, 70, 1) for b in range(bars * 4)]
    return Score(melody + bass, [Track("Soprano"), Track("Bass")], [TempoChange(0, bpm)], name="prompt")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each music model trained for 3 steps with `studio train` on one MIDI file, and that file."""
    root = tmp_path_factory.mktemp("music-cli")
    piece = root / "piece.mid"
    write_midi(chorale(24), piece)
    out = {}
    for model, settings in TINY.items():
        out[model] = root / model
        argv = ["--device", "cpu", "train", model, "--data", f"midi-file:{piece}", "--steps", "3", "--out",
                str(out[model]), "--no-catalogue", *[a for s in settings for a in ("--set", s)]]
        assert main(argv) == 0
    prompt = root / "prompt.mid"
    write_midi(chorale(2), prompt)
    return SimpleNamespace(out=out, prompt=prompt, piece=piece)


@pytest.mark.parametrize("model", list(TINY))
def test_generate_continues_a_prompt_into_a_track_of_its_own_and_renders_a_wav(runs, model, tmp_path, capsys):
    out = tmp_path / "continued.mid"
    argv = ["--device", "cpu", "generate", model, "--checkpoint", str(runs.out[model]), "--prompt", str(runs.prompt),
            "--bars", "2", "--seed", "4", "--temperature", "0.8", "--wav", "--out", str(out)]
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "(MIDI file)" in said and "(WAV audio)" in said
    score = read_midi(out)
    assert [t.name for t in score.tracks][:2] == ["Soprano", "Bass"] and len(score.tracks) == 3
    assert score.tracks[2].channel not in (score.tracks[0].channel, score.tracks[1].channel)
    prompt = [n for n in score.notes if n.voice < 2]
    written = [n for n in score.notes if n.voice == 2]
    assert len(prompt) == 16 and written, "the prompt is kept and a continuation follows it"
    assert all(8 <= n.start < 16 for n in written) and score.bpm == pytest.approx(90)
    params = score.params
    assert (params["panel"], params["model"], params["seed"], params["bars"], params["temperature"]) == \
        ("piano-roll", model, 4, 2, 0.8)
    assert params["primer_notes"] == 16 and params["checkpoint_sha256"]
    with wave.open(str(out.with_suffix(".wav"))) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    assert score.length_seconds <= seconds < score.length_seconds + 5  # the music and its release tail

    again = tmp_path / "again.mid"
    assert main([*argv[:-1], str(again)]) == 0
    assert read_midi(again).notes == score.notes  # the same seed writes the same notes


def test_bars_are_counted_in_the_prompts_metre(runs, tmp_path):
    waltz = chorale(2)
    waltz.time_signatures = [TimeSignature(0.0, 3, 4)]
    prompt, out = tmp_path / "waltz.mid", tmp_path / "out.mid"
    write_midi(waltz, prompt)
    assert main(["--device", "cpu", "generate", "music-transformer", "--checkpoint", str(runs.out["music-transformer"]),
                 "--prompt", str(prompt), "--bars", "3", "--out", str(out)]) == 0
    written = [n for n in read_midi(out).notes if n.voice == 2]
    assert written and all(8 <= n.start and n.start + n.duration <= 8 + 3 * 3 + 1e-6 for n in written)


def test_generate_without_a_prompt_starts_a_piece(runs, tmp_path):
    out = tmp_path / "new.mid"
    assert main(["--device", "cpu", "generate", "event-transformer", "--checkpoint", str(runs.out["event-transformer"]),
                 "--bars", "1", "--out", str(out)]) == 0
    score = read_midi(out)
    assert all(n.voice == 0 and n.start < 4 for n in score.notes) and score.params["primer_notes"] == 0


def test_a_bad_prompt_is_named_and_nothing_is_written(runs, tmp_path, capsys):
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    out = tmp_path / "out.mid"
    for prompt in (broken, tmp_path / "missing.mid"):
        assert main(["generate", "music-transformer", "--checkpoint", str(runs.out["music-transformer"]),
                     "--prompt", str(prompt), "--out", str(out)]) == 1
        assert prompt.name in capsys.readouterr().err
    assert not out.exists()
    assert main(["generate", "music-transformer", "--checkpoint", str(runs.out["music-transformer"]),
                 "--out", str(tmp_path / "music.txt")]) == 1
    assert "No installed exporter writes notes files ending in .txt" in capsys.readouterr().err


@pytest.mark.parametrize("model", list(TINY))
def test_a_loss_that_is_no_longer_a_number_stops_training_with_a_message(runs, model, tmp_path, capsys):
    argv = ["--device", "cpu", "train", model, "--data", f"midi-file:{runs.piece}", "--steps", "20", "--out",
            str(tmp_path / "run"), "--no-catalogue", "--set", "learning_rate=1e30", "--set", "warmup_steps=0",
            *[a for s in TINY[model] for a in ("--set", s)]]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Training stopped at step" in err and "lower learning rate" in err

"""Fuzzed files on the command line: `studio generate` with a damaged checkpoint, `studio music inspect`
with a damaged MIDI file, `studio train` with damaged IDX or image files and `studio dream train-vae` with
damaged episodes exit with status 1 and one ``studio: error:`` line naming the file, no traceback; no image
or checkpoint is written (a training run's folder keeps the error in its events)."""

from __future__ import annotations

import pytest
from fuzz_support import fuzz_tally, fuzzed, scratch, tried, unchanged  # noqa: F401
from hypothesis import given
from hypothesis import strategies as st

from studio.cli import main

#: (file name, the command line given the file's folder and the output's)
COMMANDS = {
    "checkpoint": ("checkpoint.safetensors",
                   lambda d, out: ["generate", "autoencoder", "--checkpoint", str(d / "checkpoint.safetensors"),
                                   "--n", "1", "--out", str(out / "grid.png")]),
    "midi": ("song.mid", lambda d, out: ["music", "inspect", str(d / "song.mid")]),
    "idx": ("train-images-idx3-ubyte", lambda d, out: ["train", "autoencoder", "--data",
                                                       f"idx:{d / 'train-images-idx3-ubyte'}", "--steps", "1",
                                                       "--no-catalogue", "--out", str(out / "run")]),
    "image-folder": ("broken.png", lambda d, out: ["train", "autoencoder", "--data", f"image-folder:{d}",
                                                   "--steps", "1", "--no-catalogue", "--out", str(out / "run")]),
    "rollouts": ("episode-00000.npz", lambda d, out: ["dream", "train-vae", "--data", f"carracing-rollouts:{d}",
                                                      "--steps", "1", "--no-catalogue", "--out", str(out / "run")]),
}
#: how each kind of file may begin, so that the damage reaches past the first check
PREFIXES = {"checkpoint": [b"", b"\x10\0\0\0\0\0\0\0{", b"\x80\x04"], "midi": [b"", b"MThd\0\0\0\x06\0\x01"],
            "idx": [b"", b"\0\0\x08\x03", b"\x1f\x8b"], "image-folder": [b"", b"\x89PNG\r\n\x1a\n"],
            "rollouts": [b"", b"PK\x03\x04"]}


@fuzzed(0.5)
@given(kind=st.sampled_from(sorted(COMMANDS)), data=st.data())
def test_a_damaged_file_on_the_command_line_is_one_clear_error(kind, data, capsys):
    name, command = COMMANDS[kind]
    content = data.draw(st.sampled_from(PREFIXES[kind])) + data.draw(st.binary(max_size=80))
    with scratch() as folder:
        inputs, out = folder / "in", folder / "out"
        inputs.mkdir()
        out.mkdir()
        (inputs / name).write_bytes(content)
        capsys.readouterr()
        code = main(command(inputs, out))
        tried(f"cli.{kind}")
        stderr = capsys.readouterr().err
        assert code == 1, stderr
        assert stderr.startswith("studio: error: ") and name in stderr and "Traceback" not in stderr, stderr
        unchanged(inputs / name, content)
        made = [p.name for p in out.rglob("*") if p.suffix in (".png", ".safetensors")]
        assert not made, f"{made} written from a file that could not be read"  # a run folder keeps its error


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_an_empty_file_on_the_command_line_is_one_clear_error(kind, tmp_path, capsys):
    name, command = COMMANDS[kind]
    (tmp_path / name).write_bytes(b"")
    (tmp_path / "out").mkdir()
    assert main(command(tmp_path, tmp_path / "out")) == 1
    stderr = capsys.readouterr().err
    assert stderr.startswith("studio: error: ") and stderr.count("\n") == 1 and "Traceback" not in stderr

"""`studio music inspect`: what the studio reads from a MIDI file, or why it cannot."""

from __future__ import annotations

import argparse

from studio.cli.output import print_json, print_table

#: how many tempo or metre changes the readable report lists before it only counts the rest
SHOWN_CHANGES = 8
_PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def add_all(sub: argparse._SubParsersAction) -> None:
    music = sub.add_parser("music", help="look into music files")
    music_sub = music.add_subparsers(dest="action", metavar="ACTION", required=True)
    inspect = music_sub.add_parser(
        "inspect", help="what the piano roll reads from a MIDI file",
        description="Print what importing FILE reads (format, tracks with their channel, program and notes, "
                    "tempo and time signatures, length), or the error the piano roll would show, with exit "
                    "status 1.")
    inspect.add_argument("file", help="a .mid or .midi file")
    inspect.add_argument("--json", action="store_true", help="machine-readable output (see docs/cli.md)")
    inspect.set_defaults(run=inspect_run)


def inspect_run(args: argparse.Namespace) -> int:
    from studio.core.music.midi import inspect_midi

    report = inspect_midi(args.file)
    if args.json:
        print_json(report)
    else:
        print_report(report)
    return 0


def print_report(report: dict) -> None:
    midi_tracks = report["midi_tracks"]
    print(f"{report['file']}: MIDI type {report['format']}, {report['ticks_per_beat']} ticks per beat, "
          f"{midi_tracks} MIDI track{'s' if midi_tracks != 1 else ''}")
    print(f"{report['notes']} notes, {report['length_beats']:g} beats, {_clock(report['length_seconds'])}")
    if report["notes"]:
        print()
        print_table(("track", "channel", "program", "notes", "range"),
                    [(t["name"], t["channel"] + 1, t["program"], t["notes"],
                      f"{pitch_name(t['lowest'])}-{pitch_name(t['highest'])}") for t in report["tracks"]])
    print()
    print("Tempo: " + _changes([f"{round(t['bpm'], 2):g} bpm at beat {t['beat']:g}" for t in report["tempos"]]))
    print("Time signature: " + _changes([f"{s['numerator']}/{s['denominator']} at beat {s['beat']:g}"
                                         for s in report["time_signatures"]]))
    if report["params"]:
        print("Made by the studio with: " + ", ".join(f"{k}={v}" for k, v in sorted(report["params"].items())))


def pitch_name(pitch: int) -> str:
    """MIDI pitch as a note name, middle C (60) being C4."""
    return f"{_PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f} ({seconds:g} s)"


def _changes(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN_CHANGES])
    more = len(items) - SHOWN_CHANGES
    return f"{shown} and {more} more changes" if more > 0 else shown

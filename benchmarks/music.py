"""Music models on the JSB chorales' train/valid split, each against a baseline measured in the same run.

    .venv/bin/python benchmarks/music.py [--quick] [--model KIND=CHECKPOINT ...]
        [--melody-steps N] [--event-steps N] [--primers N]

- ``val_loss_notes``, ``val_loss_durations``: the book's music transformer (its default config:
  one block, 5 heads, key size 256, sequences of 50) on the top line of the chorales (their
  soprano, as the book's parse takes the top note of each chord), nats per token over the
  validation chorales; ``markov_val_loss_notes`` and ``markov_val_loss_durations``: an order-2
  Markov chain on the same token streams, add-k smoothed with k chosen on the validation split
  (the best of a grid, so the chain is given every advantage), averaged over exactly the tokens the
  model's loss is (those its evenly spaced validation windows predict, as often); ``*_vs_markov`` the
  ratios (target at most 0.85). The model (not the book's: its ``bar_position``) also reads where in
  the bar each next note starts, with the chorales moved to end on a bar line (the file has no bar
  lines, see :func:`on_bar_lines`); the chain does not, so ``markov_bar_val_loss_durations`` is the
  chain on durations given that position too, for reference.
- ``val_loss_events`` and ``markov_val_loss_events``: the polyphonic event transformer (its
  default config) on all four voices merged into 388 event tokens at the chorales' 100 bpm, and
  the order-2 chain on the same events.
- ``pitch_class_tv_generated``: total variation between the pitch-class histogram of the event
  model's continuations (4 bars after the first 2 bars of each of ``--primers`` validation
  chorales, temperature 1) and that of every note of the training chorales;
  ``pitch_class_tv_random`` the same for as many pitches drawn uniformly from the training
  range. ``*_melody``: the book model's continuations against the training top lines (the chorales
  moved onto their bar lines, so its primers are 2 bars).
- ``in_key_rate_generated`` / ``in_key_rate_random`` (and ``*_melody``): the share of
  continuation notes whose pitch class is in the primer's key, estimated by music21's
  ``analyze('key')`` on the primer. ``*_bach``: both figures for the 4 bars Bach wrote there
  (where real music lies: chorales modulate and use chromatic notes).
- ``synth_realtime_factor``: seconds of audio the built-in synthesizer
  (:func:`studio.core.music.synth.render`) makes per second of this process's CPU time, for the
  first four-voice validation chorale (target at least 100).

The models train here on the JSB training chorales (``--melody-steps``, ``--event-steps``), since the
starters were trained on music21's chorales, which include the validation ones; ``--model
music-transformer=CKPT`` or ``event-transformer=CKPT`` evaluates a checkpoint instead (fair only for
one trained on the JSB training part). Needs ../shared/data/music/Jsb16thSeparated.json.
``--quick`` trains a few steps (for checking the script). The whole run takes about 13 minutes on 2
CPU cores (most of it the two trainings: 1,200 and 800 steps). ``continue_first_note_ms`` is the piano
roll's own figure, measured with the panel.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
from _common import model_checkpoints, report  # noqa: E402  (first: it imports studio, before torch loads)
# isort: on
import numpy as np  # noqa: E402
import torch  # noqa: E402

from studio.core.checkpoint import load_model  # noqa: E402
from studio.core.data import DataSplit  # noqa: E402
from studio.core.data.music import load_jsb_json  # noqa: E402
from studio.core.music.score import Score  # noqa: E402
from studio.core.music.synth import synth_realtime_factor  # noqa: E402
from studio.core.plugins import discover  # noqa: E402
from studio_builtins.music.config import EventConfig, MelodyConfig  # noqa: E402
from studio_builtins.music.melody import top_line  # noqa: E402
from studio_builtins.music.trainer import EventTrainer, MelodyTrainer  # noqa: E402

JSB = Path(__file__).resolve().parents[2] / "shared" / "data" / "music" / "Jsb16thSeparated.json"
KINDS = ("music-transformer", "event-transformer")
#: add-k values the Markov chain is tried with; the best on the validation split is reported
SMOOTHING = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0)
PRIMER_BEATS = 8.0
CONTINUATION_BARS = 4


def markov_loss(train: np.ndarray, validation: np.ndarray, targets: np.ndarray | None = None,
                train_given: np.ndarray | None = None,
                validation_given: np.ndarray | None = None) -> tuple[float, float]:
    """Nats per token of an order-2 chain with add-k smoothing on ``validation``, at the best k of
    :data:`SMOOTHING`; returns (loss, k). ``targets``: the indices of the validation tokens to average
    over, with repeats (by default every token after the first two); a token's context is the two
    before it in the stream (before the stream's start, a mark of its own). ``*_given``: a third
    token each position is predicted with as well (the model's bar position). Its vocabulary is the
    tokens the two streams hold (not the model's, which may know notes neither has: smoothing spreads
    less)."""
    vocab = len(set(train.tolist()) | set(validation.tolist()))

    def contexts_of(stream: np.ndarray, given: np.ndarray | None) -> list[tuple]:
        padded = [-1, -1, *stream.tolist()]
        extra = [None] * len(stream) if given is None else given.tolist()
        return [(padded[j], padded[j + 1], extra[j]) for j in range(len(stream))]

    contexts, grams = Counter(), Counter()
    for context, token in zip(contexts_of(train, train_given), train.tolist(), strict=True):
        contexts[context] += 1
        grams[context, token] += 1
    held = contexts_of(validation, validation_given)
    targets = np.arange(2, len(validation)) if targets is None else targets
    seen = np.array([grams.get((held[j], int(validation[j])), 0) for j in targets], dtype=np.float64)
    totals = np.array([contexts.get(held[j], 0) for j in targets], dtype=np.float64)
    best = min((float(-np.mean(np.log((seen + k) / (totals + k * vocab)))), k) for k in SMOOTHING)
    return best


def validation_targets(trainer) -> np.ndarray:
    """The validation tokens the model's loss averages over (a token in several windows counts as often)."""
    starts, length = trainer.validation_windows()
    return (starts[:, None] + np.arange(1, length + 1)).ravel()


def on_bar_lines(score: Score) -> Score:
    """``score`` moved later so that it ends on a bar line. The JSB file has no bar lines: its chorales
    start with their first note, pickup or not, and end with a full bar (moved so, most of their long notes
    fall on beats 1 and 3: in 197 of the 229 training chorales, against 69 unmoved). The melody tokens
    stay the same (the top line starts at the first note); only the model's bar positions move."""
    shift = (-score.length_beats) % score.beats_per_bar
    return dataclasses.replace(score, notes=[dataclasses.replace(n, start=n.start + shift) for n in score.notes])


def melody(split, args, registry) -> tuple[object, dict[str, float]]:
    if "music-transformer" in args.models:
        model = load_model(registry, "music-transformer", args.models["music-transformer"])
        trainer = MelodyTrainer(model.config, split, seed=0)
        trainer.model.load_state_dict(model.state_dict())
        trained_s = 0.0
    else:
        trainer, trained_s = train(MelodyTrainer, MelodyConfig(), split, args.melody_steps)
    losses = trainer.validate()
    stream, held = trainer.train_stream.numpy(), trainer.validation_stream.numpy()
    targets = validation_targets(trainer)
    chain_notes, k_notes = markov_loss(stream[:, 0], held[:, 0], targets)
    chain_durations, k_durations = markov_loss(stream[:, 1], held[:, 1], targets)
    # the model's bar input: the position a token is read with is where the token after it starts
    bar = {}
    if stream.shape[1] > 2:
        chain_bar, k_bar = markov_loss(stream[:, 1], held[:, 1], targets, np.r_[0, stream[:-1, 2]],
                                       np.r_[0, held[:-1, 2]])
        bar = {"markov_bar_val_loss_durations": chain_bar, "markov_bar_k_durations": k_bar}
    return trainer.model.eval(), {
        "val_loss_notes": losses["loss_notes"], "val_loss_durations": losses["loss_durations"],
        "markov_val_loss_notes": chain_notes, "markov_val_loss_durations": chain_durations,
        "notes_vs_markov": losses["loss_notes"] / chain_notes,
        "durations_vs_markov": losses["loss_durations"] / chain_durations,
        "markov_k_notes": k_notes, "markov_k_durations": k_durations, "melody_train_seconds": trained_s, **bar,
    }


def events(split, args, registry) -> tuple[object, dict[str, float]]:
    if "event-transformer" in args.models:
        model = load_model(registry, "event-transformer", args.models["event-transformer"])
        trainer = EventTrainer(model.config, split, seed=0)
        trainer.model.load_state_dict(model.state_dict())
        trained_s = 0.0
    else:
        trainer, trained_s = train(EventTrainer, EventConfig(), split, args.event_steps)
    loss = trainer.validate()["loss"]
    chain, k = markov_loss(trainer.train_stream.numpy()[:, 0], trainer.validation_stream.numpy()[:, 0],
                           validation_targets(trainer))
    return trainer.model.eval(), {"val_loss_events": loss, "markov_val_loss_events": chain,
                                  "events_vs_markov": loss / chain, "markov_k_events": k,
                                  "event_train_seconds": trained_s}


def train(trainer_class, config, split, steps: int):
    trainer = trainer_class(config, split, seed=0)
    began = time.perf_counter()
    for progress in trainer.steps(0, steps):
        if progress.step % 100 == 0:
            print(f"  {trainer_class.__name__} step {progress.step}/{steps}: loss {progress.losses['loss']:.3f}",
                  flush=True)
    return trainer, time.perf_counter() - began


def pitch_classes(pitches) -> np.ndarray:
    counts = np.bincount(np.asarray(list(pitches), dtype=np.int64) % 12, minlength=12).astype(np.float64)
    return counts / max(1.0, counts.sum())


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    return float(0.5 * np.abs(p - q).sum())


def key_pitch_classes(primer: Score) -> set[int]:
    """The pitch classes of the primer's key, as music21's key analysis (Krumhansl-Schmuckler) finds it."""
    import music21

    stream = music21.stream.Stream()
    for note in primer.notes:
        stream.insert(note.start, music21.note.Note(note.pitch, quarterLength=note.duration))
    return {p.pitchClass for p in stream.analyze("key").getScale().getPitches()}


def generated(model, split, args, reference_pitches, suffix: str, melody_only: bool) -> dict[str, float]:
    """Pitch-class TV and in-key rates of ``model``'s continuations of the validation primers, of as many
    random pitches over the training range, and of what Bach wrote there (``*_bach``: where the figures
    of real music lie; for the melody model, the top line of it)."""
    low, high = min(reference_pitches), max(reference_pitches)
    rng = np.random.default_rng(0)
    pitches: dict[str, list[int]] = {"generated": [], "random": [], "bach": []}
    in_key = dict.fromkeys(pitches, 0)
    for i, chorale in enumerate(split.validation[:args.primers]):
        primer = chorale.with_notes([n for n in chorale.notes_between(0.0, PRIMER_BEATS)
                                     if n.start + n.duration <= PRIMER_BEATS])
        end = PRIMER_BEATS + CONTINUATION_BARS * 4
        bach = chorale.notes_between(PRIMER_BEATS, end)
        bach = [e.pitch for e in top_line(bach) if e.pitch is not None] if melody_only else [n.pitch for n in bach]
        made = [n.pitch for n in model.generate(primer.notes, bars=CONTINUATION_BARS, seed=i, temperature=1.0,
                                                controls={"tempo": chorale.bpm})]
        key = key_pitch_classes(primer)
        for name, found in (("generated", made), ("random", rng.integers(low, high + 1, len(made)).tolist()),
                            ("bach", bach)):
            pitches[name] += found
            in_key[name] += sum(p % 12 in key for p in found)
    reference = pitch_classes(reference_pitches)
    metrics = {}
    for name, found in pitches.items():
        metrics[f"pitch_class_tv_{name}{suffix}"] = total_variation(pitch_classes(found), reference)
        metrics[f"in_key_rate_{name}{suffix}"] = in_key[name] / max(1, len(found))
    metrics[f"generated_notes{suffix}"] = len(pitches["generated"])
    return metrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--model", action="append", default=[], metavar="KIND=CHECKPOINT")
    parser.add_argument("--melody-steps", type=int, default=1200)
    parser.add_argument("--event-steps", type=int, default=800)
    parser.add_argument("--primers", type=int, default=20)
    args = parser.parse_args()
    if args.quick:
        args.melody_steps, args.event_steps, args.primers = 20, 10, 3
    args.models = model_checkpoints(args.model, KINDS)
    if not JSB.is_file():
        raise SystemExit(f"The JSB chorales are not at {JSB}.")
    torch.manual_seed(0)
    registry = discover().registry
    split = load_jsb_json(str(JSB)).split()
    metrics: dict[str, float] = {"train_chorales": len(split.train), "validation_chorales": len(split.validation),
                                 "torch_threads": torch.get_num_threads()}
    # the book model reads bar positions: it gets the chorales on their bar lines (its primers too)
    melody_split = DataSplit([on_bar_lines(s) for s in split.train], [on_bar_lines(s) for s in split.validation],
                             split.name)
    melody_model, found = melody(melody_split, args, registry)
    metrics.update(found)
    event_model, found = events(split, args, registry)
    metrics.update(found)
    every_pitch = [n.pitch for score in split.train for n in score.notes]
    top_pitches = [e.pitch for score in split.train for e in top_line(score.notes) if e.pitch is not None]
    metrics.update(generated(event_model, split, args, every_pitch, "", melody_only=False))
    metrics.update(generated(melody_model, melody_split, args, top_pitches, "_melody", melody_only=True))
    four_voices = next(s for s in split.validation if len({n.voice for n in s.notes}) == 4)
    metrics["synth_realtime_factor"] = synth_realtime_factor(four_voices)
    metrics["synth_chorale_seconds"] = four_voices.length_seconds
    notes = {"notes_vs_markov": "target <= 0.85", "durations_vs_markov": "target <= 0.85",
             "synth_realtime_factor": "target >= 100",
             "val_loss_notes": "nats per token", "val_loss_events": "nats per event"}
    report("music", {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in metrics.items()},
           notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

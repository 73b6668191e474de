"""`studio dream`: World Models on CarRacing from the shell. Collect rollouts, train V, M and C (each the
`studio train` of its stage, built on the stage before with --from), and score a controller on real tracks.

The plugin's environment tools (collecting, evaluating) are reached through the carracing-rollouts source's
loader (its ``tools`` references), never by importing the plugin.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from studio.cli import train_commands
from studio.cli.output import print_json
from studio.core.errors import UserError
from studio.core.plugins import discover
from studio.engine.events import format_duration

SOURCE = "carracing-rollouts"
#: (command, model, what it does) of each training stage
STAGES = (
    ("train-vae", "world-vae", "train V, the VAE on the frames of collected rollouts"),
    ("train-rnn", "mdn-rnn", "train M, the MDN-RNN on V's latents of the rollouts (--from world-vae=RUN)"),
    ("train-controller", "controller", "evolve C, the linear controller, with CMA-ES (--from mdn-rnn=RUN)"),
)
#: the first track `evaluate` drives by default: far from the seeds collecting starts at (0, 1, 2, ...)
EVALUATE_SEED = 1_000_000


def add_all(sub: argparse._SubParsersAction) -> None:
    dream = sub.add_parser(
        "dream", help="World Models on CarRacing: collect rollouts, train V, M and C, evaluate",
        description="The World Models pipeline (chapter 12) on Gymnasium's CarRacing, stage by stage: collect "
                    "rollouts, train-vae on them, train-rnn on the VAE's latents, train-controller in the dream "
                    "(or the real environment), evaluate on real tracks. Every stage resumes after a kill.")
    dream_sub = dream.add_subparsers(dest="action", metavar="ACTION", required=True)

    collect = dream_sub.add_parser(
        "collect", help="drive a smooth random policy and save its rollouts",
        description="Drive CarRacing with a smooth random policy (actions that drift) and save each episode in "
                    "--out as it ends (episode-00000.npz, ..., and rollouts.json). Episode i is the track of seed "
                    "--seed + i, so the same seed gives the same rollouts whatever --workers. Episodes already in "
                    "--out are kept: run the same command again to resume after Ctrl+C or a kill.")
    collect.add_argument("--episodes", type=_positive, required=True, help="episodes the folder should hold")
    collect.add_argument("--steps", type=_positive, default=1000,
                         help="steps per episode at most (default 1000, CarRacing's own limit)")
    collect.add_argument("--workers", type=_positive, default=min(4, os.cpu_count() or 1),
                         help="processes driving episodes at once (default: the cores, at most 4); each holds an "
                              "environment and one episode's frames")
    collect.add_argument("--out", type=Path, required=True, help="the rollouts folder (created if need be)")
    collect.add_argument("--seed", type=int, default=0, help="seed of the first episode's track (default 0)")
    collect.set_defaults(run=collect_run)

    for command, model, what in STAGES:
        stage = dream_sub.add_parser(
            command, help=what,
            description=f"{what[0].upper()}{what[1:]}: `studio train {model}` with the same options. --data takes "
                        f"{SOURCE}:FOLDER or the rollouts FOLDER alone.")
        train_commands.add_train_options(stage)
        stage.set_defaults(run=stage_run, model=model)
        if model == "controller":  # a step is a whole CMA-ES generation: keep every one
            stage.set_defaults(checkpoint_every=1)

    evaluate = dream_sub.add_parser(
        "evaluate", help="score a trained controller on real tracks",
        description="Drive --episodes real CarRacing tracks with a trained controller and print its score, mean "
                    "± standard deviation (the paper's measure: 900 or more over 100 tracks solves the task).")
    evaluate.add_argument("--checkpoint", type=Path, required=True,
                          help="a controller checkpoint or its run folder (`studio dream train-controller --out`)")
    evaluate.add_argument("--episodes", type=_positive, default=100, help="tracks to drive (default 100)")
    evaluate.add_argument("--workers", type=_positive, default=min(4, os.cpu_count() or 1),
                          help="processes driving tracks at once (default: the cores, at most 4)")
    evaluate.add_argument("--seed", type=int, default=EVALUATE_SEED,
                          help=f"seed of the first track (default {EVALUATE_SEED}, tracks collecting did not use)")
    evaluate.add_argument("--json", action="store_true", help="machine-readable output (see docs/cli.md)")
    evaluate.set_defaults(run=evaluate_run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def tool(registry, name: str):
    """One of the rollouts source's tools (``collect``, ``evaluate``), imported now."""
    from studio.core.specs import resolve

    if SOURCE not in registry.dataset_sources:
        raise UserError(f"No installed plugin offers the {SOURCE} source; see `studio plugins list`.")
    tools = getattr(resolve(registry.dataset_source(SOURCE).loader), "tools", {})
    if name not in tools:
        raise UserError(f"The {SOURCE} source offers no {name}.")
    return resolve(tools[name])


def collect_run(args: argparse.Namespace) -> int:
    collect = tool(discover().registry, "collect")
    line = _ProgressLine(sys.stderr)
    print(f"collecting {args.episodes} episodes of at most {args.steps} steps into {args.out} "
          f"with {args.workers} worker{'s' if args.workers > 1 else ''}", file=sys.stderr)
    result = collect(args.out, args.episodes, args.steps, workers=args.workers, seed=args.seed,
                     on_progress=line.show)
    line.end()
    pace = f" in {format_duration(result.elapsed_s)} ({result.steps_per_s:.0f} steps/s)" if result.collected else ""
    kept = f", {result.kept} kept from before" if result.kept else ""
    print(f"{result.kept + result.collected} of {args.episodes} episodes in {result.folder}: "
          f"{result.collected} collected, {result.steps:,} steps{pace}{kept}")
    if result.stopped:
        print("stopped: run the same command again to collect the rest", file=sys.stderr)
        return 130
    return 0


class _ProgressLine:
    """Collecting's progress: one line rewritten in place on a terminal, a line per finished episode
    otherwise (a log, a pipe)."""

    def __init__(self, stream):
        self._stream = stream
        self._live = stream.isatty()
        self._episodes = -1
        self._shown = 0.0

    def show(self, progress) -> None:
        now = time.monotonic()
        finished = progress.episodes_done != self._episodes
        if self._live and not finished and now - self._shown < 0.25:
            return
        if not self._live and not finished:
            return
        self._episodes, self._shown = progress.episodes_done, now
        pace = progress.steps_done / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
        eta = "" if progress.eta_s is None else f", ETA {format_duration(progress.eta_s)}"
        text = (f"episode {progress.episodes_done}/{progress.episodes_total}, {progress.steps_done:,} steps, "
                f"{pace:.0f} steps/s{eta}")
        self._stream.write(f"\r{text}\x1b[K" if self._live else f"{text}\n")
        self._stream.flush()

    def end(self) -> None:
        if self._live and self._episodes >= 0:
            self._stream.write("\n")


def stage_run(args: argparse.Namespace) -> int:
    """`studio train MODEL` of the stage; a bare rollouts folder as --data means the rollouts source."""
    if args.data and ":" not in args.data and Path(args.data).expanduser().is_dir():
        args.data = f"{SOURCE}:{args.data}"
    return train_commands.train_run(args)


def evaluate_run(args: argparse.Namespace) -> int:
    import math

    from studio.core.checkpoint import load_model
    from studio.engine.run_folder import checkpoint_in

    registry = discover().registry
    evaluate = tool(registry, "evaluate")
    controller = load_model(registry, "controller", checkpoint_in(args.checkpoint), "cpu")

    def heard(index: int, score: float) -> None:
        if not args.json:
            print(f"track {args.seed + index}: {score:.1f}", file=sys.stderr)

    scores = evaluate(controller, args.episodes, args.seed, args.workers, on_episode=heard)
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    if args.json:
        print_json({"checkpoint": str(args.checkpoint), "episodes": len(scores), "seed": args.seed,
                    "scores": scores, "mean": mean, "std": std})
    else:
        last = args.seed + len(scores) - 1
        print(f"score {mean:.1f} ± {std:.1f} over {len(scores)} tracks (seeds {args.seed}..{last})")
    return 0

"""`studio dream`: World Models on CarRacing from the shell. Collect rollouts, train V, M and C (each the
`studio train` of its stage, built on the stage before with --from), and score a controller on real tracks.

The plugin's environment tools (collecting, evaluating) are reached through the carracing-rollouts source's
loader (its ``tools`` references), never by importing the plugin.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
from pathlib import Path

from studio.cli import train_commands
from studio.cli.output import print_json
from studio.core.errors import UserError
from studio.core.plugins import discover
from studio.engine.cancel import CancelRequested, process_signal
from studio.engine.events import EventLog, format_duration
from studio.engine.job_kinds import EVALUATE_SEED, ROLLOUTS_SOURCE
from studio.engine.run_folder import EVENTS_NAME

SOURCE = ROLLOUTS_SOURCE
#: (command, model, what it does) of each training stage
STAGES = (
    ("train-vae", "world-vae", "train V, the VAE on the frames of collected rollouts"),
    ("train-rnn", "mdn-rnn", "train M, the MDN-RNN on V's latents of the rollouts (--from world-vae=RUN)"),
    ("train-controller", "controller", "evolve C, the linear controller, with CMA-ES (--from mdn-rnn=RUN)"),
)


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
                    "--out are kept: run the same command again to resume after Ctrl+C, SIGTERM or a kill.")
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
    evaluate.add_argument("--max-steps", type=_positive, metavar="N",
                          help="steps per track at most (default: CarRacing's own 1000); fewer only to time the "
                               "controller, since a shortened track's score is not the task's")
    evaluate.add_argument("--out", type=Path,
                          help="keep the scores in OUT/evaluation.json track by track (and the progress in "
                               "OUT/events.jsonl): the same command again resumes a stopped evaluation")
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
    registry = discover().registry
    collect = tool(registry, "collect")
    cancel = process_signal()  # a job's SIGTERM (and Ctrl+C under `python -m studio`) stops the workers
    if args.out.exists() and not args.out.is_dir():  # before its events.jsonl is written there
        raise UserError(f"{args.out} is a file; rollouts are collected into a folder.")
    log = EventLog(args.out / EVENTS_NAME, echo=False)
    events = _CollectEvents(log)
    line = _ProgressLine(sys.stderr)
    print(f"collecting {args.episodes} episodes of at most {args.steps} steps into {args.out} "
          f"with {args.workers} worker{'s' if args.workers > 1 else ''}", file=sys.stderr)
    kept = min(_episodes_in(registry, args.out), args.episodes)
    log.emit("started", step=kept, total=args.episodes, resumed=kept > 0, pid=os.getpid(), unit="episode")
    try:
        result = collect(args.out, args.episodes, args.steps, workers=args.workers, seed=args.seed,
                         on_progress=lambda progress: (line.show(progress), events.show(progress)),
                         should_stop=cancel.requested.is_set if cancel else None)
    except Exception as exc:
        log.emit("error", message=str(exc), detail="" if isinstance(exc, UserError) else traceback.format_exc())
        raise
    line.end()
    done = result.kept + result.collected
    pace = f" in {format_duration(result.elapsed_s)} ({result.steps_per_s:.0f} steps/s)" if result.collected else ""
    kept_text = f", {result.kept} kept from before" if result.kept else ""
    print(f"{done} of {args.episodes} episodes in {result.folder}: "
          f"{result.collected} collected, {result.steps:,} steps{pace}{kept_text}")
    if result.stopped:
        log.emit("cancelled", step=done, total=args.episodes, unit="episode")
        print("stopped: run the same command again to collect the rest", file=sys.stderr)
        return 130
    log.emit("finished", step=done, total=args.episodes, unit="episode", steps=result.steps)
    return 0


def _episodes_in(registry, folder: Path) -> int:
    """The readable episodes a rollouts folder holds already (0 for none, or no folder yet)."""
    from studio.core.data import DataError
    from studio.core.specs import resolve

    try:
        return len(resolve(registry.dataset_source(SOURCE).loader)(str(folder)))
    except DataError:
        return 0


class _CollectEvents:
    """Collecting's progress as events (step: episodes done), at most a few a second and at each episode."""

    EVERY_S = 0.5

    def __init__(self, log: EventLog) -> None:
        self._log = log
        self._episodes = -1
        self._written = 0.0

    def show(self, progress) -> None:
        now = time.monotonic()
        if progress.episodes_done == self._episodes and now - self._written < self.EVERY_S:
            return
        self._episodes, self._written = progress.episodes_done, now
        pace = progress.steps_done / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
        eta = None if progress.eta_s is None else round(progress.eta_s, 1)
        self._log.emit("progress", step=progress.episodes_done, total=progress.episodes_total, unit="episode",
                       steps=progress.steps_done, items_per_s=round(pace, 2), items="steps", eta_s=eta)


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
    from studio.core.checkpoint import load_model
    from studio.engine.evaluation import Evaluation
    from studio.engine.run_folder import checkpoint_in

    registry = discover().registry
    evaluate = tool(registry, "evaluate")
    checkpoint = checkpoint_in(args.checkpoint)
    record = Evaluation(str(checkpoint), args.seed, args.episodes, args.max_steps)
    if args.out is not None:
        record = Evaluation.resume(args.out, str(Path(checkpoint).resolve()), args.seed, args.episodes,
                                   args.max_steps)
    log = EventLog(args.out / EVENTS_NAME if args.out else Path(), echo=False, enabled=args.out is not None)
    controller = load_model(registry, "controller", checkpoint, "cpu")
    log.emit("started", step=record.done, total=args.episodes, resumed=record.done > 0, pid=os.getpid(),
             unit="track")
    started, before = time.monotonic(), record.done

    def heard(first: int):
        def on_episode(index: int, score: float) -> None:
            record.scores[first + index] = score
            if args.out is not None:
                record.save(args.out)
            scored = record.done - before
            eta = (args.episodes - record.done) * (time.monotonic() - started) / scored
            log.emit("progress", step=record.done, total=args.episodes, unit="track", score=score,
                     mean=record.mean_std()[0], eta_s=round(eta, 1))
            if not args.json:
                print(f"track {args.seed + first + index}: {score:.1f}", file=sys.stderr)
        return on_episode

    extra = {} if args.max_steps is None else {"max_steps": args.max_steps}
    cancel = process_signal()
    try:
        with cancel.interruptible(_stop_evaluating) if cancel else contextlib.nullcontext():
            for first, count in record.missing():
                scores = evaluate(controller, count, args.seed + first, args.workers, on_episode=heard(first),
                                  **extra)
                record.scores[first:first + count] = scores
    except (CancelRequested, KeyboardInterrupt):
        log.emit("cancelled", step=record.done, total=args.episodes, unit="track")
        print(f"stopped after {record.done} of {args.episodes} tracks"
              + (": run the same command again to drive the rest" if args.out else ""), file=sys.stderr)
        return 130
    except Exception as exc:
        log.emit("error", message=str(exc), detail="" if isinstance(exc, UserError) else traceback.format_exc())
        raise
    if args.out is not None:
        record.save(args.out)
    mean, std = record.mean_std()
    log.emit("finished", step=args.episodes, total=args.episodes, unit="track", mean=mean, std=std)
    if args.json:
        print_json({"checkpoint": str(args.checkpoint), "episodes": args.episodes, "seed": args.seed,
                    "scores": record.scores, "mean": mean, "std": std})
    else:
        last = args.seed + args.episodes - 1
        print(f"score {mean:.1f} ± {std:.1f} over {args.episodes} tracks (seeds {args.seed}..{last})")
    return 0


def _stop_evaluating() -> None:
    """A cancel (SIGTERM, Ctrl+C) while tracks are driven: stop now; the tracks scored so far are kept."""
    raise CancelRequested()

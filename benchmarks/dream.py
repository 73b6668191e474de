"""World Models on CarRacing: the dream's speed, each stage's held-out quality and the controllers' real scores.

    .venv/bin/python benchmarks/dream.py --from RUN [--quick] [--tracks N] [--workers N]

``RUN`` is a folder of the stage runs of one documented long run (resources/starters/README.md, "World
Models", lists the commands that made the one measured here): ``rollouts/`` (``studio dream collect``),
``vae/``, ``rnn/``, and the controllers ``controller/`` (evolved in the real CarRacing, as the paper did
for it), ``controller-dream/`` (evolved inside M's dream) and ``controller-v-only/`` (on z alone, the
paper's V-only baseline, with the same budget as ``controller/``). A controller run that is missing is
left out of the table.

- ``dream_steps_per_s``: one interactive dream step (M's LSTM step, a draw from its mixture, V's decode
  of the new z) as the Dream Simulator's session runs it, with one torch thread (the inference thread's
  on this 2-core machine), for the run's V and for the paper's V (width 32; untrained: speed does not
  depend on the weights). The panel must reach 30.
- ``vae_val_mse``: V's per-pixel mean squared error on held-out frames of held-out episodes (the
  trainer's validation); ``mdn_val_nll`` M's negative log-likelihood of the next z per latent
  dimension on held-out sequences, beside ``copy_baseline_val_nll``: a Gaussian centred on this step's
  z with the per-dimension standard deviation of the training latents' steps, on exactly the same
  steps (lower is better).
- ``cma_parallel_speedup``: CMA-ES generations per second scoring in the dream with every core's worker
  ÷ with one worker, on the run's M.
- ``real_score_mean`` / ``real_score_std``: the real-environment controller on ``--tracks`` random
  CarRacing tracks (100; ``--quick`` 10), full 1,000-step episodes; ``dream_trained_real_score_mean``
  and ``v_only_score`` the same for the other two; ``random_policy_score`` the smooth random policy
  the rollouts were collected with, on the same tracks. The paper reports 906 ± 21 (its controller
  evolved in the real CarRacing over 10,000 rollouts of data, population 64, 16 rollouts each); ctallec's
  PyTorch reimplementation about 860 after a day on four GPUs and 30 workers.
- ``run_hours``: the stages' training time, from their event logs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
from _common import report  # noqa: E402  (first: it imports studio, before torch loads)
# isort: on
import numpy as np  # noqa: E402
import torch  # noqa: E402

from studio.core.checkpoint import load_model  # noqa: E402
from studio.core.plugins import discover  # noqa: E402
from studio.engine.job_kinds import EVALUATE_SEED  # noqa: E402
from studio_builtins.world_models.collect import SmoothRandomPolicy  # noqa: E402
from studio_builtins.world_models.config import ControllerConfig, MDNRNNConfig  # noqa: E402
from studio_builtins.world_models.control import ControllerTrainer, evaluate  # noqa: E402
from studio_builtins.world_models.memory import MDNRNN, MDNRNNTrainer  # noqa: E402
from studio_builtins.world_models.rollouts import load_rollouts, make_env  # noqa: E402
from studio_builtins.world_models.scoring import ENV_EPISODE_STEPS  # noqa: E402
from studio_builtins.world_models.vision import WorldVAETrainer  # noqa: E402

#: the first track evaluated: `studio dream evaluate`'s default, away from every seed collecting and training use
TRACKS_SEED = EVALUATE_SEED
PAPER = "906 ± 21 (Ha & Schmidhuber 2018)"
CONTROLLERS = {"real_score": "controller", "dream_trained_real_score": "controller-dream",
               "v_only_score": "controller-v-only"}


def dream_steps_per_s(memory, seconds: float) -> float:
    """Dream steps (with V's decode) per second on one torch thread, after a few to warm up."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dream = memory.dream()
        dream.reset(seed=0)
        action = np.array([0.0, 0.5, 0.0], np.float32)
        for _ in range(10):
            dream.step(action)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            dream.step(action, temperature=1.0)
            steps += 1
        return steps / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)


@torch.no_grad()
def held_out(run: Path, registry, split) -> dict[str, float]:
    """V's and M's validation on the rollouts' held-out episodes (the split their runs trained with)."""
    vae = load_model(registry, "world-vae", run / "vae" / "checkpoint.safetensors")
    memory = load_model(registry, "mdn-rnn", run / "rnn" / "checkpoint.safetensors")
    vae_trainer = WorldVAETrainer(vae.config, split)
    vae_trainer.model.load_state_dict(vae.state_dict())
    mse = vae_trainer.validate()["mse"]
    rnn_trainer = MDNRNNTrainer(memory.config, split, upstream={"world-vae": vae})
    rnn_trainer.model.load_state_dict(memory.state_dict())
    losses = rnn_trainer.validation_losses()
    return {"vae_val_mse": mse, "mdn_val_nll": losses["mdn_nll"],
            "copy_baseline_val_nll": losses["copy_baseline_nll"]}


def cma_speedup(memory, split, generations: int) -> tuple[float, int]:
    """Generations per second in the dream with a worker per core ÷ with one (and the core count)."""
    cores = len(os.sched_getaffinity(0))
    rates = {}
    for workers in sorted({1, cores}):
        config = ControllerConfig(workers=workers, population=16, rollouts_per_candidate=4)
        trainer = ControllerTrainer(config, split, upstream={"mdn-rnn": memory})
        try:
            next(iter(trainer.steps(0, 1)))  # the workers start and load M
            start = time.perf_counter()
            for _ in trainer.steps(1, 1 + generations):
                pass
            rates[workers] = generations / (time.perf_counter() - start)
        finally:
            trainer.close()
    return rates[cores] / rates[1], cores


def random_policy_scores(tracks: int) -> list[float]:
    """The collecting policy's score on the evaluation tracks (one process: it needs no model)."""
    env, policy, scores = make_env(), SmoothRandomPolicy(), []
    try:
        for i in range(tracks):
            seed = TRACKS_SEED + i
            env.reset(seed=seed)
            actions, total = policy.actions(seed), 0.0
            for _ in range(ENV_EPISODE_STEPS):
                _obs, reward, terminated, truncated, _info = env.step(next(actions))
                total += float(reward)
                if terminated or truncated:
                    break
            scores.append(total)
    finally:
        env.close()
    return scores


def run_hours(run: Path) -> float:
    """Wall-clock hours the stage runs trained, from the first to the last event of each."""
    seconds = 0.0
    for events in run.glob("*/events.jsonl"):
        times = [json.loads(line).get("time") for line in events.read_text().splitlines() if line.strip()]
        times = [t for t in times if t is not None]
        if times:
            seconds += max(times) - min(times)
    return seconds / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="run", type=Path, required=True, help="the folder of the stage runs")
    parser.add_argument("--quick", action="store_true", help="10 tracks and short timings (checks the script)")
    parser.add_argument("--tracks", type=int, help="real tracks per controller (default 100; --quick 10)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="processes driving the real tracks (default: one per core)")
    args = parser.parse_args()
    tracks = args.tracks or (10 if args.quick else 100)
    registry = discover().registry
    run = args.run
    memory = load_model(registry, "mdn-rnn", run / "rnn" / "checkpoint.safetensors")
    paper_memory = MDNRNN(MDNRNNConfig()).eval()  # the paper's sizes: V of width 32, LSTM of 256
    split = load_rollouts(str(run / "rollouts")).split(seed=0)
    seconds = 1.0 if args.quick else 5.0

    metrics: dict[str, float] = {
        "dream_steps_per_s": dream_steps_per_s(memory, seconds),
        "dream_steps_per_s_paper_v": dream_steps_per_s(paper_memory, seconds),
        "v_width": memory.vae.config.width,
    }
    metrics.update(held_out(run, registry, split))
    speedup, cores = cma_speedup(memory, split, 1 if args.quick else 3)
    metrics.update(cma_parallel_speedup=speedup, cores=cores, tracks=tracks)
    for name, folder in CONTROLLERS.items():
        path = run / folder / "checkpoint.safetensors"
        if not path.is_file():
            continue
        scores = evaluate(load_model(registry, "controller", path), tracks, TRACKS_SEED, args.workers)
        if name == "real_score":
            metrics.update(real_score_mean=float(np.mean(scores)), real_score_std=float(np.std(scores)))
        else:
            metrics[f"{name}_mean" if name.endswith("real_score") else name] = float(np.mean(scores))
    metrics["random_policy_score"] = float(np.mean(random_policy_scores(tracks)))
    metrics["rollout_episodes"] = len(split.train) + len(split.validation)
    metrics["run_hours"] = run_hours(run)
    notes = {
        "dream_steps_per_s": "the run's V, 1 torch thread; the panel needs >= 30",
        "dream_steps_per_s_paper_v": "the paper's V (width 32)",
        "mdn_val_nll": "nats per latent dimension; lower is better",
        "copy_baseline_val_nll": "same steps: z_t+1 ~ N(z_t, training step std)",
        "cma_parallel_speedup": f"workers {cores} vs 1, in the dream",
        "real_score_mean": f"paper {PAPER}",
    }
    report("dream", metrics, notes)


if __name__ == "__main__":
    main()

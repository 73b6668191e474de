"""Engine: GUI responsiveness under load, overhead of jobs and of the inference thread, AE quality.

    .venv/bin/python benchmarks/engine.py [--quick]

- ui_stall_p99_ms / ui_stall_max_ms: a 5 ms heartbeat timer on the GUI thread
  while a VAE training job runs and decode requests stream through the
  inference thread (as when dragging on the latent map); stall = how late each
  tick came.
- ui_stall_p99_ms_four_jobs / ui_stall_max_ms_four_jobs: the same heartbeat and
  decode stream while four VAE jobs train to their end (the job manager splits
  the cores among them).
- two_jobs_each_vs_alone: steps/s of the slower of two VAE jobs started together
  (over the time both train) / one such job alone, both through the job manager.
- job_overhead_ratio: VAE steps/s through the job runner (`studio train` in its
  own process, timed from its events) / a bare PyTorch loop on the same model,
  batch and data, also in a new process with the environment of a lone job: the
  median of three rounds. (The bare loop used to run inside this process, after
  its Qt and inference-thread parts and with passive OpenMP threads, while the job
  ran in a fresh one; the ratio then read 0.87 to 2.63 and once 1.08, the runner
  "faster" than the loop. Compared fresh process with fresh process it cannot.) The job runs one checkpoint cycle at the
  app's default cadence (JobOptions: validation + checkpoint every 500 steps, a
  sample grid every 250). The bare loop ends with the same validation pass, so
  the ratio covers what the runner adds: events, checkpoints and samples. The
  bare loop runs before and after the job; the ratio uses their mean.
- inference_overhead_ratio: decode requests/s through the inference thread,
  results delivered on the GUI thread / the same decodes called directly, with
  the inference thread's torch thread count in both; the median of three
  measurements, each the ratio of the medians of 7 rounds of each, taken in turns.
- session_steps_per_s: steps per second of a session on the inference thread
  whose step is one VAE decode, counted as its frames arrive on the GUI thread.
- request_latency_during_session_ms_p95: a decode request submitted every 50 ms
  while that session runs, from submit to its result on the GUI thread.
- ae_val_bce: the autoencoder (z=2) after the book's 3 epochs on Fashion-MNIST
  (batch 100, 1,800 steps), validation BCE per pixel; the book reached 0.2547.

Needs Fashion-MNIST (Debian's dataset-fashion-mnist). --quick shortens every
part (for checking the script, not for numbers).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: off
from _common import median, percentile, report  # noqa: E402  (first: it imports studio, before torch loads)
# isort: on
import numpy as np  # noqa: E402
import torch  # noqa: E402

from studio.core.checkpoint import save_checkpoint  # noqa: E402
from studio.core.data import load_data  # noqa: E402
from studio.core.plugins import discover  # noqa: E402
from studio.core.specs import resolve  # noqa: E402
from studio.engine.events import EventReader  # noqa: E402

REGISTRY = discover().registry


def vae_trainer(name="vae", steps_data="fashion-mnist", **config_overrides):
    spec = REGISTRY.model(name)
    config = spec.config(**config_overrides)
    data = load_data(REGISTRY, "images", steps_data, config).split(seed=0)
    return spec, resolve(spec.trainer)(config, data, device="cpu", seed=0)


# -- job overhead ------------------------------------------------------------------
def bare_loop_steps_per_s(steps: int) -> float:
    """The VAE's training written as a plain PyTorch loop, data already on the device, ending
    with one pass over the validation images as the job's run does (any script that reports a
    held-out loss pays it): the ratio then measures what the job runner adds."""
    spec, trainer = vae_trainer()
    model = trainer.model
    images = torch.from_numpy(trainer.data.train.images).permute(0, 3, 1, 2).float().div(255)
    held_out = trainer.validation_images.permute(0, 3, 1, 2).float().div(255)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    config = trainer.config

    def loss_of(batch):
        logits, mean, log_var = model(batch)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, batch, reduction="none").mean(
            dim=(1, 2, 3))
        kl = (-0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(dim=1)).mean()
        return (config.reconstruction_weight * bce).mean() + config.kl_weight * kl

    def step():
        loss = loss_of(images[torch.from_numpy(rng.integers(0, len(images), 100))])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def validate():
        model.eval()
        total = sum(float(loss_of(held_out[i:i + 500])) for i in range(0, len(held_out), 500))
        model.train()
        return total

    for _ in range(5):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    validate()
    return steps / (time.perf_counter() - started)


def bare_loop_process_steps_per_s(steps: int) -> float:
    """:func:`bare_loop_steps_per_s` in a fresh process started as a lone job is (its environment),
    so both sides of the ratio run in a new process under the same OpenMP settings."""
    from studio.engine.thread_policy import job_environment, usable_cores

    out = subprocess.run([sys.executable, __file__, "--bare-loop", str(steps)], check=True, capture_output=True,
                         text=True, env={**os.environ, **job_environment(usable_cores())})
    return float(out.stdout.split()[-1])


def job_steps_per_s(steps: int, checkpoint_every: int, sample_every: int) -> float:
    """Steps/s of `studio train vae` as a job runs it, from its own events (start-up excluded).

    Timed from the first progress report (which follows warm-up steps) to the
    "finished" event, so the periodic validation, checkpoints and sample grids,
    and the final ones, are inside the measurement."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        from studio.engine.thread_policy import job_environment, usable_cores, write_budget

        out.mkdir()
        write_budget(out, usable_cores())  # what the app gives a job alone
        subprocess.run([sys.executable, "-m", "studio", "--device", "cpu", "train", "vae", "--data", "fashion-mnist",
                        "--steps", str(steps), "--out", str(out), "--no-catalogue",
                        "--checkpoint-every", str(checkpoint_every), "--sample-every", str(sample_every)],
                       check=True, stdout=subprocess.DEVNULL, env={**os.environ, **job_environment(usable_cores())})
        events = EventReader(out / "events.jsonl").read_new()
    first = next(e for e in events if e["event"] == "progress")
    finished = next(e for e in events if e["event"] == "finished")
    return (finished["step"] - first["step"]) / (finished["time"] - first["time"])


# -- inference overhead and UI stalls ---------------------------------------------
def untrained_vae_checkpoint(folder: Path) -> Path:
    spec, trainer = vae_trainer()
    path = folder / "vae.safetensors"
    save_checkpoint(path, spec.name, trainer.config, 0, trainer.state())
    return path


def inference_ratio(checkpoint: Path, requests: int, rounds: int = 7) -> tuple[float, float]:
    """Decodes/s through the inference thread (results delivered in the GUI thread's event loop) /
    the same decodes called directly; the median of ``rounds`` rounds of each, taken in turns, so a
    busy spell of the machine weighs on both sides alike."""
    from PySide6.QtCore import QEventLoop

    from studio.core.checkpoint import load_model
    from studio.engine.inference import InferenceWorker, ModelRef
    from studio.engine.machine import use_inference_threads
    from studio.ui.bridge import InferenceClient

    points = np.random.default_rng(0).normal(size=(requests // rounds, 1, 2)).astype(np.float32)
    model = load_model(REGISTRY, "vae", checkpoint, "cpu")

    def direct(batch: np.ndarray) -> float:
        threads = torch.get_num_threads()
        use_inference_threads()  # the worker thread's setting, so both sides run the same torch
        started = time.perf_counter()
        for z in batch:
            model.decode(z)
        rate = len(batch) / (time.perf_counter() - started)
        torch.set_num_threads(threads)  # the rest of the benchmark as before
        return rate

    worker = InferenceWorker(lambda ref, dev: load_model(REGISTRY, ref.spec, ref.checkpoint, dev), device="cpu")
    client = InferenceClient(worker)
    worker.start()
    ref = ModelRef("vae", str(checkpoint))

    def through_thread(batch: np.ndarray) -> float:
        """Submit every request, then wait in an event loop as the app does, until all results are in."""
        loop, results = QEventLoop(), []

        def arrived(result):
            results.append(result)
            if len(results) == len(batch):
                loop.quit()

        started = time.perf_counter()
        for z in batch:
            client.submit(ref, lambda m, c, z=z: m.decode(z), on_result=arrived)
        loop.exec()
        return len(batch) / (time.perf_counter() - started)

    direct(points[:20])  # warm up both; the worker loads the model
    through_thread(points[:20])
    rates: dict[str, list[float]] = {"direct": [], "thread": []}
    for _ in range(rounds):
        rates["direct"].append(direct(points))
        rates["thread"].append(through_thread(points))
    client.shutdown()
    return median(rates["thread"]) / median(rates["direct"]), median(rates["direct"])


def session_metrics(checkpoint: Path, seconds: float) -> tuple[float, float, list[float]]:
    """(session steps/s over the whole run, session steps/s while requests were made, the latencies of
    those decode requests in ms): a session decoding a new latent each step, alone for half a second,
    then with a decode request every 50 ms."""
    from PySide6.QtCore import QEventLoop, QTimer

    from studio.core.checkpoint import load_model
    from studio.engine.inference import InferenceWorker, ModelRef
    from studio.ui.bridge import InferenceClient

    worker = InferenceWorker(lambda ref, dev: load_model(REGISTRY, ref.spec, ref.checkpoint, dev), device="cpu")
    client = InferenceClient(worker)
    worker.start()
    ref = ModelRef("vae", str(checkpoint))
    warm = []
    client.submit(ref, lambda m, c: m.decode(np.zeros((1, 2), np.float32)), on_result=warm.append)
    while not warm:  # the model is loaded before anything is timed
        QEventLoop().processEvents()

    def dream(model, ctx):
        rng = np.random.default_rng(0)
        while True:
            yield model.decode(rng.normal(size=(1, 2)).astype(np.float32))

    frames, latencies, requests_from = [], [], []
    handle = client.open_session(ref, dream, on_output=lambda frame: frames.append(time.perf_counter()))
    points = np.random.default_rng(1).normal(size=(1000, 1, 2)).astype(np.float32)

    def request() -> None:
        submitted = time.perf_counter()
        if not requests_from:
            requests_from.append(submitted)
        z = points[len(latencies) % len(points)]
        client.submit(ref, lambda m, c: m.decode(z),
                      on_result=lambda _r: latencies.append((time.perf_counter() - submitted) * 1000))

    requests = QTimer(interval=50)
    requests.timeout.connect(request)
    loop = QEventLoop()
    QTimer.singleShot(500, requests.start)
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    started = time.perf_counter()
    loop.exec()
    ended = time.perf_counter()
    requests.stop()
    handle.cancel()
    client.shutdown()
    during = sum(1 for t in frames if t >= requests_from[0]) / (ended - requests_from[0])
    return len(frames) / (ended - started), during, latencies


def vae_job(steps: int):
    from studio.engine.jobs import JobOptions

    return JobOptions(model="vae", data="fashion-mnist", steps=steps, checkpoint_every=200, sample_every=100)


def ui_stalls(app, checkpoint: Path, seconds: float, workspace: Path, jobs: int = 1,
              job_steps: Optional[int] = None) -> tuple[list[float], list[str]]:
    """The heartbeat's lateness (ms) while ``jobs`` VAE jobs train and decode requests stream, and the jobs'
    final statuses. Without ``job_steps`` the jobs are cancelled after ``seconds``; with it, the
    measurement lasts until every job has trained that many steps and ended (``seconds`` at least)."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    from studio.core.checkpoint import load_model
    from studio.core.workspace import Workspace
    from studio.engine.inference import InferenceWorker, ModelRef
    from studio.engine.jobs import JobManager
    from studio.ui.bridge import InferenceClient

    ws = Workspace.open(workspace)
    manager = JobManager(ws, REGISTRY, device="cpu")
    job_ids = [manager.start(vae_job(job_steps or 100_000)) for _ in range(jobs)]
    while not all([e for e in manager.history(j) if e["event"] == "progress"] for j in job_ids):
        app.processEvents()
        time.sleep(0.01)

    worker = InferenceWorker(lambda ref, dev: load_model(REGISTRY, ref.spec, ref.checkpoint, dev), device="cpu")
    client = InferenceClient(worker)
    worker.start()
    ref = ModelRef("vae", str(checkpoint))
    rng = np.random.default_rng(1)
    decoded = []

    def drag():  # a new latent point every 10 ms; the newest replaces a queued one
        z = rng.normal(size=(1, 2)).astype(np.float32)
        client.submit(ref, lambda m, c: m.decode(z), key="drag", on_result=decoded.append)

    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]
    lateness = []

    def beat():
        now = clock.nsecsElapsed()
        lateness.append(max(0.0, (now - last[0]) / 1e6 - 5.0))
        last[0] = now

    heartbeat, dragger = QTimer(), QTimer()
    heartbeat.setInterval(5)
    heartbeat.timeout.connect(beat)
    dragger.setInterval(10)
    dragger.timeout.connect(drag)
    heartbeat.start()
    dragger.start()
    loop = QEventLoop()  # the GUI thread waits in its event loop, as in the app
    started = time.monotonic()

    def over():
        running = any(manager.store.job(j).status in ("queued", "running") for j in job_ids)
        if time.monotonic() - started >= seconds and (job_steps is None or not running):
            loop.quit()

    watch = QTimer(interval=200)
    watch.timeout.connect(over)
    watch.start()
    loop.exec()
    watch.stop()
    heartbeat.stop()
    dragger.stop()
    for job_id in job_ids:
        manager.cancel(job_id)
    client.shutdown()
    while any(manager.store.job(j).status in ("queued", "running") for j in job_ids):  # stopped before what follows
        time.sleep(0.05)
    statuses = [manager.store.job(j).status for j in job_ids]
    manager.close()
    ws.close()
    if not decoded:
        raise RuntimeError("no decode request completed during the stall measurement")
    return lateness[1:], statuses


# -- two jobs at once ---------------------------------------------------------------
def steps_per_s_while(events: list[dict], start: float, end: float) -> float:
    """A job's training speed between two moments, from its progress events (interpolated)."""
    points = [(e["time"], e["step"]) for e in events if e["event"] == "progress"]

    def step_at(t: float) -> float:
        for (t0, s0), (t1, s1) in zip(points, points[1:], strict=False):
            if t0 <= t <= t1:
                return s0 + (s1 - s0) * (t - t0) / max(t1 - t0, 1e-9)
        return points[0][1] if t < points[0][0] else points[-1][1]

    return (step_at(end) - step_at(start)) / (end - start)


def jobs_at_once(workspace: Path, count: int, steps: int) -> list[float]:
    """Start ``count`` VAE jobs together through the job manager (which splits the cores); each one's
    steps/s over the time all of them were training."""
    from studio.core.workspace import Workspace
    from studio.engine.jobs import JobManager

    ws = Workspace.open(workspace)
    manager = JobManager(ws, REGISTRY, device="cpu")
    job_ids = [manager.start(vae_job(steps)) for _ in range(count)]
    while any(manager.store.job(j).status in ("queued", "running") for j in job_ids):
        time.sleep(0.2)
    if any(manager.store.job(j).status != "finished" for j in job_ids):
        raise RuntimeError(f"a job did not finish: {[manager.store.job(j).error for j in job_ids]}")
    histories = [manager.history(j) for j in job_ids]
    manager.close()
    ws.close()
    begin = max(next(e["time"] for e in h if e["event"] == "progress") for h in histories)
    end = min(next(e["time"] for e in h if e["event"] == "finished") for h in histories)
    return [steps_per_s_while(h, begin, end) for h in histories]


# -- quality --------------------------------------------------------------------
def ae_validation_bce(steps: int) -> float:
    spec, trainer = vae_trainer("autoencoder")
    for _ in trainer.steps(0, steps):
        pass
    return float(trainer.validate()["bce"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bare-loop", type=int, metavar="STEPS", help=argparse.SUPPRESS)  # one side of a ratio
    args = parser.parse_args()
    if args.bare_loop:
        print(bare_loop_steps_per_s(args.bare_loop))
        return
    quick = args.quick
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = untrained_vae_checkpoint(Path(tmp))
        stalls, _ = ui_stalls(app, checkpoint, 3 if quick else 20, Path(tmp) / "ws")
        stalls_four, four_statuses = ui_stalls(app, checkpoint, 3 if quick else 20, Path(tmp) / "ws4", jobs=4,
                                               job_steps=20 if quick else 150)
        alone = jobs_at_once(Path(tmp) / "ws-alone", 1, 30 if quick else 300)[0]
        pair = jobs_at_once(Path(tmp) / "ws-pair", 2, 30 if quick else 300)
        ratios = [inference_ratio(checkpoint, 200 if quick else 3000) for _ in range(3)]
        session_rate, session_rate_during, latencies = session_metrics(checkpoint, 2 if quick else 10)
    inference = median(r[0] for r in ratios)
    direct_rate = median(r[1] for r in ratios)
    # one checkpoint cycle at the app's default cadence (quick: the same cadence, scaled down)
    from studio.engine.jobs import JobOptions

    defaults = JobOptions(model="vae", data="fashion-mnist", steps=0)
    steps = 40 if quick else defaults.checkpoint_every
    scale = steps / defaults.checkpoint_every
    # three rounds, each a bare loop then the job, both in new processes; the median ratio
    rounds = []
    for _ in range(3):
        bare = bare_loop_process_steps_per_s(steps)
        rounds.append((job_steps_per_s(steps, steps, max(1, round(defaults.sample_every * scale))), bare))
    job, bare = sorted(rounds, key=lambda r: r[0] / r[1])[1]
    ae_steps = 30 if quick else 1800
    bce = ae_validation_bce(ae_steps)
    metrics = {
        "ui_stall_p99_ms": round(percentile(stalls, 99), 2),
        "ui_stall_max_ms": round(max(stalls), 2),
        "job_overhead_ratio": round(job / bare, 3),
        "two_jobs_each_vs_alone": round(min(pair) / alone, 3),
        "ui_stall_p99_ms_four_jobs": round(percentile(stalls_four, 99), 2),
        "ui_stall_max_ms_four_jobs": round(max(stalls_four), 2),
        "inference_overhead_ratio": round(inference, 3),
        "session_steps_per_s": round(session_rate, 1),
        "request_latency_during_session_ms_p95": round(percentile(latencies, 95), 2),
        "ae_val_bce": round(bce, 4),
    }
    report("engine", metrics, {
        "ui_stall_p99_ms": f"{len(stalls)} heartbeats during training + decode stream; target <= 16",
        "ui_stall_max_ms": "worst single delay of the 5 ms heartbeat",
        "job_overhead_ratio": f"the median of {', '.join(f'{j / b:.3f}' for j, b in rounds)}: job {job:.2f} steps/s "
                              f"(validation, checkpoint, samples) vs bare loop (validation) {bare:.2f} steps/s over "
                              f"{steps} steps, each in a new process; target >= 0.90",
        "two_jobs_each_vs_alone": f"VAE jobs: alone {alone:.2f} steps/s; two at once {pair[0]:.2f} and {pair[1]:.2f}; "
                                  "target >= 0.45",
        "ui_stall_p99_ms_four_jobs": f"{len(stalls_four)} heartbeats, four VAE jobs + decode stream, jobs ended "
                                     f"{', '.join(four_statuses)}; target <= 16",
        "ui_stall_max_ms_four_jobs": "worst single delay with four jobs",
        "inference_overhead_ratio": f"median of {', '.join(f'{r[0]:.3f}' for r in ratios)}; direct "
                                    f"{direct_rate:.0f} decodes/s; target >= 0.95",
        "session_steps_per_s": f"a session decoding one latent a step, frames counted on the GUI thread "
                               f"({session_rate_during:.0f}/s while the requests below ran); target >= 60",
        "request_latency_during_session_ms_p95": f"{len(latencies)} decode requests, one every 50 ms, while it "
                                                 "runs; target <= 50",
        "ae_val_bce": f"after {ae_steps} steps of batch 100; the book: 0.2547",
    })


if __name__ == "__main__":
    main()

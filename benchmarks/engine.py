"""Engine: GUI responsiveness under load, overhead of jobs and of the inference thread, AE quality.

    .venv/bin/python benchmarks/engine.py [--quick]

- ui_stall_p99_ms / ui_stall_max_ms: a 5 ms heartbeat timer on the GUI thread
  while a VAE training job runs and decode requests stream through the
  inference thread (as when dragging on the latent map); stall = how late each
  tick came.
- job_overhead_ratio: VAE steps/s through the job runner (`studio train` in its
  own process, timed from its events) / a bare PyTorch loop on the same model,
  batch and data in this process. The job runs one checkpoint cycle at the
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


def job_steps_per_s(steps: int, checkpoint_every: int, sample_every: int) -> float:
    """Steps/s of `studio train vae` as a job runs it, from its own events (start-up excluded).

    Timed from the first progress report (which follows warm-up steps) to the
    "finished" event, so the periodic validation, checkpoints and sample grids,
    and the final ones, are inside the measurement."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        subprocess.run([sys.executable, "-m", "studio", "--device", "cpu", "train", "vae", "--data", "fashion-mnist",
                        "--steps", str(steps), "--out", str(out), "--no-catalogue",
                        "--checkpoint-every", str(checkpoint_every), "--sample-every", str(sample_every)],
                       check=True, stdout=subprocess.DEVNULL)
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


def ui_stalls(app, checkpoint: Path, seconds: float, workspace: Path) -> list[float]:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    from studio.core.checkpoint import load_model
    from studio.core.workspace import Workspace
    from studio.engine.inference import InferenceWorker, ModelRef
    from studio.engine.jobs import JobManager, JobOptions
    from studio.ui.bridge import InferenceClient

    ws = Workspace.open(workspace)
    jobs = JobManager(ws, REGISTRY, device="cpu")
    job_id = jobs.start(JobOptions(model="vae", data="fashion-mnist", steps=100_000, checkpoint_every=200,
                                   sample_every=100))
    while not [e for e in jobs.history(job_id) if e["event"] == "progress"]:
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
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    heartbeat.stop()
    dragger.stop()
    jobs.cancel(job_id)
    client.shutdown()
    while jobs.store.job(job_id).status == "running":  # let it stop before anything else is timed
        time.sleep(0.05)
    jobs.close()
    ws.close()
    if not decoded:
        raise RuntimeError("no decode request completed during the stall measurement")
    return lateness[1:]


# -- quality --------------------------------------------------------------------
def ae_validation_bce(steps: int) -> float:
    spec, trainer = vae_trainer("autoencoder")
    for _ in trainer.steps(0, steps):
        pass
    return float(trainer.validate()["bce"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = untrained_vae_checkpoint(Path(tmp))
        stalls = ui_stalls(app, checkpoint, 3 if quick else 20, Path(tmp) / "ws")
        ratios = [inference_ratio(checkpoint, 200 if quick else 3000) for _ in range(3)]
        session_rate, session_rate_during, latencies = session_metrics(checkpoint, 2 if quick else 10)
    inference = median(r[0] for r in ratios)
    direct_rate = median(r[1] for r in ratios)
    # one checkpoint cycle at the app's default cadence (quick: the same cadence, scaled down)
    from studio.engine.jobs import JobOptions

    defaults = JobOptions(model="vae", data="fashion-mnist", steps=0)
    steps = 40 if quick else defaults.checkpoint_every
    scale = steps / defaults.checkpoint_every
    # the bare loop before and after the job, so a busy spell of the machine weighs on both sides
    before = bare_loop_steps_per_s(steps)
    job = job_steps_per_s(steps, steps, max(1, round(defaults.sample_every * scale)))
    bare = (before + bare_loop_steps_per_s(steps)) / 2
    ae_steps = 30 if quick else 1800
    bce = ae_validation_bce(ae_steps)
    metrics = {
        "ui_stall_p99_ms": round(percentile(stalls, 99), 2),
        "ui_stall_max_ms": round(max(stalls), 2),
        "job_overhead_ratio": round(job / bare, 3),
        "inference_overhead_ratio": round(inference, 3),
        "session_steps_per_s": round(session_rate, 1),
        "request_latency_during_session_ms_p95": round(percentile(latencies, 95), 2),
        "ae_val_bce": round(bce, 4),
    }
    report("engine", metrics, {
        "ui_stall_p99_ms": f"{len(stalls)} heartbeats during training + decode stream; target <= 16",
        "ui_stall_max_ms": "worst single delay of the 5 ms heartbeat",
        "job_overhead_ratio": f"job {job:.2f} steps/s (validation, checkpoint, samples) vs bare loop (validation) "
                              f"{bare:.2f} steps/s over {steps} steps; target >= 0.90",
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

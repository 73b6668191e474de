"""The network guard's counts for benchmarks/robustness.py: its three scenarios, as tests/test_network_guard.py
tries them (the same plugins): a plugin that fetches a URL while it registers, one whose sampler fetches
on the inference thread, and one whose trainer opens a socket inside a training job.

- network_attempts_blocked: refusals counted by :func:`studio.core.network_guard.blocked_attempts` in this
  process (registering, sampling) and the guard's lines in the job's log (the job process).
- network_attempts_made: socket calls to another machine that got past the guard, seen by an audit hook
  added after the guard's (called only for what the guard let through): in this process, and in the job's
  through tests/faults/sitecustomize.py's ``observe_network``. Nothing here needs a network: a refused
  call never reaches the socket.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import test_network_guard as scenarios  # noqa: E402  (the plugins the guard's tests try)
from fault_injection import fault_environment  # noqa: E402

from studio.core import network_guard  # noqa: E402
from studio.core.plugins import discover  # noqa: E402
from studio.core.workspace import Workspace  # noqa: E402
from studio.engine.inference import Callbacks, InferenceWorker, ModelRef  # noqa: E402
from studio.engine.jobs import ACTIVE, JobManager, JobOptions  # noqa: E402

BLOCKED = "Network access blocked"
_made: list[str] = []
_watching = threading.Event()


def network_attempts(quick: bool = False) -> dict[str, tuple[float, str]]:
    """The counts (the same with ``quick``: the three scenarios are quick)."""
    network_guard.install()
    sys.addaudithook(_observe)  # after the guard's
    with tempfile.TemporaryDirectory(prefix="studio-network-") as folder:
        folder = Path(folder)
        _watching.set()
        try:
            registering = _registering(folder / "registering")
            sampling = _sampling(folder / "sampling")
        finally:
            _watching.clear()
        training, made_in_job = _training(folder / "training")
    blocked = registering + sampling + training
    made = len(_made) + made_in_job
    return {
        "network_attempts_blocked": (blocked, f"registering {registering}, sampling {sampling}, "
                                              f"in a training job {training} (at least one each)"),
        "network_attempts_made": (made, "target 0: socket calls past the guard, seen by an audit hook after it"),
    }


def _observe(event, args) -> None:
    if not _watching.is_set():
        return
    local = (None, "localhost", "127.0.0.1", "::1")
    if event in ("socket.connect", "socket.sendto") and args[0].family in (socket.AF_INET, socket.AF_INET6):
        if args[1][0] not in local:
            _made.append(f"{event} {args[1]}")
    elif event == "socket.getaddrinfo" and args[0] not in local:
        _made.append(f"{event} {args[0]}")


def _plugin(site: Path, name: str, source: str) -> None:
    """Install a one-module plugin found through its entry point, as the tests' ``make_plugin_dist`` does."""
    site.mkdir(parents=True)
    (site / f"{name}.py").write_text(textwrap.dedent(source))
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[studio.plugins]\n{name} = {name}\n")
    importlib.invalidate_caches()


class _OnPath:
    """A plugin site on ``sys.path`` for a scenario, gone (and its modules forgotten) after it."""

    def __init__(self, site: Path) -> None:
        self.site = str(site)

    def __enter__(self):
        sys.path.insert(0, self.site)
        return self

    def __exit__(self, *_):
        sys.path.remove(self.site)
        for module in [m for m in sys.modules if m.startswith("test_plugin_")]:
            del sys.modules[module]
        importlib.invalidate_caches()


def _registering(site: Path) -> int:
    _plugin(site, "test_plugin_fetch", scenarios.FETCHES_WHILE_REGISTERING)
    before = network_guard.blocked_attempts()
    with _OnPath(site):
        info = discover().plugins["test_plugin_fetch"]
    if info.status != "failed" or BLOCKED not in info.summary:
        raise SystemExit(f"the plugin fetching while it registers was not stopped: {info.status} {info.summary}")
    return network_guard.blocked_attempts() - before


def _sampling(site: Path) -> int:
    _plugin(site, "test_plugin_sampler", scenarios.SAMPLER)
    before = network_guard.blocked_attempts()
    with _OnPath(site):
        spec = discover().registry.model("web-styled")
        worker = InferenceWorker(loader=lambda ref, device: spec.factory(), device="cpu").start()
        said: list[str] = []
        done = threading.Event()
        try:
            worker.submit(ModelRef(spec="web-styled", checkpoint="unsaved"),
                          lambda model, ctx: model.sample(1, seed=0, condition={"prompt": "http://styles.example.com/a.png"}),
                          callbacks=Callbacks(on_result=lambda _: done.set(),
                                              on_error=lambda message, detail: (said.append(message), done.set())))
            if not done.wait(120):
                raise SystemExit("the inference thread never answered the sampler's request")
        finally:
            worker.stop()
    if not said or not said[0].startswith(BLOCKED):
        raise SystemExit(f"the sampler's fetch was not stopped: {said}")
    return network_guard.blocked_attempts() - before


def _training(folder: Path) -> tuple[int, int]:
    """(attempts the job's guard refused, attempts its observer saw made)."""
    site = folder / "site"
    _plugin(site, "test_plugin_trainer", scenarios.TRAINER)
    observed = folder / "made.jsonl"
    env = fault_environment({"observe_network": str(observed)}, {"PYTHONPATH": str(site)})
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # what the job's process inherits
    try:
        with _OnPath(site):
            workspace = Workspace.open(folder / "ws")
            manager = JobManager(workspace, discover().registry, device="cpu")
            try:
                job_id = manager.start(JobOptions(model="phones-home", data="digits", steps=5,
                                                  first_checkpoint_s=None))
                deadline = time.monotonic() + 180
                while manager.store.job(job_id).status in ACTIVE and time.monotonic() < deadline:
                    time.sleep(0.1)
                job = manager.store.job(job_id)
            finally:
                manager.close()
                workspace.close()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if job.status != "failed" or BLOCKED not in job.error:
        raise SystemExit(f"the training job's socket was not stopped: {job.status} {job.error}")
    log = (Path(job.out_dir) / "log.txt").read_text()
    made = [json.loads(line) for line in observed.read_text().splitlines()] if observed.exists() else []
    return sum(f"studio: {BLOCKED}" in line for line in log.splitlines()), len(made)

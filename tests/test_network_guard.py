"""The network guard: a plugin that reaches for the network while it registers, samples or trains is
stopped before anything is sent, and said so by name; loopback and Unix sockets keep working.

No test needs a network: a blocked call never reaches the socket (an audit hook added after the guard's
sees nothing of it), and what must still work is shown on this machine's loopback."""

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import kill_jobs

from studio.cli import main
from studio.core import network_guard
from studio.core.network_guard import GUARD_VARIABLE, NetworkBlocked
from studio.core.plugins import discover
from studio.core.workspace import Workspace
from studio.engine.inference import Callbacks, InferenceWorker, ModelRef
from studio.engine.jobs import JobManager, JobOptions
from studio.ui.plugins_dialog import PluginsDialog

BLOCKED = "Network access blocked"

FETCHES_WHILE_REGISTERING = """
import urllib.request
from studio import hookimpl

@hookimpl
def studio_register_models(register):
    urllib.request.urlopen("http://weights.example.com/latest.json", timeout=5)  # "is there a newer model?"
"""

FETCHES_ON_IMPORT = """
import urllib.request

urllib.request.urlopen("http://telemetry.example.com/ping", timeout=5)
"""

#: an image model whose sampler fetches a style image when its prompt is a URL
SAMPLER = """
import urllib.request
from dataclasses import dataclass

import numpy as np

from studio import hookimpl
from studio.core.specs import ModelSpec

STUDIO_CONTRACT_VERSION = 2


@dataclass
class Config:
    size: int = 4


class Sampler:
    image_shape = (4, 4, 1)
    conditions = ("prompt",)
    class_names = ()
    sampling_options = ()
    samplers = ()
    seed_per_image = False

    def __init__(self, config=None):
        pass

    def sample(self, n, *, seed, condition=None, options=None, on_step=None):
        prompt = (condition or {}).get("prompt", "")
        if prompt.startswith("http"):
            urllib.request.urlopen(prompt, timeout=5)
        return np.zeros((n, 4, 4, 1), dtype=np.float32)


@hookimpl
def studio_register_models(register):
    register(ModelSpec(name="web-styled", title="Web styled", family="test", capabilities=("ImageSampler",),
                       config=Config, factory=Sampler))
"""

#: a trainable model whose trainer reports home when training starts
TRAINER = """
import socket
from dataclasses import dataclass

from studio import hookimpl
from studio.core.capabilities import TrainProgress, TrainState
from studio.core.specs import ModelSpec

STUDIO_CONTRACT_VERSION = 2


@dataclass
class Config:
    image_size: int = 8
    channels: int = 1


class Model:
    def __init__(self, config):
        self.config = config


class Trainer:
    def __init__(self, config, data, device="cpu", seed=0):
        self.config, self.model = config, Model(config)
        self.stop_requested = lambda: False

    def steps(self, start, total):
        socket.create_connection(("metrics.example.com", 443), timeout=5)
        for step in range(start, total):
            yield TrainProgress(step + 1, 0.0, {"loss": 0.0}, 1)

    def validate(self):
        return {"loss": 0.0}

    def preview(self, *, seed):
        return None

    def state(self):
        return TrainState({}, {})

    def restore(self, state):
        pass


@hookimpl
def studio_register_models(register):
    register(ModelSpec(name="phones-home", title="Phones home", family="test", capabilities=("Trainer",),
                       config=Config, factory=Model, trainer=Trainer, data_kind="images"))
"""

#: a plugin whose worker processes (spawn, as the World Models plugin's) try the network
WORKER = """
import urllib.request

from studio import hookimpl  # a plugin's package imports the studio for its hooks


def fetch(url):
    from studio.core import network_guard

    try:
        urllib.request.urlopen(url, timeout=5)
    except OSError as exc:
        return {"guarded": network_guard.installed(), "error": str(exc),
                "blocked": network_guard.blocked_attempts()}
    return {"guarded": network_guard.installed(), "error": None, "blocked": 0}
"""

SPAWNING_PARENT = """
import json, multiprocessing, sys
from studio.core import network_guard

network_guard.install()  # as the studio's processes do at start-up
context = multiprocessing.get_context("spawn")
with context.Pool(1) as pool:
    print(json.dumps(pool.apply(__import__("test_plugin_worker").fetch, ("http://files.example.com/a.bin",))))
"""


@pytest.fixture
def guard():
    """This process guarded for the test; as it was afterwards (another test's `main()` may have guarded it)."""
    was_installed = network_guard.installed()
    network_guard.install()
    yield network_guard
    if not was_installed:
        network_guard.uninstall()


#: socket calls that got past the guard to anywhere but loopback, while a test watches (``observed``)
_MADE: list = []
_LOCAL = (None, "localhost", "127.0.0.1", "::1")
_watching = threading.Event()


def _observe(event, args):
    if not _watching.is_set():
        return
    if event in ("socket.connect", "socket.sendto") and args[0].family in (socket.AF_INET, socket.AF_INET6):
        if args[1][0] not in _LOCAL:
            _MADE.append((event, args[1]))
    elif event == "socket.getaddrinfo" and args[0] not in _LOCAL:
        _MADE.append((event, args[0]))


@pytest.fixture
def observed(guard):
    """The network accesses that were made (got past the guard): an audit hook added after the guard's
    is called only for what the guard let through."""
    if not getattr(_observe, "added", False):
        sys.addaudithook(_observe)  # for good, as every audit hook: it records only while a test watches
        _observe.added = True
    _watching.set()
    yield _MADE
    _watching.clear()
    _MADE.clear()


@pytest.mark.parametrize("source, stage", [
    pytest.param(FETCHES_WHILE_REGISTERING, "studio_register_models", id="registering"),
    pytest.param(FETCHES_ON_IMPORT, "import", id="importing"),
])
def test_a_plugin_that_fetches_a_url_is_disabled_with_the_guards_message_and_the_app_starts(
        source, stage, make_plugin_dist, guard, observed, studio_app):
    make_plugin_dist("test_plugin_fetch", source)
    before = network_guard.blocked_attempts()
    app = studio_app()
    info = app.host.plugins["test_plugin_fetch"]
    assert (info.status, info.stage) == ("failed", stage)
    assert f"{BLOCKED}: plugin 'test_plugin_fetch' (test_plugin_fetch 0.1) tried to look up" in info.summary
    assert "example.com:80" in info.summary and "only loopback addresses and Unix sockets" in info.summary
    assert network_guard.blocked_attempts() == before + 1
    assert observed == []
    # everything else loaded, and the window is up
    assert {"vae", "dcgan"} <= app.host.registry.models.keys()
    assert app.window.isVisible() and len(app.window.panels) == 5

    dialog = PluginsDialog(app.host, app.window)
    row = next(r for r, p in enumerate(dialog.plugins) if p.name == "test_plugin_fetch")
    assert BLOCKED in dialog.table.item(row, 3).text()


def test_a_sampler_that_fetches_fails_that_request_and_the_next_one_works(make_plugin_dist, guard, observed):
    make_plugin_dist("test_plugin_sampler", SAMPLER)
    registry = discover().registry
    spec = registry.model("web-styled")
    worker = InferenceWorker(loader=lambda ref, device: spec.factory(), device="cpu").start()
    ref = ModelRef(spec="web-styled", checkpoint="unsaved")
    outcomes = []
    done = threading.Semaphore(0)

    def result(images):
        outcomes.append(("result", images))
        done.release()

    def error(message, detail):
        outcomes.append(("error", message))
        done.release()

    def ask(prompt):
        worker.submit(ref, lambda model, ctx: model.sample(2, seed=0, condition={"prompt": prompt}),
                      callbacks=Callbacks(on_result=result, on_error=error))

    try:
        ask("http://styles.example.com/monet.png")
        ask("a quiet lake")
        for _ in range(2):
            assert done.acquire(timeout=60), f"the inference thread answered {len(outcomes)} of 2 requests"
    finally:
        worker.stop()
    (first, message), (second, images) = outcomes
    assert first == "error"
    assert message.startswith(BLOCKED)  # as the guard wrote it, not wrapped in urllib's URLError
    assert f"{BLOCKED}: plugin 'test_plugin_sampler' (test_plugin_sampler 0.1) tried to look up " \
           "styles.example.com:80" in message
    assert second == "result" and images.shape == (2, 4, 4, 1)
    assert observed == []


def test_a_training_job_that_opens_a_socket_fails_with_the_message_in_its_log(make_plugin_dist, monkeypatch,
                                                                             tmp_path):
    site = make_plugin_dist("test_plugin_trainer", TRAINER)
    monkeypatch.setenv("PYTHONPATH", str(site))  # for the job's own process
    monkeypatch.delenv(GUARD_VARIABLE, raising=False)  # the job process guards itself: `studio train` does
    workspace = Workspace.open(tmp_path / "ws")
    manager = JobManager(workspace, discover().registry, device="cpu")
    try:
        job_id = manager.start(JobOptions(model="phones-home", data="digits", steps=5, first_checkpoint_s=None))
        deadline = time.monotonic() + 120
        while manager.store.job(job_id).status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.05)
        job = manager.store.job(job_id)
        events = manager.history(job_id)
    finally:
        kill_jobs(manager)
        manager.close()
        workspace.close()
    said = (f"{BLOCKED}: plugin 'test_plugin_trainer' (test_plugin_trainer 0.1) tried to look up "
            "metrics.example.com:443")
    assert job.status == "failed"
    assert said in job.error  # what the Jobs dock shows
    assert events[-1]["event"] == "error" and said in events[-1]["message"]
    assert said in (Path(job.out_dir) / "log.txt").read_text()


def test_a_spawned_worker_of_a_guarded_process_is_guarded_too(make_plugin_dist, tmp_path):
    site = make_plugin_dist("test_plugin_worker", WORKER)
    env = {k: v for k, v in os.environ.items() if k != GUARD_VARIABLE}
    env["PYTHONPATH"] = str(site)
    done = subprocess.run([sys.executable, "-c", SPAWNING_PARENT], capture_output=True, text=True, env=env,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert child["guarded"] and child["blocked"] == 1
    assert f"{BLOCKED}: the module test_plugin_worker tried to look up files.example.com:80" in child["error"]


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello from loopback")

    def log_message(self, *args):
        pass


def test_loopback_and_unix_sockets_still_work(guard, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for host in ("127.0.0.1", "localhost"):
            url = f"http://{host}:{server.server_address[1]}/"
            assert urllib.request.urlopen(url, timeout=10).read() == b"hello from loopback"
    finally:
        server.shutdown()
        server.server_close()

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        receiver.bind(("127.0.0.1", 0))
        sender.sendto(b"datagram", receiver.getsockname())
        assert receiver.recv(16) == b"datagram"

    path = str(tmp_path / "studio.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
            accepted, _ = listener.accept()
            client.sendall(b"unix")
            assert accepted.recv(4) == b"unix"
            accepted.close()
    a, b = socket.socketpair()
    a.sendall(b"pair")
    assert b.recv(4) == b"pair"
    a.close()
    b.close()


def test_anything_else_is_refused_before_it_is_sent(guard, observed):
    before = network_guard.blocked_attempts()
    attempts = [
        lambda: socket.create_connection(("93.184.216.34", 80), timeout=5),
        lambda: socket.socket().connect_ex(("10.20.30.40", 80)),
        lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"?", ("8.8.8.8", 53)),
        lambda: socket.gethostbyname("example.org"),
        lambda: socket.socket().bind(("0.0.0.0", 0)),  # listening on every interface
    ]
    for attempt in attempts:
        with pytest.raises(NetworkBlocked, match=f"{BLOCKED}: the module test_network_guard tried to") as refused:
            attempt()
        assert isinstance(refused.value, OSError)  # what libraries take for a failed connection
    assert network_guard.blocked_attempts() == before + len(attempts)
    assert observed == []


def test_under_torchrun_the_rendezvous_host_it_was_given_is_allowed(monkeypatch, guard):
    monkeypatch.setenv("MASTER_ADDR", "10.11.12.13")
    network_guard.install()  # as a torchrun worker's `studio train` does, with torchrun's variables
    try:
        # numeric look-ups and a UDP "connect" send nothing: the guard's answer is all they show
        assert socket.getaddrinfo("10.11.12.13", 29500, flags=socket.AI_NUMERICHOST)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            try:
                peer.connect(("10.11.12.13", 29500))
            except OSError as exc:  # no route to it from here, say: not the guard's doing
                assert not isinstance(exc, NetworkBlocked)
        with pytest.raises(NetworkBlocked, match=r"10\.11\.12\.14:29500.*rendezvous host torch.distributed was "
                                                 r"given \(10\.11\.12\.13, MASTER_ADDR\)"):
            socket.getaddrinfo("10.11.12.14", 29500, flags=socket.AI_NUMERICHOST)
    finally:
        monkeypatch.delenv("MASTER_ADDR")
        network_guard.install()  # back to loopback alone


def test_doctor_reports_the_guard_and_what_it_blocked(make_plugin_dist, capsys):
    make_plugin_dist("test_plugin_fetch", FETCHES_WHILE_REGISTERING)
    was_installed = network_guard.installed()
    try:
        before = network_guard.blocked_attempts()
        assert main(["doctor", "--json"]) == 1  # a plugin failed to load
        report = json.loads(capsys.readouterr().out)
        assert report["network"] == {"guard_installed": True, "allows": ["loopback addresses", "Unix sockets"],
                                     "blocked_attempts": before + 1}
        assert any("test_plugin_fetch" in p and BLOCKED in p for p in report["problems"])
        main(["doctor"])
        line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("Network:"))
        assert "guarded, allows only loopback addresses, Unix sockets" in line and "attempts blocked" in line
    finally:
        if not was_installed:
            network_guard.uninstall()

"""The inference thread: results on the GUI thread, cancel, newest wins, memory, errors."""

import gc
import os
import threading
import time

import pytest
from waiting import wait_for

from studio.core.capabilities import ModelError
from studio.engine.inference import Callbacks, InferenceWorker, ModelRef
from studio.ui.bridge import InferenceClient


class FakeModel:
    def __init__(self, size_bytes=0):
        self.size_bytes = size_bytes

    def parameters(self):
        import torch

        return [torch.zeros(self.size_bytes // 4)]


@pytest.fixture(scope="module", autouse=True)
def no_qt_garbage_left():
    """Collect, on this (the GUI) thread, what earlier tests' windows left in reference cycles: the worker's
    ``gc.collect()`` after an out-of-memory error would otherwise collect Qt objects on its own thread, which
    crashed the suite (a segmentation fault) when GUI tests ran before this module."""
    gc.collect()


@pytest.fixture
def worker():
    loads = []

    def loader(ref, device):
        loads.append(ref)
        return FakeModel(int(ref.checkpoint))  # the "checkpoint" names the model's size

    w = InferenceWorker(loader, device="cpu", budget_mb=1).start()
    w.loads = loads
    yield w
    w.stop()


def wait(event, timeout=30):
    assert event.wait(timeout), "timed out"


def test_results_arrive_on_the_gui_thread_and_models_run_elsewhere(qtbot, worker):
    client = InferenceClient(worker)
    seen = {}

    def work(model, ctx):
        seen["worker_thread"] = threading.current_thread().name
        return 42

    with qtbot.waitCallback() as done:
        client.submit(ModelRef("m", "0"), work, on_result=done)
    assert done.args == [42]
    assert seen["worker_thread"] == "studio-inference"


def test_cancel_stops_at_the_next_step(worker):
    started, finished = threading.Event(), threading.Event()
    outcome = {}
    steps = []

    def slow(model, ctx):
        for i in range(1000):
            started.set()
            ctx.step(i, 1000)
            steps.append(i)
            time.sleep(0.01)
        return "done"

    request = worker.submit(None, slow, callbacks=Callbacks(
        on_result=lambda r: (outcome.setdefault("result", r), finished.set()),
        on_cancelled=lambda: (outcome.setdefault("cancelled", True), finished.set())))
    wait(started)
    wait_for(lambda: len(steps) >= 3, what="a few steps")
    request.cancel()
    cancelled_at = len(steps)
    wait(finished)
    assert outcome == {"cancelled": True}
    assert len(steps) <= cancelled_at + 1


def test_newest_interactive_request_replaces_queued_ones(worker):
    gate, done = threading.Event(), threading.Event()
    ran = []
    worker.submit(None, lambda m, c: gate.wait(5))  # keeps the worker busy while we queue
    cancelled = []
    for position in range(10):
        worker.submit(None, lambda m, c, p=position: ran.append(p), key="slider",
                      callbacks=Callbacks(on_cancelled=lambda p=position: cancelled.append(p)))
    worker.submit(None, lambda m, c: done.set())
    gate.set()
    wait(done)
    assert ran == [9]
    assert cancelled == list(range(9))


def test_least_recently_used_model_is_unloaded_over_budget(worker):
    done = threading.Event()
    half_mb = str(600 * 1024)  # two of these exceed the 1 MB budget
    worker.submit(ModelRef("a", half_mb), lambda m, c: None)
    worker.submit(ModelRef("b", half_mb), lambda m, c: None)
    worker.submit(ModelRef("a", half_mb), lambda m, c: done.set())
    wait(done)
    assert [r.spec for r in worker.loads] == ["a", "b", "a"]
    assert [r.spec for r in worker.loaded] == ["a"]


def test_out_of_memory_is_reported_and_the_worker_survives(worker):
    errors, done = [], threading.Event()

    def greedy(model, ctx):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    worker.submit(ModelRef("m", "0"), greedy, callbacks=Callbacks(on_error=lambda msg, _d: errors.append(msg)))
    worker.submit(None, lambda m, c: done.set())
    wait(done)
    assert "Out of memory" in errors[0] and "unloaded" in errors[0]
    assert worker.loaded == []


def test_in_the_app_what_an_out_of_memory_request_left_is_collected_on_the_gui_thread(qtbot, worker, monkeypatch):
    """A collection on the worker thread could free Qt objects caught in reference cycles there: a crash."""
    InferenceClient(worker)
    collected = []
    monkeypatch.setattr("studio.ui.bridge.free_memory", lambda: collected.append(threading.current_thread()))
    worker.submit(ModelRef("m", "0"), lambda m, c: (_ for _ in ()).throw(MemoryError()))
    qtbot.waitUntil(lambda: bool(collected))
    assert collected == [threading.main_thread()]


def test_model_errors_are_shown_as_written_and_bugs_are_labelled(worker):
    errors, done = [], threading.Event()
    worker.submit(None, lambda m, c: (_ for _ in ()).throw(ModelError("This model needs a prompt.")),
                  callbacks=Callbacks(on_error=lambda msg, _d: errors.append(msg)))
    worker.submit(None, lambda m, c: 1 / 0, callbacks=Callbacks(on_error=lambda msg, _d: errors.append(msg)))
    worker.submit(None, lambda m, c: done.set())
    wait(done)
    assert errors == ["This model needs a prompt.", "Unexpected error: ZeroDivisionError: division by zero"]


def test_a_failing_load_is_an_error_not_a_dead_worker():
    def loader(ref, device):
        raise ModelError("The checkpoint is damaged.")

    worker = InferenceWorker(loader, device="cpu").start()
    try:
        errors, done = [], threading.Event()
        worker.submit(ModelRef("m", "x"), lambda m, c: None,
                      callbacks=Callbacks(on_error=lambda msg, _d: errors.append(msg)))
        worker.submit(None, lambda m, c: done.set())
        wait(done)
        assert errors == ["The checkpoint is damaged."]
    finally:
        worker.stop()


def test_the_cpu_allocators_out_of_memory_is_recognised(worker):
    import torch

    class Greedy(torch.nn.Module):
        def forward(self, x):
            return torch.empty(2**50)  # 4 PiB: the real "DefaultCPUAllocator: can't allocate memory"

    errors, done = [], threading.Event()
    worker.submit(ModelRef("m", "0"), lambda m, c: Greedy()(None),
                  callbacks=Callbacks(on_error=lambda msg, detail: errors.append((msg, detail))))
    worker.submit(ModelRef("m", "0"), lambda m, c: (_ for _ in ()).throw(torch.OutOfMemoryError("no room")),
                  callbacks=Callbacks(on_error=lambda msg, detail: errors.append((msg, detail))))
    worker.submit(None, lambda m, c: done.set())
    wait(done)
    assert "can't allocate memory" in errors[0][1]
    for message, _detail in errors:
        assert message.startswith("Out of memory on cpu running m.") and "unloaded" in message
    assert worker.loaded == []


def test_the_worker_thread_uses_a_share_of_the_cores():
    import torch

    from studio.engine.machine import inference_threads

    seen, done = [], threading.Event()
    w = InferenceWorker(lambda ref, device: None, device="cpu").start()
    try:
        w.submit(None, lambda m, c: (seen.append(torch.get_num_threads()), done.set()))
        wait(done)
    finally:
        w.stop()
    assert seen == [inference_threads()] and 1 <= inference_threads() <= max(1, (os.cpu_count() or 1) // 2)


def test_relay_wakes_the_gui_once_for_a_burst_and_keeps_the_order(qtbot):
    from studio.ui.bridge import GuiRelay

    relay = GuiRelay()
    wakes, got = [], []
    relay._wake.connect(lambda: wakes.append(1))
    thread = threading.Thread(target=lambda: [relay.call(got.append, i) for i in range(2000)])
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: len(got) == 2000)
    assert got == list(range(2000))
    assert len(wakes) < 50  # not one Qt event per call

    time.sleep(0.05)  # a quiet spell, three frames long: after it a single call is delivered at once
    started = time.monotonic()
    threading.Thread(target=lambda: relay.call(got.append, "late")).start()
    qtbot.waitUntil(lambda: got[-1] == "late")
    assert time.monotonic() - started < 0.5


def test_a_failing_relayed_call_does_not_hold_back_the_next(qtbot, monkeypatch):
    import sys

    from studio.ui.bridge import GuiRelay

    relay = GuiRelay()
    reported, got = [], []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: reported.append(exc[0]))
    relay.call(lambda: 1 / 0)
    relay.call(got.append, "after")
    qtbot.waitUntil(lambda: got == ["after"])
    assert reported == [ZeroDivisionError]


def test_what_waits_for_its_frame_is_delivered_at_once_when_the_worker_runs_out_of_work(qtbot):
    from PySide6.QtWidgets import QApplication

    from studio.ui.bridge import GuiRelay

    relay, got = GuiRelay(), []
    relay.FRAME_S = 60.0  # a frame that never comes by itself during this test
    relay.call(got.append, "first")
    qtbot.waitUntil(lambda: got == ["first"])  # after a quiet spell: at once
    relay.call(got.append, "second")  # in a stream: it waits for the next frame ...
    for _ in range(5):
        QApplication.processEvents()
    assert got == ["first"]
    relay.flush()  # ... unless nothing more is coming (the worker is idle)
    qtbot.waitUntil(lambda: got == ["first", "second"])


def test_the_worker_says_when_it_has_run_everything_queued(worker):
    idle, gate, ran = threading.Event(), threading.Event(), []
    worker.on_idle = lambda: (ran.append(len(worker.loaded)), idle.set())
    worker.submit(None, lambda m, c: gate.wait(5))
    for n in range(3):
        worker.submit(None, lambda m, c, n=n: ran.append(f"request {n}"))
    gate.set()
    wait(idle)
    assert ran == ["request 0", "request 1", "request 2", 0]  # once, after the last of the burst


def test_requests_and_session_steps_run_in_inference_mode_and_leave_it_after():
    """Faster ops for every model, and no switch per token; the mode ends with the request or the step."""
    import torch

    seen, ran, stepped = [], threading.Event(), threading.Event()

    def request(model, ctx):
        seen.append(("request", torch.is_inference_mode_enabled()))
        ran.set()

    def session(model, ctx):
        for _ in range(2):
            seen.append(("session", torch.is_inference_mode_enabled()))
            yield None
        stepped.set()

    w = InferenceWorker(lambda ref, device: None, device="cpu")
    w.on_idle = lambda: seen.append(("idle", torch.is_inference_mode_enabled()))  # on the worker, between requests
    w.start()
    try:
        w.submit(None, request)
        wait(ran)
        w.open_session(None, session)
        wait(stepped)
    finally:
        w.stop()
    assert ("request", True) in seen and seen.count(("session", True)) == 2
    assert ("idle", False) in seen and ("idle", True) not in seen

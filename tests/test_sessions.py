"""Sessions on the inference thread, and requests that overtake one another by key."""

import threading
import time

import pytest

from studio.engine.inference import Callbacks, InferenceWorker, ModelRef
from studio.engine.sessions import CANCELLED, FAILED, FINISHED, SessionCallbacks


class Model:
    """A stand-in model: its name says which checkpoint it came from."""

    def __init__(self, name):
        self.name = name


@pytest.fixture
def worker():
    w = InferenceWorker(lambda ref, device: Model(ref.checkpoint), device="cpu").start()
    yield w
    w.stop()


def wait_for(condition, timeout=30.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


class Recorder:
    """Session callbacks that keep what arrives, in order, with a shared timeline."""

    def __init__(self, timeline=None):
        self.outputs, self.errors, self.closed = [], [], []
        self.timeline = timeline if timeline is not None else []

    def callbacks(self):
        return SessionCallbacks(on_output=self.output, on_error=lambda m, d: self.errors.append(m),
                                on_closed=self.closed.append)

    def output(self, value):
        self.outputs.append(value)
        self.timeline.append(("session", value))


def counting(model, ctx):
    """A session that yields 0, 1, 2, ... and the inputs it was sent before each step."""
    n = 0
    while True:
        yield (n, ctx.inputs())
        n += 1


def test_a_newer_keyed_request_cancels_the_running_one_at_its_next_step(worker):
    started, steps, outcome = threading.Event(), [], {}

    def slow(model, ctx):
        for i in range(10_000):
            ctx.step(i, 10_000)
            started.set()
            steps.append(i)
            time.sleep(0.005)
        return "old"

    worker.submit(None, slow, key="grid", callbacks=Callbacks(
        on_result=lambda r: outcome.setdefault("old", r), on_cancelled=lambda: outcome.setdefault("old", "cancelled")))
    assert started.wait(10)
    worker.submit(None, lambda model, ctx: (len(steps), "new"), key="grid",
                  callbacks=Callbacks(on_result=lambda r: outcome.setdefault("new", r)))
    overtaken_at = len(steps)  # counted once the newer one is queued, so a slow test thread cannot widen it
    wait_for(lambda: "new" in outcome)
    ran_when_overtaken = outcome["new"][0]
    assert outcome["old"] == "cancelled"
    assert ran_when_overtaken <= overtaken_at + 1 and len(steps) == ran_when_overtaken  # it stopped at its next step


def test_a_request_with_another_key_does_not_cancel_the_running_one(worker):
    gate, outcome = threading.Event(), {}
    worker.submit(None, lambda m, ctx: (gate.wait(5), ctx.step(1, 1), "kept")[2], key="a",
                  callbacks=Callbacks(on_result=lambda r: outcome.setdefault("a", r),
                                      on_cancelled=lambda: outcome.setdefault("a", "cancelled")))
    worker.submit(None, lambda m, ctx: "b", key="b",
                  callbacks=Callbacks(on_result=lambda r: outcome.setdefault("b", r)))
    gate.set()
    wait_for(lambda: len(outcome) == 2)
    assert outcome == {"a": "kept", "b": "b"}


def test_a_request_submitted_while_a_session_streams_completes_while_the_session_goes_on(worker):
    timeline = []
    session = Recorder(timeline)
    handle = worker.open_session(ModelRef("m", "dream"), counting, callbacks=session.callbacks())
    wait_for(lambda: len(session.outputs) >= 5, what="the session to stream")

    def stepping(model, ctx):
        for i in range(5):
            ctx.step(i + 1, 5)
            timeline.append(("request", i))
        return model.name

    results = []
    worker.submit(ModelRef("m", "other"), stepping, callbacks=Callbacks(on_result=results.append))
    wait_for(lambda: results, what="the request")
    assert results == ["other"]
    count = len(session.outputs)
    wait_for(lambda: len(session.outputs) > count + 5, what="the session to go on after the request")
    first = timeline.index(("request", 0))
    last = timeline.index(("request", 4))
    # between the request's steps the session stepped once each time: it never waited two steps
    between = [kind for kind, _ in timeline[first:last + 1]]
    assert between == ["request", "session"] * 4 + ["request"]
    handle.cancel()
    wait_for(lambda: session.closed == [CANCELLED], what="the session to close")


def test_inputs_reach_the_sessions_next_step_and_a_session_can_wait_for_them(worker):
    session = Recorder()
    handle = worker.open_session(None, counting, wait_for_input=True, callbacks=session.callbacks())
    time.sleep(0.1)
    assert session.outputs == []  # nothing sent: no step
    handle.send("left")
    handle.send("gas")
    wait_for(lambda: session.outputs)
    assert session.outputs == [(0, ["left", "gas"])]
    handle.send("brake")
    wait_for(lambda: len(session.outputs) == 2)
    assert session.outputs[1] == (1, ["brake"])
    handle.cancel()
    wait_for(lambda: session.closed == [CANCELLED])


def test_a_paced_session_steps_no_faster_than_its_pace(worker):
    session, times = Recorder(), []
    callbacks = session.callbacks()
    callbacks.on_output = lambda value: (times.append(time.monotonic()), session.output(value))
    handle = worker.open_session(None, counting, pace=0.05, callbacks=callbacks)
    wait_for(lambda: len(times) >= 6, what="six steps")
    handle.cancel()
    wait_for(lambda: session.closed)
    # five steps due 50 ms apart (a first one late by less than a pace is caught up on, and a busy machine only
    # makes them later): at least four paces; unpaced, they take microseconds
    assert times[5] - times[0] >= 4 * 0.05


def test_a_session_keeps_its_model_when_the_cache_forgets_it(worker):
    def dream(model, ctx):
        while True:
            yield model.name

    session = Recorder()
    handle = worker.open_session(ModelRef("m", "dream"), dream, callbacks=session.callbacks())
    wait_for(lambda: session.outputs)
    worker.unload()  # e.g. the checkpoint was saved again
    done = []
    worker.submit(None, lambda m, c: done.append(worker.loaded))
    wait_for(lambda: done)
    assert done == [[]]
    count = len(session.outputs)
    wait_for(lambda: len(session.outputs) > count + 3)
    assert set(session.outputs) == {"dream"}
    handle.cancel()


def test_a_session_that_ends_or_fails_is_closed_and_the_worker_goes_on(worker):
    def three(model, ctx):
        yield from range(3)

    def broken(model, ctx):
        yield 1
        raise RuntimeError("the dream fell apart")

    ended, failed = Recorder(), Recorder()
    worker.open_session(None, three, callbacks=ended.callbacks())
    worker.open_session(None, broken, callbacks=failed.callbacks())
    wait_for(lambda: ended.closed and failed.closed)
    assert ended.outputs == [0, 1, 2] and ended.closed == [FINISHED]
    assert failed.outputs == [1] and failed.closed == [FAILED]
    assert failed.errors == ["Unexpected error: RuntimeError: the dream fell apart"]
    results = []
    worker.submit(None, lambda m, c: "still here", callbacks=Callbacks(on_result=results.append))
    wait_for(lambda: results)


def test_stopping_the_worker_closes_its_sessions():
    worker = InferenceWorker(lambda ref, device: None, device="cpu").start()
    session, finalised = Recorder(), []

    def cleaning(model, ctx):
        try:
            while True:
                yield 0
        finally:
            finalised.append(threading.current_thread().name)

    worker.open_session(None, cleaning, callbacks=session.callbacks())
    wait_for(lambda: session.outputs)
    worker.stop()
    assert session.closed == [CANCELLED]
    assert finalised == ["studio-inference"]  # the generator was closed where it ran

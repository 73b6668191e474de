"""The panel kit's request mechanism (Work) and its task bar: requests by name, newest wins, progress
with the time left, Cancel and Esc, late results dropped, failures reported."""

import pytest
from panel_support import FakeExecutor

from studio.ui.kit.work import Task, Work


@pytest.fixture
def work():
    return Work(FakeExecutor(), owner="panel-1")


def steps(n, result="done"):
    def fn(_model, ctx):
        for i in range(n):
            ctx.step(i + 1, n)
        return result
    return fn


def test_each_request_is_tracked_by_its_name_and_ends_once(work):
    results, changes = [], []
    work.events.changed.connect(lambda: changes.append([t.name for t in work.tasks]))
    work.run("map", None, steps(3, "map"), on_result=results.append, label="Encoding")
    work.run("folders", None, steps(2, "folders"), on_result=results.append, label="Encoding folders")
    work.run("decode", None, steps(1, "decode"), on_result=results.append)  # quiet: not shown
    assert [t.name for t in work.tasks] == ["map", "folders"] and work.busy and work.running("decode")
    work.executor.run()
    assert results == ["map", "folders", "decode"] and not work.busy
    assert changes[0] == ["map"] and changes[-1] == []
    keys = [r.key for r in work.executor.ran]
    assert keys == ["panel-1:map", "panel-1:folders", "panel-1:decode"]  # unique to this panel's state


def test_a_newer_request_of_a_name_overtakes_the_older_whose_results_never_arrive(work):
    results = []
    work.run("decode", None, steps(1, "old"), on_result=results.append)
    work.run("decode", None, steps(1, "new"), on_result=results.append)
    work.executor.run()
    assert results == ["new"]

    def overtaken(_model, ctx):  # a running request, overtaken at its second step
        ctx.step(1, 3)
        work.run("decode", None, steps(1, "newest"), on_result=results.append)
        ctx.step(2, 3)
        raise AssertionError("it should have stopped at its step")

    work.run("decode", None, overtaken, on_result=results.append)
    work.executor.run()
    assert results == ["new", "newest"]


def test_cancel_stops_everything_shown_at_once_and_what_comes_later_is_dropped(work):
    told = []
    work.run("map", None, steps(5, "map"), on_result=told.append, on_cancelled=lambda: told.append("map cancelled"),
             label="Encoding")
    work.run("folders", None, steps(5, "folders"), on_result=told.append, label="Encoding folders")
    work.run("digest", None, steps(1, "digest"), on_result=told.append)  # quiet: Cancel leaves it be
    request = work.executor.queue[0]
    work.cancel()
    assert told == ["map cancelled"] and not work.busy and request.cancelled
    work.executor.run()
    assert told == ["map cancelled", "digest"]


def test_progress_and_the_time_left():
    task = Task("map", "Encoding", "", None, started=100.0)
    assert task.eta_s(now=101.0) is None  # no step done yet
    task.step, task.total = 2, 10
    assert task.eta_s(now=104.0) == pytest.approx(16.0)  # 2 s a step, 8 steps to go


def test_a_failure_goes_to_its_handler_or_to_the_failed_event(work):
    failures, handled = [], []
    work.events.failed.connect(lambda *failure: failures.append(failure))
    work.run("sample", None, lambda m, c: 1 / 0, on_result=print, title="Sampling failed")
    work.run("other", None, lambda m, c: 1 / 0, on_result=print, on_error=lambda message, _d: handled.append(message))
    work.executor.run()
    [(title, message, detail)] = failures
    assert title == "Sampling failed" and message == "Unexpected error: ZeroDivisionError: division by zero"
    assert "Traceback" in detail and handled == [message]


def test_after_reset_or_close_nothing_arrives(work):
    results = []
    work.run("decode", None, steps(1), on_result=results.append)
    work.reset()
    work.executor.run()
    work.close()
    work.run("decode", None, steps(1), on_result=results.append)
    work.executor.run()
    assert results == [] and work.executor.queue == []


def test_the_task_bar_shows_the_newest_request_and_cancels_them_all(qtbot, work):
    from studio.ui.kit.task_bar import TaskBar

    bar = TaskBar(work, "Stop")
    qtbot.addWidget(bar)
    assert bar.isHidden()
    cancelled = []
    work.run("map", None, steps(4), on_result=print, on_cancelled=lambda: cancelled.append(1), label="Encoding")
    assert not bar.isHidden() and bar.progress.maximum() == 0  # busy: no total yet
    request = work.executor.queue[0]
    request.on_step(1, 4)
    assert (bar.progress.maximum(), bar.progress.value()) == (4, 1) and bar.progress.format().startswith("Encoding")
    bar.cancel_button.click()
    assert cancelled == [1] and bar.isHidden()

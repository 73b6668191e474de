"""The suite's qtbot waits patiently unless a test says otherwise: a loaded machine overran pytest-qt's 5 s."""

import inspect

import pytest
from conftest import PATIENT_WAIT_MS


@pytest.mark.parametrize("name", ["waitUntil", "waitSignal", "waitSignals", "waitCallback", "waitExposed",
                                  "waitActive"])
def test_every_qtbot_wait_defaults_to_the_patient_timeout(qtbot, name):
    wait = getattr(qtbot, name)
    assert inspect.signature(wait, follow_wrapped=False).parameters["timeout"].default == PATIENT_WAIT_MS
    assert inspect.signature(wait).parameters["timeout"].default == 5000  # what pytest-qt alone would wait


def test_a_timeout_a_test_gives_still_holds(qtbot):
    with pytest.raises(qtbot.TimeoutError, match="10 milliseconds"):
        qtbot.waitUntil(lambda: False, timeout=10)

"""What the fuzz tests share: Hypothesis settings, the check that a reader fails clearly, and a tally.

Every property runs with :func:`fuzzed`: deterministic (``derandomize``, no example database), no
deadline (some readers are slow on a busy machine), and ``STUDIO_FUZZ_EXAMPLES`` examples (default 20)
times the property's weight, so the benchmark (benchmarks/_robustness_fuzz.py) runs the same properties
with more. :func:`reads_clearly` counts each case by reader; the count is printed in pytest's terminal
summary ("fuzz: N cases tried ...") and, when ``STUDIO_FUZZ_REPORT`` names a file, written there as JSON
with the crashes seen (a reader raising anything but a user-facing error) and the tests that failed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, settings

from studio.core.errors import UserError

EXAMPLES = int(os.environ.get("STUDIO_FUZZ_EXAMPLES", "20"))
REPORT = os.environ.get("STUDIO_FUZZ_REPORT", "")

CASES: Counter[str] = Counter()
#: (reader, exception type, first line of its message) of every case that crashed a reader
CRASHES: set[tuple[str, str, str]] = set()
#: the tests that failed (a property whose reader crashed, or that found another fault)
FAILED: list[str] = []


def fuzzed(weight: float = 1.0) -> settings:
    """Hypothesis settings for a property: ``weight`` scales the number of examples (a slow reader less)."""
    return settings(max_examples=max(1, round(EXAMPLES * weight)), derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder for one example (a test's tmp_path is shared by all its examples)."""
    with tempfile.TemporaryDirectory(prefix="studio-fuzz-") as folder:
        yield Path(folder)


def reads_clearly(reader: str, read: Callable[[], Any], names: str, errors: tuple[type[BaseException], ...] = (
        UserError,)) -> Optional[BaseException]:
    """Run ``read()`` as one case of ``reader``: it either succeeds (None) or raises one of ``errors``
    whose message names the file ``names`` (returned). Anything else is a crash: recorded, then raised."""
    CASES[reader] += 1
    try:
        read()
    except errors as exc:
        message = str(exc)
        assert names in message, f"{reader}: the message does not name {names!r}: {message!r}"
        assert "Traceback" not in message
        return exc
    except Exception as exc:
        CRASHES.add((reader, type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else ""))
        raise
    return None


def tried(reader: str) -> None:
    """Count a case checked some other way than :func:`reads_clearly`."""
    CASES[reader] += 1


def unchanged(path: Path, before: bytes) -> None:
    """Nothing already saved is lost: ``path`` still holds ``before``."""
    assert path.read_bytes() == before, f"{path.name} was changed by reading it"


class _Tally:
    """A pytest plugin: the number of cases in the terminal summary, and the JSON report."""

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if CASES:
            readers = ", ".join(f"{name} {count}" for name, count in sorted(CASES.items()))
            terminalreporter.write_line(f"fuzz: {sum(CASES.values())} cases tried ({readers}); "
                                        f"{len(CRASHES)} crash(es)")

    def pytest_runtest_logreport(self, report) -> None:
        if report.failed:
            FAILED.append(report.nodeid)

    def pytest_sessionfinish(self) -> None:
        if REPORT:
            Path(REPORT).write_text(json.dumps({"cases": dict(CASES), "crashes": sorted(map(list, CRASHES)),
                                                "failed": FAILED}))


@pytest.fixture(autouse=True, scope="session")
def fuzz_tally(request):
    """Registers :class:`_Tally` once per session (each fuzz module imports this fixture)."""
    if not request.config.pluginmanager.has_plugin("studio-fuzz-tally"):
        request.config.pluginmanager.register(_Tally(), "studio-fuzz-tally")

"""Suite-wide checks: every test runs with asyncio's debug mode (``asyncio_debug`` in pyproject.toml), and a test
fails (at teardown) when asyncio reported a task destroyed while still pending ("Task was destroyed but it is
pending") or an exception nobody retrieved ("... exception was never retrieved") during it.

asyncio reports both through its loop exception handler, whose default logs them on the ``asyncio`` logger (also
from ``__del__``, hence the ``gc.collect()`` before each check). The app servers the app tests start as
subprocesses are checked the same way by scanning their logs when they stop (tests/app/conftest.py).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Generator

import pytest

ASYNCIO_PROBLEMS = ("Task was destroyed but it is pending", "exception was never retrieved")


class _AsyncioProblems(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(problem in message for problem in ASYNCIO_PROBLEMS):
            self.found.append(message.splitlines()[0][:300])

    def take(self) -> list[str]:
        found, self.found = self.found, []
        return found


_PROBLEMS = _AsyncioProblems()
_SEEN_IN_SESSION: list[str] = []


def problems_in_log(text: str) -> list[str]:
    """The lines of a log that report an asyncio task destroyed while pending or an exception never retrieved."""
    return [line for line in text.splitlines() if any(problem in line for problem in ASYNCIO_PROBLEMS)]


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger("asyncio").addHandler(_PROBLEMS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    result = yield
    gc.collect()
    found = _PROBLEMS.take()
    if found:
        _SEEN_IN_SESSION.extend(found)
        raise AssertionError("asyncio reported during this test:\n" + "\n".join(found))
    return result


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gc.collect()
    late = _PROBLEMS.take()
    if late:
        print("\nasyncio reported after the last test:\n" + "\n".join(late))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The random order's seed (pytest-randomly prints it in the header, which -q leaves out), to repeat it."""
    if config.pluginmanager.hasplugin("randomly"):
        seed = config.getoption("randomly_seed")
        terminalreporter.write_line(f"random test order: repeat it with --randomly-seed={seed}")

"""BLINKT_TESTS_NO_SKIP=1 (`make test`, so CI): a test that would skip fails instead.

A test that skips where CI runs is a test that cannot fail. Developers without
tmux, curl, openssl, shellcheck or the DejaVu font still get skips from `make unit`, which
name what to install; `make test` installs all of it (`make deps`, as root)
and then lets nothing skip, so a missing tool is a failure that says so.
"""

import os

import pytest

VARIABLE = "BLINKT_TESTS_NO_SKIP"


def _no_skip() -> bool:
    return os.environ.get(VARIABLE) == "1"


def _fail_if_skipped(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not report.skipped or hasattr(report, "wasxfail") or not _no_skip():
        return
    # A skip's longrepr is (file, line, "Skipped: reason").
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"{VARIABLE}=1 (make test) lets no test skip, and this one did: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_if_skipped(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_if_skipped(outcome.get_result())

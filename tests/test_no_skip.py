"""Under `make test` (BLINKT_TESTS_NO_SKIP=1) a skip fails; elsewhere it stays a skip."""

import pytest

from tests.no_skip import VARIABLE

SKIPPING = """
import pytest

needs_nothing_there = pytest.mark.skipif(True, reason="the tool is not installed")

@needs_nothing_there
def test_marked():
    pass

def test_skips_inside():
    pytest.skip("curl is not installed")

def test_imports_or_skips():
    pytest.importorskip("a_module_nobody_has")

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False

def test_runs():
    pass
"""

MODULE_SKIP = """
import pytest

pytest.skip("no font here", allow_module_level=True)

def test_never_collected():
    pass
"""


@pytest.fixture
def run(pytester, monkeypatch):
    def run(source, no_skip):
        if no_skip:
            monkeypatch.setenv(VARIABLE, "1")
        else:
            monkeypatch.delenv(VARIABLE, raising=False)
        pytester.makepyfile(source)
        return pytester.runpytest_inprocess("-p", "tests.no_skip", "-p", "no:cacheprovider")

    return run


def test_every_kind_of_skip_fails_naming_the_reason(run):
    result = run(SKIPPING, no_skip=True)
    # A skipif marker acts at set-up: that one is reported as an error.
    result.assert_outcomes(failed=2, errors=1, passed=1, xfailed=1)
    result.stdout.fnmatch_lines(["*lets no test skip*the tool is not installed*"])
    result.stdout.fnmatch_lines(["*lets no test skip*curl is not installed*"])
    result.stdout.fnmatch_lines(["*lets no test skip*a_module_nobody_has*"])


def test_a_module_level_skip_fails_too(run):
    result = run(MODULE_SKIP, no_skip=True)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*lets no test skip*no font here*"])


def test_without_the_variable_skips_stay_skips(run):
    run(SKIPPING, no_skip=False).assert_outcomes(skipped=3, passed=1, xfailed=1)

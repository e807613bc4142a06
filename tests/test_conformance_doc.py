"""docs/CONFORMANCE.md names real tests: every `test_…` in the Consul DNS table exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def consul_rows() -> list[str]:
    text = (ROOT / "docs" / "CONFORMANCE.md").read_text()
    section = text.split("## Consul DNS interface", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]


def test_every_consul_dns_row_names_tests_that_exist():
    defined = {
        name
        for path in (ROOT / "tests").glob("test_*.py")
        for name in re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE)
    }
    rows = consul_rows()[1:]  # after the header
    assert len(rows) >= 20
    for row in rows:
        named = set(re.findall(r"`(test_\w+)`", row.split(" | ")[-1]))
        assert named, row
        assert named <= defined, named - defined


def test_every_row_of_every_table_names_tests_that_exist():
    """Consul, Nomad, Kubernetes, and what the agent takes from each: a row per behaviour,
    its last column naming the tests that pin it (`tests/x.py::test_y` or `test_y`)."""
    defined = {
        name
        for path in (ROOT / "tests").rglob("test_*.py")
        for name in re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE)
    }
    text = (ROOT / "docs" / "CONFORMANCE.md").read_text()
    rows = [
        line
        for line in text.splitlines()
        if line.startswith("| ") and "---" not in line and not line.startswith("| Behaviour")
    ]
    assert len(rows) >= 120
    for row in rows:
        named = set(re.findall(r"\b(test_\w+)\b(?!\.py)", row.rstrip(" |").split(" | ")[-1]))
        assert named, row
        assert named <= defined, named - defined

"""Every test the Nomad rows of docs/CONFORMANCE.md name exists (so a row cannot go stale)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = (ROOT / "docs" / "CONFORMANCE.md").read_text()
NOMAD = TABLE[TABLE.index("## Nomad HTTP API") :]


def named_tests() -> list[tuple[str, str]]:
    """(file, test) for every `file.py::test` and `::test` (same file as before) cited."""
    found: list[tuple[str, str]] = []
    current = ""
    for row in (line for line in NOMAD.splitlines() if line.startswith("| ")):
        test_cell = row.rstrip(" |").rsplit(" | ", 1)[-1]
        for file, name in re.findall(r"`(?:tests/)?([\w/]*\.py)?::(\w+)`", test_cell):
            current = file or current
            found.append((current, name))
    return found


def test_the_nomad_table_cites_tests():
    assert len(named_tests()) >= 40


def test_every_cited_test_exists():
    missing = []
    for file, name in named_tests():
        path = ROOT / "tests" / file
        names = {
            node.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef)
        }
        if name not in names:
            missing.append(f"{file}::{name}")
    assert missing == []

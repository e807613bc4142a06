"""One licence, said the same way everywhere it is said."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _words(text: str) -> list[str]:
    return re.sub(r"^ \.$", "", text, flags=re.M).split()


def test_license_file_pyproject_debian_and_role_all_say_mit():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == {"text": "MIT"}
    copyright_ = (ROOT / "debian" / "copyright").read_text()
    assert re.search(r"^Files: \*\nCopyright: .*\nLicense: MIT$", copyright_, re.M)
    assert re.search(
        r"^  license: MIT$", (ROOT / "roles/blinkt_agent/meta/main.yml").read_text(), re.M
    )


def test_license_file_has_debian_copyrights_holder_year_and_text():
    license_ = (ROOT / "LICENSE").read_text()
    copyright_ = (ROOT / "debian" / "copyright").read_text()
    files = re.search(r"^Files: \*\nCopyright: (.+)$", copyright_, re.M)
    assert files, "debian/copyright has no Files: * paragraph"
    holder = files.group(1)
    assert f"Copyright (c) {holder}\n" in license_
    # The licence text of debian/copyright (its stand-alone "License: MIT" paragraph).
    debian_text = copyright_.split("\nLicense: MIT\n")[-1]
    body = license_.split(f"Copyright (c) {holder}\n", 1)[1]
    assert _words(body) == _words(debian_text)

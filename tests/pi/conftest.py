"""Fixtures for the emulated Raspberry Pi proofs: one boot for the whole session.

The proofs are the life of one Pi, in file order, each step starting from the
state the previous one left (run.sh stops at the first failure).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pi.emulator import EmulatedPi, PiError

REPO = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT = 300  # measured 50-60 s; a loaded CI machine gets five times that


def deb_path() -> Path:
    version = subprocess.run(
        ["dpkg-parsechangelog", "-l", str(REPO / "debian" / "changelog"), "-S", "Version"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    return REPO / "dist" / f"blinkt-agent_{version}_all.deb"


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # pytest then runs the teardown: QEMU is quit, not orphaned


signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture(scope="session")
def figures() -> dict[str, str]:
    return FIGURES


@pytest.fixture(scope="session")
def pi(figures) -> Iterator[EmulatedPi]:
    image = os.environ.get("BLINKT_PI_IMAGE")
    if not image:
        raise PiError("BLINKT_PI_IMAGE is not set: run tests/pi/run.sh (make pi)")
    machine = EmulatedPi(Path(image))
    try:
        machine.start()
        booted = machine.wait_booted(BOOT_TIMEOUT)
        figures["QEMU start → booted (serial shell ready)"] = f"{booted:.1f} s"
        # Kernel messages on the console would cut into the shell's replies.
        machine.sh("dmesg -n 1")
        # The board has no real-time clock: give the guest the host's time.
        machine.sh(f"date -s @{time.time():.0f} >/dev/null")
        machine.sh("systemctl is-system-running --wait", check=False, timeout=BOOT_TIMEOUT)
        figures["QEMU start → systemd finished booting"] = (
            f"{machine.since_start(time.time()):.1f} s"
        )
        machine.trace_gpio()
        yield machine
    finally:
        machine.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    machine = item.funcargs.get("pi")
    if report.failed and call.when == "call" and isinstance(machine, EmulatedPi):
        try:
            journal = machine.sh("journalctl -n 40 --no-pager -o short-monotonic", timeout=60)
        except PiError as err:
            journal = f"(no journal: {err})"
        report.sections.append(("emulated Pi: journal", journal))
        report.sections.append(("emulated Pi: serial console", machine.serial_tail()))
    return report


FIGURES: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("measured on the emulated Pi")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")

"""Fixtures for the booted-container proofs of the Debian package.

One container (Debian bookworm, systemd as PID 1, host network) per session:
the proofs are the life of one installation, install → run → hang → crash
→ misconfigure → upgrade → remove → purge, as a user would live it. The
simulated Nomad and Consul DNS run on the host's loopback, which the
container shares; the RPi.GPIO double stands in for the Blinkt!.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
SYSTEM_DIR = REPO / "tests" / "system"
IMAGE = "localhost/blinkt-bookworm-systemd:latest"
NODE = "pi-sys"
UNIT = "blinkt-agent.service"
STATE_DIR = "/var/lib/blinkt-gpio-double"
STATE_FILE = f"{STATE_DIR}/leds.json"
DROP_IN = "/etc/systemd/system/blinkt-agent.service.d/test.conf"
# A short watchdog so that the hang proof takes seconds, not half a minute.
TEST_WATCHDOG_SEC = 3

os.environ["CONTAINERS_CONF"] = str(SYSTEM_DIR / "containers.conf")


def deb_version(changelog: Path = REPO / "debian" / "changelog") -> str:
    return subprocess.run(
        ["dpkg-parsechangelog", "-l", str(changelog), "-S", "Version"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 20.0, every: float = 0.2):
    """Poll until probe() is truthy and return it; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


# --- the simulated cluster -------------------------------------------------------------------


@dataclass
class Sim:
    url: str
    dns: str

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        response = requests.request(method, f"{self.url}/_sim/{path}", json=body, timeout=5)
        response.raise_for_status()
        return response.json()

    def add_alloc(self, job: str, client_status: str) -> str:
        body = {"node": NODE, "job": job, "group": job, "client_status": client_status}
        return self._call("POST", "allocations", body)["id"]

    def update_alloc(self, alloc_id: str, **fields: str) -> None:
        self._call("POST", f"allocations/{alloc_id}", fields)

    def remove_alloc(self, alloc_id: str) -> None:
        self._call("DELETE", f"allocations/{alloc_id}")


@contextlib.contextmanager
def sim_process(module: str, *args: str, says: str) -> Iterator[re.Match[str]]:
    """`python -m <module> <args>` on the host until the block ends; the match of
    `says` on its first line, which tells where it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        match = re.match(says, line)
        assert match, f"{module} did not start: {line!r}"
        yield match
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def sim() -> Iterator[Sim]:
    with sim_process(
        "blinkt_agent.sim", "--nomad-port", "0", "--dns-port", "0", "--node", NODE,
        "--allocs", "3", says=r"sim: nomad (\S+) dns (\S+) nodes=",
    ) as match:  # fmt: skip
        yield Sim(url=match[1], dns=match[2])


# --- the booted container --------------------------------------------------------------------


@dataclass
class Container:
    name: str

    def sh(self, script: str, check: bool = True, timeout: float = 300) -> str:
        """Run a shell script in the container; its stdout (fails on non-zero when check)."""
        result = subprocess.run(
            ["podman", "exec", self.name, "sh", "-c", script],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check and result.returncode:
            raise AssertionError(
                f"in the container, exit {result.returncode}: {script}\n"
                f"{result.stdout}{result.stderr}\n--- journal ---\n{self.journal()}"
            )
        return result.stdout

    def journal(self, lines: int = 30) -> str:
        return subprocess.run(
            ["podman", "exec", self.name, "journalctl", "-u", UNIT, "-n", str(lines), "--no-pager"],
            capture_output=True, text=True,
        ).stdout  # fmt: skip

    def show(self, *props: str) -> dict[str, str]:
        out = self.sh(f"systemctl show {UNIT} " + " ".join(f"-p {p}" for p in props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def prop(self, name: str) -> str:
        return self.show(name)[name]

    def apt(self, args: str) -> str:
        return self.sh(f"DEBIAN_FRONTEND=noninteractive apt-get -y -q {args} 2>&1")


@pytest.fixture(scope="session")
def container(sim: Sim) -> Iterator[Container]:
    name = f"blinkt-system-{os.getpid()}"
    subprocess.run(
        ["podman", "run", "-d", "--name", name, "--systemd=always", "--network=host",
         "-v", f"{REPO / 'dist'}:/dist:ro", IMAGE, "/sbin/init"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    c = Container(name)
    try:
        # Until systemd has its bus up, systemctl cannot even ask.
        wait_for(
            "systemd in the container to finish booting",
            lambda: (
                c.sh("systemctl is-system-running", check=False).strip() in ("running", "degraded")
            ),
            timeout=60,
        )
        # Raspberry Pi OS has a gpio group owning /dev/gpiomem and /dev/gpiochip*.
        c.sh("groupadd --system gpio")
        # Test only: the RPi.GPIO double where Debian's python3 finds it, a place
        # where the agent (not yet a known user) may write the decoded LEDs, and
        # a drop-in pointing the unit at the simulator.
        dist_packages = "/usr/local/lib/python3.11/dist-packages"
        c.sh(f"mkdir -p {dist_packages} {Path(DROP_IN).parent} && mkdir -m 0777 {STATE_DIR}")
        double = REPO / "tests" / "gpio_double" / "RPi"
        subprocess.run(["podman", "cp", str(double), f"{name}:{dist_packages}/RPi"], check=True)
        c.sh(f"cat > {DROP_IN} <<'EOF'\n{drop_in_text(sim)}EOF")
        c.apt("update -qq")
        yield c
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True)


def drop_in_text(sim: Sim) -> str:
    return (
        "# Test only: the simulated cluster, the GPIO double's output, a short watchdog.\n"
        "[Service]\n"
        f"Environment=BLINKT_AGENT_CONSUL_DNS={sim.dns} BLINKT_AGENT_NODE={NODE}\n"
        f"Environment=BLINKT_GPIO_DOUBLE_STATE={STATE_FILE}\n"
        f"ReadWritePaths={STATE_DIR}\n"
        f"WatchdogSec={TEST_WATCHDOG_SEC}\n"
    )


# --- measured figures, printed at the end ----------------------------------------------------

FIGURES: dict[str, str] = {}


@pytest.fixture(scope="session")
def figures() -> dict[str, str]:
    return FIGURES


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("measured")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")

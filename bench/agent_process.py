"""`blinkt-agent run` as a subprocess, as systemd runs it, with everything it says stamped.

The agent gets a config pointing at a simulated cluster, a real NOTIFY_SOCKET
(AF_UNIX datagrams, like systemd's) and `display = "json"` on a pipe; two
reader threads stamp every sd_notify message and every frame on arrival.
`/proc/<pid>/task` gives what the process cost: CPU time (schedstat, in ns)
and context switches, summed over its threads.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class AgentProcess:
    def __init__(self, cluster, config: str = "", watchdog_usec: int | None = None):
        self._dir = tempfile.TemporaryDirectory(prefix="blinkt-bench-")
        path = Path(self._dir.name)
        (path / "config.toml").write_text(
            f'display = "json"\n{config}\n'
            f'[consul]\ndns = "{cluster.dns.address}"\nnode_name = "pi-01"\n'
        )
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(path / "notify"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOMAD_", "BLINKT_"))}
        env.pop("WATCHDOG_PID", None)
        env.update(NOTIFY_SOCKET=str(path / "notify"), PYTHONPATH=str(ROOT))
        if watchdog_usec is None:
            env.pop("WATCHDOG_USEC", None)
        else:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "blinkt_agent", "--config", str(path / "config.toml"), "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lock = threading.Condition()
        self.messages: list[tuple[float, str]] = []  # (monotonic, "STATUS=…")
        self.frames: list[tuple[float, tuple]] = []  # (monotonic, lit pixels)
        threading.Thread(target=self._read_notify, daemon=True).start()
        threading.Thread(target=self._read_frames, daemon=True).start()

    def _read_notify(self) -> None:
        while True:
            try:
                data = self._notify.recv(4096)
            except OSError:
                return
            with self.lock:
                for line in data.decode().splitlines():
                    self.messages.append((time.monotonic(), line))
                self.lock.notify_all()

    def _read_frames(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            pixels = json.loads(line)["pixels"]
            lit = tuple((p["r"], p["g"], p["b"]) for p in pixels if p["brightness"] > 0)
            with self.lock:
                self.frames.append((time.monotonic(), lit))
                self.lock.notify_all()

    def wait_for_status(self, prefix: str, after: float = 0.0, timeout: float = 30.0) -> float:
        """monotonic time of the first STATUS starting with `prefix` sent after `after`."""
        with self.lock:
            found = self.lock.wait_for(lambda: self._first_status(prefix, after), timeout=timeout)
            return found or float("inf")

    def _first_status(self, prefix: str, after: float) -> float | None:
        wanted = "STATUS=" + prefix
        return next((t for t, m in self.messages if t > after and m.startswith(wanted)), None)

    def wait_for_frame(self, lit: tuple, after: float = 0.0, timeout: float = 30.0) -> float:
        """monotonic time of the first frame with these lit pixels shown after `after`."""

        def first():
            return next((t for t, f in self.frames if t > after and f == lit), None)

        with self.lock:
            return self.lock.wait_for(first, timeout=timeout) or float("inf")

    def last_frame(self) -> tuple:
        with self.lock:
            return self.frames[-1][1] if self.frames else ()

    def cost(self) -> tuple[float, int]:
        """(CPU seconds, context switches) so far, summed over the process's threads."""
        cpu_ns = switches = 0
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            cpu_ns += int((task / "schedstat").read_text().split()[0])  # ns on a CPU
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
        return cpu_ns / 1e9, switches

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        finally:
            self._notify.close()
            self._dir.cleanup()

    def __enter__(self) -> AgentProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

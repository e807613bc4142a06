"""What a person sees: a command in a real terminal (tmux) or on a pseudo-terminal.

Tmux runs on a private socket (`tmux -L <unique>`, no user config) and its
server is killed on exit, so parallel runs and the user's own tmux never meet.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LED_ROW = re.compile(
    r"^[\u25cf\u00b7RAYGCBMWraygcbmw](?: [\u25cf\u00b7RAYGCBMWraygcbmw]){7}(?:  |$)"
)
DARK_ROW = " ".join(["\u00b7"] * 8)
SGR_COLOUR = re.compile(r"\x1b\[(?:3[0-9]|38;[0-9;]+)m")


def agent_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NOMAD_", "BLINKT_", "KUBE", "TMUX", "NO_COLOR", "COLUMNS", "LINES"))
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def blinkt_agent_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "blinkt_agent", *args]


class Tmux:
    """One tmux server with one pane running `argv`, `columns` by `rows`, status bar off."""

    def __init__(self, argv: list[str], columns: int, rows: int = 24, env=None) -> None:
        if shutil.which("tmux") is None:
            pytest.skip("tmux is not installed")
        self.socket = f"blinkt-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.env = env or agent_env()
        # remain-on-exit keeps the pane (and its last screen) after the command ends.
        self._config = tempfile.NamedTemporaryFile("w", suffix=".conf")  # noqa: SIM115
        self._config.write("set -g status off\nset -g remain-on-exit on\n")
        self._config.flush()
        # tmux itself sometimes loses a dead pane's exit status: the shell writes it down.
        self._status = Path(self._config.name + ".status")
        # (a trap that runs a command is reset in the child: it gets Ctrl-C as usual.)
        command = f'trap : INT; "$@"; echo $? > {shlex.quote(str(self._status))}'
        self._tmux(
            "-f", self._config.name, "new-session", "-d", "-x", str(columns), "-y", str(rows),
            shlex.join(["sh", "-c", command, "sh", *argv]),
        )  # fmt: skip
        self._socket_path = self._tmux("display-message", "-p", "#{socket_path}").strip()

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return result.stdout

    def rows(self, colours: bool = False, joined: bool = False) -> list[str]:
        """The pane's rows, scrolled-off ones first, without blank rows at the end or tmux's
        own "Pane is dead" line; `joined` undoes the terminal's wrapping of long lines."""
        args = ["capture-pane", "-p", "-S", "-"] + ["-e"] * colours + ["-J"] * joined
        rows = [row.rstrip() for row in self._tmux(*args).split("\n")]
        rows = [row for row in rows if not row.startswith("Pane is dead")]
        while rows and not rows[-1].strip():
            rows.pop()
        return rows

    def wait_for(
        self, predicate: Callable[[list[str]], object], timeout: float = 20.0
    ) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows()
            if rows and predicate(rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError("screen never matched:\n" + "\n".join(rows))
            time.sleep(0.1)

    def resize(self, columns: int, rows: int = 24) -> None:
        self._tmux("resize-window", "-x", str(columns), "-y", str(rows))

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", *keys)

    def exit_status(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self._status.read_text() if self._status.exists() else ""
            if text.endswith("\n"):
                return int(text)
            time.sleep(0.1)
        raise AssertionError("the command did not end")

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True
        )
        self._config.close()
        self._status.unlink(missing_ok=True)
        if self._socket_path:  # tmux leaves its socket file behind
            Path(self._socket_path).unlink(missing_ok=True)


def led_rows(rows: list[str]) -> list[str]:
    return [row for row in rows if LED_ROW.match(row)]


def run_on_a_pty(argv: list[str], env: dict[str, str], timeout: float = 30.0) -> tuple[str, int]:
    """Run `argv` with stdout and stderr on a pseudo-terminal: (what it wrote, exit code)."""
    import pty

    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal
    )
    os.close(terminal)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: every copy of the terminal's other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return b"".join(chunks).decode(), proc.wait(timeout=5)

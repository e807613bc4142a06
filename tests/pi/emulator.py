"""One emulated Raspberry Pi 3B (QEMU raspi3b) booted from the cached SD image, seen from the host.

Three channels, each with a timeout, none needing the guest to have a network:
  * the first UART (a unix socket; QEMU logs it to serial.log): the guest's
    serial shell (guest/serial-shell.py) runs the scripts sh() sends;
  * QMP (a unix socket): turns on the trace of register writes once the
    guest has booted (tracing the boot itself costs ~20 s), and quits QEMU;
  * the trace (-D, a FIFO): grep keeps the bcm2835_gpio writes, a thread feeds
    them to gpio_trace.BlinktTrace; `leds` waits on what it decodes.
QEMU and grep are ended by PID in close(); the work directory goes with them.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import io
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.pi.gpio_trace import BlinktTrace, Event

KERNEL_ARGS = (
    "console=ttyAMA0,115200 root=/dev/mmcblk0 rootfstype=ext4 rootwait rw fsck.mode=skip "
    # Drivers for hardware that QEMU's raspi3b lacks (vchiq, the VideoCore interface,
    # oopses in its thread) or that only costs CPU here.
    "modprobe.blacklist=vc4,brcmfmac,snd_bcm2835,bcm2835_v4l2,vchiq"
)
READY = b"@@READY@@"
REPLY = re.compile(rb"@@R (\d+) (\d+) ([A-Za-z0-9+/=]*)@@")


def _die_with_parent() -> None:
    """In the child before exec: the kernel kills it when the test process dies, however
    it dies (PR_SET_PDEATHSIG), so no QEMU outlives a killed run."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class PiError(AssertionError):
    """The emulated Pi failed to do what was asked; the message ends with its serial log."""


class LedWatch:
    """Thread-safe view of the decoded Blinkt!: events since a mark, waits with timeouts."""

    def __init__(self, trace: BlinktTrace) -> None:
        self._trace = trace
        self._changed = threading.Condition()

    def feed_line(self, line: str) -> None:
        with self._changed:
            self._trace.feed_line(line)
            self._changed.notify_all()

    def mark(self) -> int:
        """A position in the event list: later calls look only at what came after it."""
        with self._changed:
            return len(self._trace.events)

    def since(self, mark: int) -> list[Event]:
        with self._changed:
            return list(self._trace.events[mark:])

    def frames(self, mark: int = 0) -> list[Event]:
        return [e for e in self.since(mark) if e.kind == "frame"]

    @property
    def errors(self) -> list[str]:
        with self._changed:
            return self._trace.errors

    def wait(self, what: str, probe: Callable[[list[Event]], Any], mark: int, timeout: float):
        """Wait until probe(events since mark) is truthy and return it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = probe(list(self._trace.events[mark:]))
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    events = self._trace.events[mark:]
                    raise PiError(
                        f"timed out after {timeout:.0f} s waiting for the LEDs to show {what}; "
                        f"decoded since then: {describe(events)}; errors: {self._trace.errors}"
                    )
                self._changed.wait(left)

    def driven(self, pins: tuple[int, ...]) -> tuple[int | None, ...]:
        """The level each pin drives now (None: not an output), from the register trace."""
        with self._changed:
            return tuple(self._trace.gpio.driven(pin) for pin in pins)

    def wait_driven(
        self, what: str, pins: tuple[int, ...], probe: Callable[[tuple[int | None, ...]], Any],
        timeout: float,
    ) -> tuple[int | None, ...]:  # fmt: skip
        """Wait until probe(the levels `pins` drive) is truthy; return those levels."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                levels = tuple(self._trace.gpio.driven(pin) for pin in pins)
                if probe(levels):
                    return levels
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PiError(
                        f"timed out after {timeout:.0f} s waiting for pins {pins} to show "
                        f"{what}; they drive {levels}"
                    )
                self._changed.wait(left)


def describe(events: list[Event]) -> str:
    """A short account of decoded events, for failure messages."""
    if not events:
        return "nothing"
    parts = []
    for e in events[-12:]:
        if e.kind != "frame":
            parts.append(e.kind)
        elif e.dark:
            parts.append("dark frame")
        else:
            pixels = e.pixels or ()
            lit = [f"#{r:02x}{g:02x}{b:02x}/{b5}" for r, g, b, b5 in pixels if b5 and (r, g, b)]
            parts.append(f"frame[{' '.join(lit)}]")
    more = f"({len(events) - 12} earlier) " if len(events) > 12 else ""
    return more + ", ".join(parts)


T = TypeVar("T")


def _up(value: T | None, what: str) -> T:
    """`value`, which start() sets; a PiError naming `what` before then."""
    if value is None:
        raise PiError(f"the emulated Pi has no {what}: not started")
    return value


class EmulatedPi:
    def __init__(self, image_dir: Path, memory: str = "1G") -> None:
        self.image_dir = image_dir
        self.memory = memory
        self.work = Path(tempfile.mkdtemp(prefix="blinkt-pi.", dir="/var/tmp"))
        self.leds = LedWatch(BlinktTrace())
        self.started_at: float | None = None  # host wall clock, as in the trace lines
        self._qemu: subprocess.Popen | None = None
        self._grep: subprocess.Popen | None = None
        self._serial: socket.socket | None = None
        self._serial_buf = bytearray()
        self._serial_seen = 0
        self._serial_closed = False
        self._serial_changed = threading.Condition()
        self._qmp: socket.socket | None = None
        self._qmp_file: io.BufferedRWPair | None = None
        self._ids = itertools.count(1)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 30) -> None:
        fifo = self.work / "trace.fifo"
        os.mkfifo(fifo)
        # grep opens the FIFO itself and waits there until QEMU opens it for writing.
        self._grep = subprocess.Popen(
            ["grep", "--line-buffered", "-F", "name 'bcm2835_gpio'", str(fifo)],
            stdout=subprocess.PIPE, text=True, errors="replace", preexec_fn=_die_with_parent,
        )  # fmt: skip
        threading.Thread(target=self._read_trace, name="pi-trace", daemon=True).start()
        image = self.image_dir
        command = [
            "qemu-system-aarch64", "-M", "raspi3b", "-m", self.memory,
            "-kernel", str(image / "vmlinuz"), "-initrd", str(image / "initrd.img"),
            "-dtb", str(image / "rpi3b.dtb"), "-append", KERNEL_ARGS,
            # snapshot=on: writes go to a temporary file, the cached image stays pristine.
            "-drive", f"file={image / 'sd.img'},if=sd,format=raw,snapshot=on",
            "-display", "none", "-no-reboot",
            "-chardev", f"socket,id=serial0,path={self.work / 'serial.sock'},server=on,wait=off,"
                        f"logfile={self.work / 'serial.log'}",
            "-serial", "chardev:serial0",
            "-qmp", f"unix:{self.work / 'qmp.sock'},server=on,wait=off",
            "-D", str(fifo), "-msg", "timestamp=on",
        ]  # fmt: skip
        self.started_at = time.time()
        with open(self.work / "qemu.log", "wb") as log:
            self._qemu = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )  # fmt: skip
        self._serial = self._connect("serial.sock", timeout)
        threading.Thread(target=self._read_serial, name="pi-serial", daemon=True).start()
        self._qmp = self._connect("qmp.sock", timeout)
        self._qmp_file = self._qmp.makefile("rwb")
        self._qmp_read()  # the greeting
        self._qmp_command("qmp_capabilities")

    def wait_booted(self, timeout: float) -> float:
        """Wait for the serial shell's READY line; seconds since QEMU started."""
        self._wait_serial(
            lambda buf: READY in buf, "the guest to boot (serial shell ready)", timeout
        )
        return self.since_start(time.time())

    def since_start(self, at: float) -> float:
        """Seconds from QEMU's start to `at` (host wall clock, as in the trace lines)."""
        return at - _up(self.started_at, "start time")

    def trace_gpio(self) -> None:
        """Start logging register writes; from here on `leds` sees what the pins do."""
        self._qmp_command(
            "human-monitor-command", {"command-line": "log trace:memory_region_ops_write"}
        )

    def close(self) -> None:
        """Quit QEMU (killed by PID if it does not go), end grep, remove the work directory."""
        if self._qemu is not None and self._qemu.poll() is None:
            with contextlib.suppress(OSError, PiError, ValueError):
                self._qmp_command("quit")
            try:
                self._qemu.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._qemu.kill()
                self._qemu.wait(timeout=10)
        for sock in (self._serial, self._qmp):
            if sock is not None:
                sock.close()
        if self._grep is not None and self._grep.poll() is None:
            self._grep.send_signal(signal.SIGTERM)
            try:
                self._grep.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._grep.kill()
        if os.environ.get("BLINKT_PI_KEEP"):
            print(f"emulated Pi's logs kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # --- the serial shell -----------------------------------------------------------------

    def sh(self, script: str, timeout: float = 120, check: bool = True) -> str:
        """Run `script` with /bin/sh in the guest as root; its output (stdout + stderr).
        Fails on a non-zero exit status when `check`."""
        status, output = self.run(script, timeout)
        if check and status != 0:
            raise PiError(f"in the guest, exit {status}: {script}\n{output}")
        return output

    def run(self, script: str, timeout: float = 120) -> tuple[int, str]:
        """Run `script` in the guest; (exit status, output). 124: it ran out of time there."""
        ident = next(self._ids)
        encoded = base64.b64encode(script.encode()).decode()
        with self._serial_changed:
            start = self._serial_seen
        _up(self._serial, "the serial console").sendall(
            f"@@C {ident} {timeout:g} {encoded}\n".encode()
        )
        pattern = re.compile(rb"@@R %d (\d+) ([A-Za-z0-9+/=]*)@@" % ident)

        def reply(buf: bytearray):
            return pattern.search(buf, start)

        # The guest's own timeout ends the script; this one covers a guest that is gone.
        match = self._wait_serial(reply, f"the guest to run: {script[:200]}", timeout + 30)
        with self._serial_changed:
            self._serial_seen = match.end()
        return int(match[1]), base64.b64decode(match[2]).decode(errors="replace")

    def put(self, path: str, data: bytes, mode: str = "0644") -> None:
        """Write a file in the guest (through the serial shell: there is no network)."""
        encoded = base64.encodebytes(data).decode()
        self.sh(f"base64 -d > {path} <<'EOF'\n{encoded}EOF\nchmod {mode} {path}", timeout=300)

    def serial_tail(self, lines: int = 40) -> str:
        """The end of the serial console (kernel, systemd), the shell's replies shortened."""
        try:
            text = (self.work / "serial.log").read_bytes()
        except OSError:
            text = bytes(self._serial_buf)
        text = REPLY.sub(lambda m: b"@@R %s %s (%d bytes)" % (m[1], m[2], len(m[3])), text)
        tail = text.decode(errors="replace").replace("\r", "").splitlines()[-lines:]
        return "\n".join(tail)

    # --- internals ------------------------------------------------------------------------

    def _connect(self, name: str, timeout: float) -> socket.socket:
        path = self.work / name
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive(f"connecting to {name}")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(path))
                return sock
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise PiError(f"QEMU did not open {path} within {timeout:.0f} s") from None
                time.sleep(0.1)

    def _check_alive(self, doing: str) -> None:
        if self._qemu is not None and self._qemu.poll() is not None:
            log = (self.work / "qemu.log").read_text(errors="replace")[-2000:]
            raise PiError(
                f"QEMU exited with status {self._qemu.returncode} while {doing}\n{log}\n"
                f"--- serial console ---\n{self.serial_tail()}"
            )

    def _read_serial(self) -> None:
        serial = _up(self._serial, "the serial console")
        while True:
            try:
                data = serial.recv(65536)
            except OSError:
                data = b""
            with self._serial_changed:
                if not data:
                    self._serial_closed = True
                    self._serial_changed.notify_all()
                    return
                self._serial_buf += data
                self._serial_changed.notify_all()

    def _wait_serial(self, probe: Callable[[bytearray], Any], what: str, timeout: float):
        deadline = time.monotonic() + timeout
        with self._serial_changed:
            while True:
                result = probe(self._serial_buf)
                if result:
                    return result
                if self._serial_closed:
                    self._check_alive(f"waiting for {what}")
                    raise PiError(f"the serial console closed while waiting for {what}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PiError(
                        f"timed out after {timeout:.0f} s waiting for {what}\n"
                        f"--- serial console ---\n{self.serial_tail()}"
                    )
                self._serial_changed.wait(min(left, 1.0))
                self._check_alive(f"waiting for {what}")

    def _read_trace(self) -> None:
        with open(self.work / "gpio.trace", "w") as copy:
            for line in _up(_up(self._grep, "grep").stdout, "grep's output"):
                copy.write(line)
                self.leds.feed_line(line)

    def _qmp_command(self, name: str, arguments: dict | None = None) -> Any:
        message = {"execute": name} | ({"arguments": arguments} if arguments else {})
        qmp = _up(self._qmp_file, "the QMP monitor")
        qmp.write(json.dumps(message).encode() + b"\n")
        qmp.flush()
        while True:
            reply = self._qmp_read()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise PiError(f"QMP {name}: {reply['error']}")
            # anything else is an asynchronous event: skip it

    def _qmp_read(self) -> dict:
        _up(self._qmp, "the QMP monitor").settimeout(30)
        line = _up(self._qmp_file, "the QMP monitor").readline()
        if not line:
            raise PiError("QMP: QEMU closed the monitor")
        return json.loads(line)

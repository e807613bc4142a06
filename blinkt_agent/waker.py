"""Wake the service loop from another thread or a signal handler: a self-pipe.

The loop sleeps in select() on one end of a socket pair. `wake()` writes a
byte to the other end: it takes no lock, so the Nomad thread and signal
handlers can call it. For signals, `signal.set_wakeup_fd(waker.signal_fd)`
has the interpreter's C-level handler write the byte itself, because a
Python handler runs only when the main thread gets back to bytecode, and a
select() interrupted by a signal is retried (PEP 475) unless the fd is ready.
"""

from __future__ import annotations

import contextlib
import select
import socket


class Waker:
    def __init__(self) -> None:
        # A socket pair rather than os.pipe(): the ends close themselves when collected.
        self._wait_end, self._wake_end = socket.socketpair()
        self._wait_end.setblocking(False)
        self._wake_end.setblocking(False)

    @property
    def signal_fd(self) -> int:
        """For signal.set_wakeup_fd: the interpreter writes each signal number here."""
        return self._wake_end.fileno()

    def wake(self) -> None:
        # A full buffer holds wake-ups already: the loop will wake.
        with contextlib.suppress(BlockingIOError, InterruptedError):
            self._wake_end.send(b"\0")

    def wait(self, timeout: float | None) -> bool:
        """Sleep until woken or `timeout` seconds (None: forever); True if woken."""
        ready, _, _ = select.select([self._wait_end], [], [], timeout)
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while self._wait_end.recv(4096):
                pass
        return True

    def close(self) -> None:
        self._wait_end.close()
        self._wake_end.close()

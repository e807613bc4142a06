"""systemd notifications (Type=notify): READY, STATUS and WATCHDOG.

Silent outside systemd: sdnotify does nothing when NOTIFY_SOCKET is unset.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Protocol

import sdnotify

from blinkt_agent.outside import one_line

log = logging.getLogger(__name__)


class Notify(Protocol):
    """What sends a notification: sdnotify.SystemdNotifier, or a test's recorder."""

    def notify(self, state: str) -> None: ...


class Utf8Notifier:
    """sdnotify's notifier, sending UTF-8 as sd_notify(3) asks.

    sdnotify 0.3 encodes the message as latin-1 and silently drops one that does not
    fit, so a STATUS with "…" (a cut Nomad error) never reached systemd, and one with
    "é" would arrive as bytes that are not UTF-8. It gets the message as the latin-1
    reading of its UTF-8 bytes, which its encoding turns back into exactly those bytes.
    """

    def __init__(self) -> None:
        self._notifier = sdnotify.SystemdNotifier()

    def notify(self, state: str) -> None:
        self._notifier.notify(state.encode("utf-8", "replace").decode("latin-1"))


def watchdog_interval(environ: Mapping[str, str] = os.environ) -> float | None:
    """Seconds between WATCHDOG=1 pings: a third of WatchdogSec, or None when off."""
    usec = environ.get("WATCHDOG_USEC")
    pid = environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.05, int(usec) / 1e6 / 3)
    except ValueError:
        return None


class Notifier:
    def __init__(
        self,
        notifier: Notify | None = None,
        clock: Callable[[], float] = time.monotonic,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self._notifier = notifier or Utf8Notifier()
        self._clock = clock
        self._status: str | None = None
        self._last_ping = float("-inf")
        self.interval = watchdog_interval(environ)

    def ready(self) -> None:
        self._notifier.notify("READY=1")

    def reloading(self) -> None:
        self._notifier.notify("RELOADING=1")

    def stopping(self) -> None:
        self._notifier.notify("STOPPING=1")

    def status(self, text: str) -> None:
        """Send STATUS= only when it changed (it is also our one log line per state).

        sd_notify's message is newline-separated assignments: a line break from outside
        (a node name, an error body) would end STATUS and could pass for WATCHDOG=1.
        """
        text = one_line(text)
        if text != self._status:
            self._status = text
            self._notifier.notify(f"STATUS={text}")
            log.info("%s", text)

    def watchdog(self) -> None:
        """Ping, at most once per interval; call only after real progress."""
        if self.interval is None:
            return
        now = self._clock()
        if now - self._last_ping >= self.interval:
            self._last_ping = now
            self._notifier.notify("WATCHDOG=1")

    def ping_in(self) -> float | None:
        """Seconds until `watchdog()` would ping again (0: due now); None without a watchdog."""
        if self.interval is None:
            return None
        return max(0.0, self._last_ping + self.interval - self._clock())

"""The service loop: source thread → view → display, with systemd notifications.

The main thread owns the display and the notifier. The source's thread
blocks on the cluster's API and posts Updates/Problems. The main thread sleeps until
something can change what it shows or says: a post from the source, the
moment the view ages (view.next_change), the next watchdog ping, a source
restart, or a signal. It pings the watchdog only while both threads keep
time: a stuck display write stops the main loop, a hung request passes the
source's deadline. A source that ends on an unexpected exception is
logged with its traceback, shown, and restarted with backoff.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from blinkt_agent import config, displays, mapping
from blinkt_agent.backoff import Backoff
from blinkt_agent.displays import Display, open_display, reopen_keys
from blinkt_agent.errors import AgentError, ConfigError, DisplayError
from blinkt_agent.notify import Notifier
from blinkt_agent.snapshot import Problem, SourceFailed, Update
from blinkt_agent.sources import Emit, Source, kind_of
from blinkt_agent.view import Look, View, frame, next_change, status_line
from blinkt_agent.waker import Waker

log = logging.getLogger(__name__)

MIN_SLEEP = 0.001  # a deadline that is already due still yields the CPU
# Linger deadlines are on the wall clock, which can jump (a Pi without an RTC
# setting its clock from NTP): look again at least this often.
MAX_SLEEP = 60.0
DISPLAY_RETRY_MAX = 30.0  # a display that failed mid-run is looked for at least this often


def look_of(settings: config.Settings) -> Look:
    kind = kind_of(settings["source"])
    return Look(
        mode=settings["mode"],
        brightness=settings["brightness"],
        linger=settings["linger"],
        stale_after=settings["stale_after"],
        palette=mapping.Palette.from_hex(settings.palette),
        label=kind.label,
        noun=kind.noun,
    )


def display_of(settings: config.Settings, **overrides: Any) -> Display:
    """The configured display, opened (DisplayError, exit 74, when it cannot be)."""
    return open_display(settings, **overrides)


def source_of(settings: config.Settings, emit: Emit) -> Source:
    """The configured source (its package imported now), ready to run in a thread."""
    return kind_of(settings["source"]).make(settings, emit)


def backoff_cap(settings: config.Settings) -> float:
    """The configured source's backoff_max: how long a failed source waits at most."""
    cap: float = settings[f"{settings['source']}.backoff_max"]
    return cap


def _watch_settings(settings: config.Settings) -> tuple[tuple[str, Any], ...]:
    """The settings that decide what we watch: which node (or the whole cluster) where."""
    sections = kind_of(settings["source"]).sections
    return (
        ("source", settings["source"]),
        ("cluster", settings["mode"] == "nodes"),
        *((k, v) for k, v in settings.values.items() if k == "node" or k.startswith(sections)),
    )


Post = Callable[[Update | Problem | SourceFailed], None]


class Agent:
    """Runs until `stop()` (SIGTERM, SIGINT). `reload()` (SIGHUP) re-reads the settings."""

    def __init__(
        self,
        settings: config.Settings,
        display: Display,
        notifier: Notifier | None = None,
        load_settings: Callable[[], config.Settings] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
        waker: Waker | None = None,
        make_source: Callable[[config.Settings, Post], Source] = source_of,
        open_display: Callable[[config.Settings], Display] = display_of,
    ) -> None:
        self.settings = settings
        self.display = display
        self.notifier = notifier or Notifier()
        self.waker = waker or Waker()
        self._load_settings = load_settings or (lambda: self.settings)
        self._clock = clock
        self._wall_ns = wall_ns
        self._make_source = make_source
        self._open_display = open_display
        # Written by other threads and signal handlers: plain values, no locks.
        self._posted: deque[tuple[int, Update | Problem | SourceFailed]] = deque()
        self._stop_reason: str | None = None
        self._reload_wanted = False
        self._pending: config.Settings | None = None
        # The main thread's own state.
        self._generation = 0
        self._source: Source | None = None
        self._source_started = 0.0
        self._restart_at: float | None = None  # when a failed source is started again
        self._restarts = Backoff(cap=backoff_cap(settings))
        # A hardware display that failed mid-run (a BlinkStick unplugged): opened again then.
        self._display_failed: DisplayError | None = None
        self._reopen_at: float | None = None
        self._reopens = Backoff(cap=DISPLAY_RETRY_MAX)
        self.view = View()
        self.look = look_of(settings)

    # -- requests from other threads and signal handlers: set a value, wake the loop --------

    def stop(self, reason: str = "") -> None:
        """Ask the loop to end (LEDs are the caller's to clear); safe from a signal handler."""
        self._stop_reason = reason
        self.waker.wake()

    def reload(self, settings: config.Settings | None = None) -> None:
        """Ask the loop to re-read the config (or take `settings`); safe from a signal handler."""
        self._pending = settings
        self._reload_wanted = True
        self.waker.wake()

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        try:
            self._loop()
        finally:  # also when the loop ends on an error: the source's thread ends with it
            self.notifier.stopping()
            if self._source is not None:
                self._source.stop()
                self._source = None
        return 0

    def _loop(self) -> None:
        self._start_source()
        self._render()
        self.notifier.ready()
        while self._stop_reason is None:
            if self._reload_wanted:
                self._apply_reload()
            now = self._clock()
            while self._posted:
                generation, event = self._posted.popleft()
                if generation == self._generation:
                    self._absorb(event, now)
            if self._restart_at is not None and now >= self._restart_at:
                self._start_source()
            self._render()
            if self._keeping_time():
                self.notifier.watchdog()
            self.waker.wait(self._sleep_time())
        if self._stop_reason:
            log.info("%s: clearing the LEDs and stopping", self._stop_reason)

    def _sleep_time(self) -> float:
        """Until the next moment something can change without a post or a signal."""
        now = self._clock()
        waits = [MAX_SLEEP]
        aging = next_change(self.view, self.look, now, self._wall_ns())
        if aging is not None:
            waits.append(aging)
        if self._restart_at is not None:
            waits.append(self._restart_at - now)
        if self._reopen_at is not None:
            waits.append(self._reopen_at - now)
        ping_in = self.notifier.ping_in()
        if ping_in is not None:
            # 0: due but not sent, as the source is not keeping time: look again later.
            waits.append(ping_in or self.notifier.interval or MAX_SLEEP)
        return max(MIN_SLEEP, min(waits))

    def _render(self) -> None:
        now, now_ns = self._clock(), self._wall_ns()
        if self._reopen_at is not None and now >= self._reopen_at:
            self._reopen_display(now)
        status = status_line(self.view, self.look, now, now_ns)
        if self._display_failed is not None and self._reopen_at is not None:
            wait = max(0.0, self._reopen_at - now)
            status = f"display: {self._display_failed}, retry in {wait:.0f} s; {status}"
        # STATUS first: the demo shows it as the caption of this very frame.
        self.notifier.status(status)
        if self._display_failed is not None:
            return
        try:
            self.display.show(frame(self.view, self.look, now, now_ns, self.display.shape))
        except DisplayError as err:
            if not displays.kind_of(self.settings["display"]).hardware:
                raise  # a terminal or stdout gone: nobody is left to show anything to
            log.error("%s; opening the display again", err)
            self._lost_display(err, now)

    def close_display(self) -> None:
        """LEDs dark and the device released, unless it failed and is released already
        (then `blinkt-agent clear`, the unit's ExecStopPost, darkens what it can)."""
        if self._display_failed is None:
            displays.close(self.display)

    def _lost_display(self, err: DisplayError, now: float) -> None:
        self._display_failed = err
        self._reopen_at = now + self._reopens.next()
        with contextlib.suppress(Exception):  # the device may be gone: release what we can
            self.display.release()

    def _reopen_display(self, now: float) -> None:
        try:
            self.display = self._open_display(self.settings)
        except DisplayError as err:
            self._lost_display(err, now)
            return
        log.info("display %s is back", self.settings["display"])
        self._display_failed, self._reopen_at = None, None
        self._reopens.reset()

    def _absorb(self, event: Update | Problem | SourceFailed, now: float) -> None:
        if isinstance(event, Update):
            self.view = View(snapshot=event.snapshot)
        elif isinstance(event, Problem):
            self._show_problem(event.error, event.retry_in, now)
        else:
            self._source_failed(event, now)

    def _show_problem(self, error: AgentError, retry_in: float, now: float) -> None:
        # Staleness counts from the first failure since the last answer.
        lost_at = now if self.view.lost_at is None else self.view.lost_at
        self.view = replace(self.view, problem=error, retry_in=retry_in, lost_at=lost_at)

    # -- the source's thread ---------------------------------------------------------------

    def _start_source(self) -> None:
        if self._source is not None:
            # A blocking query cannot be interrupted; the old thread ends after
            # its current request and its late posts are dropped by generation.
            self._source.stop()
            self._source = None
        self._restart_at = None
        self._generation += 1
        generation = self._generation

        def post(event: Update | Problem | SourceFailed) -> None:
            self._posted.append((generation, event))
            self.waker.wake()

        self._source_started = self._clock()
        label = self.look.label
        try:
            self._source = self._make_source(self.settings, post)
        except Exception as exc:
            log.error("cannot start the %s thread", label, exc_info=exc)
            self._source_failed(SourceFailed.of(exc, label), self._source_started)
            return
        threading.Thread(
            target=_watch,
            args=(self._source, post, label),
            name=f"source-{generation}",
            daemon=True,
        ).start()

    def _source_failed(self, error: SourceFailed, now: float) -> None:
        self._source = None
        if now - self._source_started >= self._restarts.cap:
            self._restarts.reset()  # it ran well for a while: this is a new failure, not a loop
        delay = self._restarts.next()
        self._restart_at = now + delay
        self._show_problem(error, delay, now)

    def _keeping_time(self) -> bool:
        if self._restart_at is not None:
            return True  # the source failed and this loop starts it again on time
        return self._source is not None and self._source.healthy()

    # -- reload -----------------------------------------------------------------------------

    def _apply_reload(self) -> None:
        self._reload_wanted = False
        self.notifier.reloading()
        try:
            new, self._pending = self._pending or self._load_settings(), None
            look_of(new)
            kind_of(new["source"]).validate(new)  # credentials: fail here, not in the thread
        except ConfigError as err:
            log.error("reload refused, keeping the running settings: %s", err)
            self.notifier.ready()
            return
        reopen = any(
            new[k] != self.settings[k] for k in {*reopen_keys(new), *reopen_keys(self.settings)}
        )
        if reopen and self._display_failed is None:
            displays.close(self.display)
        if reopen:  # opened by the next render, with the new settings
            self._display_failed = DisplayError(f"display = {new['display']}: opening")
            self._reopen_at = self._clock()
            self._reopens.reset()
        self.look = look_of(new)
        if _watch_settings(new) != _watch_settings(self.settings):
            self.view = View()  # another node or cluster: do not show the old one's data
        self.settings = new
        self._restarts.cap = backoff_cap(new)
        self._start_source()
        log.info("settings reloaded from %s", new.origin)
        self.notifier.ready()


def _watch(source: Source, post: Post, label: str) -> None:
    """The source thread's body: it never ends in silence."""
    try:
        source.run()
    except BaseException as exc:  # anything, even SystemExit from a library: say so, restart
        log.error("the %s thread failed; it will be restarted", label, exc_info=exc)
        post(SourceFailed.of(exc, label))


@contextlib.contextmanager
def signals_for(agent: Agent) -> Iterator[None]:
    """SIGTERM/SIGINT stop `agent`, SIGHUP reloads it: around `agent.run()` in the main thread.

    The handlers only set a value (a lock taken in a handler can deadlock
    with the code it interrupted); set_wakeup_fd wakes the loop's select.
    """

    def on_stop(signum: int, _frame: object) -> None:
        agent.stop(signal.Signals(signum).name)

    def on_reload(_signum: int, _frame: object) -> None:
        agent.reload()

    handlers = {signal.SIGTERM: on_stop, signal.SIGINT: on_stop, signal.SIGHUP: on_reload}
    previous_fd = signal.set_wakeup_fd(agent.waker.signal_fd, warn_on_full_buffer=False)
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)

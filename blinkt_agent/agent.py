"""The service loop: watcher thread → view → display, with systemd notifications.

The main thread owns the display and the notifier. The watcher thread
blocks on Nomad and posts Updates/Problems to a queue. The main thread
pings the watchdog only while both threads keep time: a stuck display
write stops the main loop, a hung request passes the watcher's deadline.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from blinkt_agent import config, mapping
from blinkt_agent.discovery import NomadLocator, SrvQuery
from blinkt_agent.displays import Display, make_display
from blinkt_agent.errors import ConfigError
from blinkt_agent.nomad import TLS, NomadClient
from blinkt_agent.notify import Notifier
from blinkt_agent.view import Look, View, frame, status_line
from blinkt_agent.watcher import Problem, Update, Watcher, WatchOptions

log = logging.getLogger(__name__)

TICK = 0.25  # how often the loop re-renders (linger and staleness depend on time)


def look_of(settings: config.Settings) -> Look:
    return Look(
        mode=settings["mode"],
        brightness=settings["brightness"],
        linger=settings["linger"],
        stale_after=settings["stale_after"],
        palette=mapping.Palette.from_hex(settings.palette),
    )


def display_of(settings: config.Settings, **overrides) -> Display:
    return make_display(
        settings["display"],
        data_pin=settings["blinkt.data_pin"],
        clock_pin=settings["blinkt.clock_pin"],
        **overrides,
    )


def locator_of(settings: config.Settings) -> NomadLocator:
    query = None
    if settings.use_discovery():
        host, port = config.parse_host_port(settings["consul.dns"])
        query = SrvQuery(
            dns_host=host,
            dns_port=port,
            service=settings["consul.service"],
            tag=settings["consul.tag"],
            domain=settings["consul.domain"],
            datacenter=settings["consul.datacenter"],
            scheme=settings["consul.scheme"],
        )
    return NomadLocator(query, settings.static_address(), settings.node_name)


def client_factory(settings: config.Settings) -> Callable[[str], NomadClient]:
    token = settings.token()  # read once per (re)load: a bad token_file is a config error
    if settings["nomad.skip_verify"]:
        log.warning("nomad.skip_verify is set: Nomad's TLS certificate is not checked")
    tls = TLS(
        ca_cert=settings["nomad.ca_cert"],
        client_cert=settings["nomad.client_cert"],
        client_key=settings["nomad.client_key"],
        server_name=settings["nomad.tls_server_name"],
        skip_verify=settings["nomad.skip_verify"],
    )
    return lambda address: NomadClient(address, token=token, tls=tls)


def watcher_of(settings: config.Settings, emit) -> Watcher:
    options = WatchOptions(
        node=settings["node"],
        own_node=settings.node_name,
        wait=settings["nomad.wait"],
        want_node=settings["mode"] != "allocations",
        backoff_max=settings["nomad.backoff_max"],
    )
    return Watcher(options, locator_of(settings), client_factory(settings), emit)


def _watch_settings(settings: config.Settings) -> tuple:
    """The settings that decide which node of which cluster we watch."""
    return tuple(
        (k, v)
        for k, v in settings.values.items()
        if k == "node" or k.startswith(("nomad.", "consul."))
    )


class Agent:
    """Runs until `stop` is set. `reload()` (SIGHUP) re-reads the settings."""

    def __init__(
        self,
        settings: config.Settings,
        display: Display,
        notifier: Notifier | None = None,
        load_settings: Callable[[], config.Settings] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        self.display = display
        self.notifier = notifier or Notifier()
        self._load_settings = load_settings or (lambda: self.settings)
        self._clock = clock
        self._wall_ns = wall_ns
        self._events: queue.Queue = queue.Queue()
        self._reload = threading.Event()
        self._pending: config.Settings | None = None
        self._generation = 0
        self._watcher: Watcher | None = None
        self.view = View()
        self.look = look_of(settings)

    def reload(self, settings: config.Settings | None = None) -> None:
        """Ask the loop to re-read the config (or take `settings`); safe from a signal handler."""
        self._pending = settings
        self._reload.set()

    def _start_watcher(self) -> None:
        if self._watcher is not None:
            # A blocking query cannot be interrupted; the old thread ends after
            # its current request and its late answers are dropped by generation.
            self._watcher.stop.set()
        self._generation += 1
        generation = self._generation
        self._watcher = watcher_of(
            self.settings, lambda event: self._events.put((generation, event))
        )
        threading.Thread(
            target=self._watcher.run, name=f"watcher-{generation}", daemon=True
        ).start()

    def _apply_reload(self) -> None:
        self._reload.clear()
        self.notifier.reloading()
        try:
            new, self._pending = self._pending or self._load_settings(), None
            look_of(new)
            client_factory(new)  # reads token_file: fail here, not in the thread
        except ConfigError as err:
            log.error("reload refused, keeping the running settings: %s", err)
            self.notifier.ready()
            return
        display_keys = ("display", "blinkt.data_pin", "blinkt.clock_pin")
        if any(new[k] != self.settings[k] for k in display_keys):
            self.display.close()
            self.display = display_of(new)
        self.look = look_of(new)
        if _watch_settings(new) != _watch_settings(self.settings):
            self.view = View()  # another node or cluster: do not show the old one's data
        self.settings = new
        self._start_watcher()
        log.info("settings reloaded from %s", new.source)
        self.notifier.ready()

    def run(self, stop: threading.Event) -> int:
        self._start_watcher()
        self._render()
        self.notifier.ready()
        # Wake at least as often as the watchdog wants a ping.
        tick = min(TICK, self.notifier.interval or TICK)
        while not stop.is_set():
            if self._reload.is_set():
                self._apply_reload()
            try:
                generation, event = self._events.get(timeout=tick)
                if generation == self._generation:
                    self._absorb(event)
            except queue.Empty:
                pass
            self._render()
            if self._watcher is not None and self._watcher.healthy():
                self.notifier.watchdog()
        self.notifier.stopping()
        if self._watcher is not None:
            self._watcher.stop.set()
        return 0

    def _absorb(self, event: Update | Problem) -> None:
        if isinstance(event, Update):
            self.view = View(snapshot=event.snapshot, last_ok=self._clock())
        else:
            self.view = replace(self.view, problem=event.error, retry_in=event.retry_in)

    def _render(self) -> None:
        now, now_ns = self._clock(), self._wall_ns()
        # STATUS first: the demo shows it as the caption of this very frame.
        self.notifier.status(status_line(self.view, self.look, now, now_ns))
        self.display.show(frame(self.view, self.look, now, now_ns))

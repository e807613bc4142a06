"""Watch one Nomad node's allocations with blocking queries (runs in its own thread).

The watcher finds the node, then loops on GET /v1/node/:id/allocations with
`index`/`wait`, and hands every answer or failure to `emit` as an Update or
a Problem. The first query, and the first after any error, is not blocking:
its answer ends the Problem at once, even when nothing changed meanwhile.
It publishes a deadline before each step so that the service loop can tell
a long blocking query (fine) from a hung one (stop the watchdog pings).
An unexpected exception ends `run`: the service loop logs, shows it
(WatcherFailed) and starts a new watcher.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from blinkt_agent.backoff import Backoff
from blinkt_agent.discovery import DiscoveryError, NomadLocator
from blinkt_agent.errors import AgentError
from blinkt_agent.nomad import CONNECT_TIMEOUT, READ_SLACK, NomadClient, NomadError, NotFound

log = logging.getLogger(__name__)

# A blocking query that comes back at once with an unchanged index (a buggy
# proxy, an index stuck at 0) must not turn into a busy loop.
MIN_QUERY_INTERVAL = 1.0


@dataclass(frozen=True)
class Snapshot:
    """What Nomad last told us about the node."""

    node_id: str
    node_name: str
    allocations: list[object]
    node: dict[str, object] | None
    address: str
    via: str
    index: int


@dataclass(frozen=True)
class Update:
    snapshot: Snapshot


@dataclass(frozen=True)
class Problem:
    error: AgentError
    retry_in: float


class WatcherFailed(AgentError):
    """The Nomad thread ended on an unexpected exception (a bug); it is restarted."""

    @classmethod
    def of(cls, exc: BaseException) -> WatcherFailed:
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        if len(detail) > 160:
            detail = detail[:159] + "…"
        return cls(f"internal error in the Nomad thread ({detail}); the log has the traceback")


@dataclass
class WatchOptions:
    node: str = ""  # Nomad node name; "" = the Nomad client on this host
    own_node: str = ""  # this host's name (for "" above when discovery lands elsewhere)
    wait: float = 300.0
    want_node: bool = False  # resource modes need the node's capacity
    backoff_max: float = 60.0


class Watcher:
    def __init__(
        self,
        options: WatchOptions,
        locator: NomadLocator,
        client_for: Callable[[str], NomadClient],
        emit: Callable[[Update | Problem], None],
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
    ) -> None:
        self.options = options
        self._locator = locator
        self._client_for = client_for
        self._emit = emit
        self._clock = clock
        self._backoff = backoff or Backoff(cap=options.backoff_max)
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self._client: NomadClient | None = None
        self._node_id: str | None = None
        self._node_name = options.node
        self._node: dict[str, object] | None = None
        self._index = 0  # X-Nomad-Index of the last answer
        self._resync = True  # the next query must answer at once (first one, or after an error)

    # Watchdog support: the service loop asks whether this thread is keeping time.

    def healthy(self) -> bool:
        with self._lock:
            return self._deadline is None or self._clock() <= self._deadline

    def _expect_within(self, seconds: float) -> None:
        with self._lock:
            self._deadline = self._clock() + seconds

    def _step_timeout(self, wait: float = 0.0) -> float:
        # Discovery (a few DNS tries), node lookups, then the query itself.
        return 3 * CONNECT_TIMEOUT + 2 * READ_SLACK + wait * (1 + 1 / 16) + 10

    def run(self) -> None:
        while not self.stop.is_set():
            self._expect_within(self._step_timeout(self.options.wait))
            try:
                started = self._clock()
                if not self._poll() and self._clock() - started < MIN_QUERY_INTERVAL:
                    self._sleep(MIN_QUERY_INTERVAL - (self._clock() - started))
            except (NomadError, DiscoveryError) as err:
                self._handle(err)
        with self._lock:
            self._deadline = None

    def check(self) -> None:
        """One round for `blinkt-agent once`: no backoff, each discovered instance tried once."""
        while True:
            try:
                self._poll()
                return
            except (NomadError, DiscoveryError) as err:
                if _unreachable(err) and self._locator.failed():
                    self._client = None
                    continue
                self._emit(Problem(err, 0.0))
                return

    def _sleep(self, seconds: float) -> None:
        self._expect_within(seconds + 5)
        self.stop.wait(seconds)

    def _poll(self) -> bool:
        """One round: (re)connect if needed, one query. True if the next may go at once."""
        client = self._connect()
        if self._node_id is None:
            self._node_id = self._find_node(client)
            self._node = client.node(self._node_id)
            self._node_name = str(self._node.get("Name") or self._node_name or self._node_id[:8])
            self._resync = True
        # Index 0 answers at once; a real index blocks until it moves or `wait` runs out.
        asked = 0 if self._resync else max(self._index, 1)
        allocations, index = client.node_allocations(self._node_id, asked, self.options.wait)
        if self.stop.is_set():
            return True
        previous = self._index
        if index < previous:
            log.info("Nomad index went back from %d to %d: starting over", previous, index)
        changed = index != previous
        if self.options.want_node and changed and previous:
            self._node = client.node(self._node_id)
        self._index = index
        self._resync = False
        self._backoff.reset()
        self._emit(
            Update(
                Snapshot(
                    node_id=self._node_id,
                    node_name=self._node_name,
                    allocations=allocations,
                    node=self._node,
                    address=client.hostport,
                    via=self._locator.via,
                    index=index,
                )
            )
        )
        return changed or not asked

    def _connect(self) -> NomadClient:
        address = self._locator.address()
        if self._client is None or self._client.address != address.rstrip("/"):
            self._client = self._client_for(address)
        return self._client

    def _find_node(self, client: NomadClient) -> str:
        if self.options.node:
            return client.node_id_by_name(self.options.node)
        instance = self._locator.current()
        if instance is None:  # a static address: the client there is ours by configuration
            return client.local_node_id()
        own = self.options.own_node
        if instance.is_own:
            # Discovery matched this client by address; Nomad itself says whose it is.
            node_id = client.local_node_id()
            name = client.node(node_id).get("Name")
            if isinstance(name, str) and name.lower() == own.lower():
                return node_id
            log.info("the Nomad client at %s is node %s, not %s", client.hostport, name, own)
        # Another Pi's Nomad client, or one discovery cannot place: find ours by name.
        return client.node_id_by_name(own)

    def _handle(self, err: AgentError) -> None:
        self._resync = True  # whatever happened meanwhile, the next answer comes at once
        if isinstance(err, NotFound):
            self._node_id = None  # the node may come back (re-registered): look it up again
        if _unreachable(err):
            self._client = None
            if self._locator.failed():
                log.info("%s; trying the next Nomad instance", err)
                self._emit(Problem(err, 0.0))
                return
        delay = self._backoff.next()
        self._emit(Problem(err, delay))
        self._sleep(delay)


def _unreachable(err: AgentError) -> bool:
    return isinstance(err, NomadError) and err.kind == "unreachable"

"""Watch the whole Nomad cluster (mode "nodes"): every node and every allocation.

Two blocking queries run side by side (sources/follow.py), each with its own client:
GET /v1/nodes (the nodes table: a node joins, goes down, drains) and
GET /v1/allocations?namespace=* (the allocs table: any allocation anywhere changes;
nomad/alloc_endpoint.go List answers that table's index). The merged picture groups the
allocations under their node. As for one node (watcher.py), a server that does not block
(no X-Nomad-Index, 0, or an unchanged index answered early) is asked once a second, and
an index that goes back starts over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from blinkt_agent.errors import SourceError, Unreachable
from blinkt_agent.outside import as_list, dig
from blinkt_agent.snapshot import Node, Problem, Snapshot, Update
from blinkt_agent.sources.follow import Follow, Watch
from blinkt_agent.sources.nomad.client import CONNECT_TIMEOUT, READ_SLACK, NomadClient
from blinkt_agent.sources.nomad.discovery import NomadLocator
from blinkt_agent.sources.nomad.normalise import node_state, workloads_of
from blinkt_agent.sources.nomad.watcher import (
    DISCOVERY_BUDGET,
    MIN_BLOCKING_INTERVAL,
    MIN_QUERY_INTERVAL,
    WatchOptions,
)

log = logging.getLogger(__name__)

Fetch = Callable[[NomadClient, int, float], tuple[list[object], int]]


class NomadList(Watch):
    """One Nomad list, followed with blocking queries."""

    def __init__(
        self,
        name: str,
        fetch: Fetch,
        client: Callable[[NomadClient | None], NomadClient],
        wait: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._fetch = fetch
        self._connect = client
        self._wait = wait
        self._clock = clock
        self.client: NomadClient | None = None
        self.data: list[object] = []
        self._index = 0
        self._resync = True  # the next query answers at once and counts as a change
        self._blocks: bool | None = None
        self._started: float | None = None

    def budget(self) -> float:
        plain = CONNECT_TIMEOUT + READ_SLACK
        return MIN_QUERY_INTERVAL + DISCOVERY_BUDGET + plain + self._wait * (1 + 1 / 16) + 10

    def start_over(self) -> None:
        self._resync = True
        self.client = None
        self._started = None

    def read_once(self) -> None:
        self.client = self._connect(self.client)
        self.data, self._index = self._fetch(self.client, 0, 0.0)

    def step(self, stopped: threading.Event, changed: Callable[[], None]) -> None:
        self._pace(stopped)
        if stopped.is_set():
            return
        self.client = client = self._connect(self.client)
        asked = 0 if self._resync or not self._index else self._index
        started = self._clock()
        data, index = self._fetch(client, asked, self._wait)
        if stopped.is_set():
            return
        took = self._clock() - started
        if index == 0 or (asked and index == asked and took < self._wait / 2):
            if self._blocks is not False:
                log.warning("Nomad %s does not block on the %s: asking once a second",
                            client.hostport, self.name)  # fmt: skip
            self._blocks = False
        elif asked and index > asked and took >= MIN_QUERY_INTERVAL:
            self._blocks = True
        if asked and 0 < index < asked:
            log.info("Nomad's %s index went back from %d to %d: starting over",
                     self.name, asked, index)  # fmt: skip
            index = 0  # the next query answers at once, from the new index
        news = self._resync or data != self.data
        self.data, self._index, self._resync = data, index, False
        if news:
            changed()

    def _pace(self, stopped: threading.Event) -> None:
        """A round no sooner than the server's interval after the previous one."""
        if self._started is not None:
            interval = MIN_QUERY_INTERVAL if self._blocks is False else MIN_BLOCKING_INTERVAL
            left = self._started + interval - self._clock()
            if left > 0:
                stopped.wait(left)
        self._started = self._clock()


class ClusterWatcher(Follow):
    def __init__(
        self,
        options: WatchOptions,
        locator: NomadLocator,
        client_for: Callable[[str], NomadClient],
        emit: Callable[[Update | Problem], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._locator = locator
        self._client_for = client_for
        self._locator_lock = threading.Lock()
        self.nodes = NomadList("node list", lambda c, i, w: c.nodes(i, w), self._client,
                               options.wait, clock)  # fmt: skip
        self.allocations = NomadList(
            "allocations", lambda c, i, w: c.allocations(i, w), self._client, options.wait, clock
        )
        super().__init__(
            (self.allocations, self.nodes),
            self._snapshot,
            emit,
            backoff_max=options.backoff_max,
            failover=self._failover,
            clock=clock,
        )

    def _client(self, current: NomadClient | None) -> NomadClient:
        with self._locator_lock:
            address = self._locator.address()
        if current is not None and current.address == address.rstrip("/"):
            return current
        return self._client_for(address)

    def _failover(self, err: SourceError) -> bool:
        """Unreachable: the next discovered instance, at once, if there is one."""
        if not isinstance(err, Unreachable):
            return False
        with self._locator_lock:
            return self._locator.failed()

    def _snapshot(self) -> Snapshot:
        by_node: dict[str, list[object]] = {}
        for alloc in as_list(self.allocations.data):
            node_id = dig(alloc, "NodeID")
            if isinstance(node_id, str):
                by_node.setdefault(node_id, []).append(alloc)
        nodes = tuple(
            Node(
                name=_name(stub),
                id=str(dig(stub, "ID") or ""),
                state=node_state(stub),
                workloads=workloads_of(by_node.get(str(dig(stub, "ID")), []), with_usage=False),
            )
            for stub in registrations(self.nodes.data)
        )
        client = self.allocations.client or self.nodes.client
        return Snapshot(
            nodes=nodes,
            address=client.hostport if client else "",
            via="" if self._locator.via == "consul" else self._locator.via,
        )


def registrations(stubs: object) -> list[object]:
    """One registration per node name: a re-imaged Pi registers a new ID under its old
    name and the old one stays listed, down, for a day (node GC). The live ones of a name
    if there are any (several live ones, two Pis with one name, are all shown), else the
    newest down one."""
    by_name: dict[str, list[object]] = {}
    for stub in as_list(stubs):
        by_name.setdefault(_name(stub), []).append(stub)
    chosen = []
    for twins in by_name.values():
        live = [s for s in twins if dig(s, "Status") != "down"]
        chosen.extend(live or [max(twins, key=_create_index)])
    return chosen


def _name(stub: object) -> str:
    name, node_id = dig(stub, "Name"), dig(stub, "ID")
    if isinstance(name, str) and name:
        return name
    return node_id[:8] if isinstance(node_id, str) and node_id else "?"


def _create_index(stub: object) -> int:
    index = dig(stub, "CreateIndex")
    return index if isinstance(index, int) and not isinstance(index, bool) else -1

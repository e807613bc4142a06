"""Watch one Nomad node's allocations with blocking queries (runs in its own thread).

The watcher finds the node, then loops on GET /v1/node/:id/allocations with
`index`/`wait`, and hands every answer or failure to `emit` as an Update or
a Problem. The first query, and the first after any error, is not blocking:
its answer ends the Problem at once, even when nothing changed meanwhile.
It publishes a deadline before each step so that the service loop can tell
a long blocking query (fine) from a hung one (stop the watchdog pings).
An unexpected exception ends `run`: the service loop logs, shows it
(SourceFailed) and starts a new watcher.

Which node to show is decided again (`_identify`) every `wait` seconds (so at
every blocking-query timeout), after any error, and when all of the node's
allocations turn lost: a re-imaged Pi registers a new node ID under its old name,
and its own client agent then reports the new ID.

Allocation queries start at most once a second, whatever Nomad answers: a
server (or proxy) that sends no X-Nomad-Index, sends 0, or answers at once
does not block, and is asked once a second instead.

ACLs: a token without read-job in a namespace gets the node's allocations
without that namespace's, in a 200. The node's own client agent counts every
allocation it runs (/v1/agent/self), so when the watcher talks to that client
it counts what was left out (Snapshot.hidden): at each identity check, and on
each answer that moved the index without a visible change, or while some are hidden.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from blinkt_agent.backoff import Backoff
from blinkt_agent.errors import AgentError, NodeUnknown, SourceError, Unreachable
from blinkt_agent.outside import as_list, dig
from blinkt_agent.snapshot import Node, Problem, Snapshot, Update
from blinkt_agent.sources.nomad.client import (
    ACL_POLICY_LINE,
    CONNECT_TIMEOUT,
    READ_JOB_RULE,
    READ_SLACK,
    NomadClient,
    client_node_id,
    hidden_allocations,
)
from blinkt_agent.sources.nomad.discovery import DiscoveryError, NomadLocator
from blinkt_agent.sources.nomad.normalise import node_of

log = logging.getLogger(__name__)

# A server that does not block (no X-Nomad-Index, 0, an index that went back, an
# unchanged index answered before the wait) would turn the watch into a busy loop:
# it gets one allocation query a second. A blocking server answers once per change,
# so the next query starts at once; the floor below only bounds what we misread.
MIN_QUERY_INTERVAL = 1.0
MIN_BLOCKING_INTERVAL = 0.05
# Discovery's budget per round (SrvQuery.lifetime).
DISCOVERY_BUDGET = 8.0
LIVE_ALLOCATION_STATUSES = ("pending", "running", "unknown")


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
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self._client: NomadClient | None = None
        # The node shown, and when to decide again which node that is.
        self._node_id: str | None = None
        self._node_name = options.node
        self._node: dict[str, object] | None = None
        self._identify_at = 0.0
        # /v1/agent/self read in this round, and whether the client is the node's own
        # (only then does its num_allocations count the node's allocations).
        self._agent_self: dict[str, object] | None = None
        self._own_client = False
        self._hidden = 0
        # The last answer: its X-Nomad-Index, which allocations (ID, ModifyIndex), which lost.
        self._index = 0
        self._seen: frozenset[tuple[str, str]] = frozenset()
        self._lost: frozenset[str] = frozenset()
        self._resync = True  # the next query must answer at once (first one, or after an error)
        self._blocks: bool | None = None  # does the server block? None: not known yet
        self._went_back = False  # the index went back since the server last blocked
        self._round_started: float | None = None

    def stop(self) -> None:
        """End run() after the request in flight (a blocking query cannot be interrupted)."""
        self._stopped.set()

    # Watchdog support: the service loop asks whether this thread is keeping time.

    def healthy(self) -> bool:
        with self._lock:
            return self._deadline is None or self._clock() <= self._deadline

    def _expect_within(self, seconds: float) -> None:
        with self._lock:
            self._deadline = self._clock() + seconds

    def _step_timeout(self, wait: float = 0.0) -> float:
        # The pause between rounds, discovery, up to four plain requests (agent/self,
        # the node, the allocations or a node lookup, agent/self again), the query itself.
        plain = CONNECT_TIMEOUT + READ_SLACK
        return MIN_QUERY_INTERVAL + DISCOVERY_BUDGET + 4 * plain + wait * (1 + 1 / 16) + 10

    def run(self) -> None:
        while not self._stopped.is_set():
            self._expect_within(self._step_timeout(self.options.wait))
            try:
                self._pace()
                if self._stopped.is_set():
                    break
                self._poll()
            except (SourceError, DiscoveryError) as err:
                self._handle(err)
        with self._lock:
            self._deadline = None

    def check(self) -> None:
        """One round for `blinkt-agent once`: no backoff, each discovered instance tried once."""
        while True:
            try:
                self._poll()
                return
            except (SourceError, DiscoveryError) as err:
                if _unreachable(err) and self._locator.failed():
                    self._client = None
                    continue
                self._emit(Problem(err, 0.0))
                return

    def _sleep(self, seconds: float) -> None:
        self._expect_within(seconds + 5)
        self._stopped.wait(seconds)

    def _pace(self) -> None:
        """Start a round no sooner than the server's interval after the previous one."""
        if self._round_started is not None:
            wary = self._blocks is False or self._went_back
            interval = MIN_QUERY_INTERVAL if wary else MIN_BLOCKING_INTERVAL
            left = self._round_started + interval - self._clock()
            if left > 0:
                self._sleep(left)
                self._expect_within(self._step_timeout(self.options.wait))
        self._round_started = self._clock()

    def _poll(self) -> None:
        """One round: (re)connect if needed, decide which node if due, one query."""
        client = self._connect()
        self._agent_self = None
        if self._node_id is None or self._clock() >= self._identify_at:
            self._identify(client)
        assert self._node_id is not None
        node_id = self._node_id
        # Index 0 answers at once; a real index blocks until it moves or `wait` runs out.
        resync = self._resync
        asked = 0 if resync or not self._index else self._index
        started = self._clock()
        allocations, index = client.node_allocations(node_id, asked, self.options.wait)
        if self._stopped.is_set():
            return
        self._note_blocking(client, asked, index, self._clock() - started)
        previous = self._index
        if index < previous:
            log.info("Nomad index went back from %d to %d: starting over", previous, index)
        seen = frozenset((str(a.get("ID")), str(a.get("ModifyIndex"))) for a in _dicts(allocations))
        lost = frozenset(str(a.get("ID")) for a in _dicts(allocations) if _status(a) == "lost")
        changed = index != previous or seen != self._seen
        if self.options.want_node and changed and previous:
            self._node = client.node(node_id)
        self._count_hidden(client, allocations, index != previous and seen == self._seen)
        if lost - self._lost and not any(
            _status(a) in LIVE_ALLOCATION_STATUSES for a in _dicts(allocations)
        ):
            # Every allocation it ran is lost: the node went down. Re-imaged, its Pi comes
            # back under a new ID, so decide again which node to show.
            log.info("every allocation of node %s is lost: checking which node to show", node_id)
            self._identify_at = 0.0
        self._index, self._seen, self._lost = index, seen, lost
        self._resync = False
        if not resync:
            self._backoff.reset()  # not on the catch-up answer: it always comes at once
        self._emit(Update(self._snapshot(client, allocations)))

    def _snapshot(self, client: NomadClient, allocations: list[object]) -> Snapshot:
        node_id = self._node_id or ""
        return nomad_snapshot(
            node_of(self._node_name, self._node, allocations, self.options.want_node, node_id),
            client.hostport,
            "" if self._locator.via == "consul" else self._locator.via,
            self._hidden,
        )

    def _note_blocking(self, client: NomadClient, asked: int, index: int, took: float) -> None:
        """Say, once per change, when the server does not block (the pace then rules).

        No index (or 0): nothing to block on, so the next queries ask without one. An
        unchanged index is answered by a blocking server only at its deadline (nomad/rpc.go
        blockingRPC), so one that comes back early means nothing in between blocks.
        """
        blocks = self._blocks
        if index == 0:
            blocks = False
        elif asked and index == asked:
            blocks = took >= self.options.wait / 2
        elif asked and index > asked and took >= MIN_QUERY_INTERVAL:
            blocks = True  # it held the query until something changed
        if asked and 0 < index < asked:
            # Real Nomad does this now and then (a GC'd newest allocation), a round-robin
            # over servers that do not block does it all the time: wary until one blocks.
            self._went_back = True
        elif blocks is True:
            self._went_back = False
        if blocks is False and self._blocks is not False:
            why = "sends no X-Nomad-Index" if index == 0 else "answers blocking queries at once"
            log.warning(
                "Nomad %s %s (a proxy in between?): asking once a second instead of blocking",
                client.hostport,
                why,
            )
        elif blocks is True and self._blocks is False:
            log.info("Nomad %s blocks again: one request per change", client.hostport)
        self._blocks = blocks

    def _count_hidden(
        self, client: NomadClient, allocations: object, invisible_change: bool
    ) -> None:
        """How many of the node's allocations the token cannot read, when the node's own
        client can say: agent/self as read this round, else read again when an answer moved
        the index without a visible change, or while some are hidden (so the count follows)."""
        if not self._own_client:
            self._hidden = 0
            return
        if self._agent_self is None and (invisible_change or self._hidden):
            self._agent_self = client.agent_self()
        if self._agent_self is None:
            return
        hidden = hidden_allocations(self._agent_self, self._node_id or "", allocations)
        if hidden and hidden != self._hidden:
            log.warning(
                "Nomad left %d of node %s's allocations out of its answer: the ACL token lacks "
                "read-job in their namespace; blinkt-agent's policy: %s",
                hidden,
                self._node_name,
                ACL_POLICY_LINE,
            )
        elif self._hidden and not hidden:
            log.info("every allocation of node %s is readable again", self._node_name)
        self._hidden = hidden

    def _connect(self) -> NomadClient:
        address = self._locator.address()
        if self._client is None or self._client.address != address.rstrip("/"):
            self._client = self._client_for(address)
            self._identify_at = 0.0  # another client may be another node's: ask again
        return self._client

    def _identify(self, client: NomadClient) -> None:
        """Decide which node to show; switch to it (and start over) when it changed."""
        node_id, agent_self = self._find_node(client)
        self._identify_at = self._clock() + self.options.wait
        self._agent_self = agent_self
        self._own_client = dig(agent_self, "stats", "client", "node_id") == node_id
        if node_id == self._node_id:
            return
        node = client.node(node_id)
        name = str(node.get("Name") or self.options.node or self.options.own_node or node_id[:8])
        if self._node_id is not None:
            log.info(
                "now showing node %s %s (was %s): re-registered or replaced",
                name,
                node_id[:8],
                self._node_id[:8],
            )
        self._node_id, self._node, self._node_name = node_id, node, name
        self._index, self._seen, self._lost, self._hidden = 0, frozenset(), frozenset(), 0
        self._resync = True

    def _find_node(self, client: NomadClient) -> tuple[str, dict[str, object] | None]:
        """The node to show, and /v1/agent/self when it was read to find it."""
        if self.options.node:
            return client.node_id_by_name(self.options.node), None
        instance = self._locator.current()
        if instance is None:  # a static address: the client there is ours by configuration
            agent_self = client.agent_self()
            return client_node_id(agent_self, client.hostport), agent_self
        own = self.options.own_node
        if instance.is_own:
            # Discovery matched this client by address; Nomad itself says whose it is.
            agent_self = client.agent_self()
            node_id = client_node_id(agent_self, client.hostport)
            if node_id == self._node_id:
                return node_id, agent_self  # its name was checked when it was first shown
            name = client.node(node_id).get("Name")
            if isinstance(name, str) and name.lower() == own.lower():
                return node_id, agent_self
            log.info("the Nomad client at %s is node %s, not %s", client.hostport, name, own)
        # Another Pi's Nomad client, or one discovery cannot place: find ours by name.
        return client.node_id_by_name(own), None

    def _handle(self, err: AgentError) -> None:
        self._resync = True  # whatever happened meanwhile, the next answer comes at once
        self._identify_at = 0.0  # and which node to show is decided again first
        if isinstance(err, NodeUnknown):
            self._node_id = None  # the node may come back (re-registered): look it up again
        if _unreachable(err):
            self._client = None
            if self._locator.failed():
                log.info("%s; trying the next Nomad instance", err)
                self._emit(Problem(err, 0.0))
                self._round_started = None  # another server: no need to pace
                return
        delay = self._backoff.next()
        self._emit(Problem(err, delay))
        self._sleep(delay)


def nomad_snapshot(node: Node, address: str, via: str, hidden: int = 0) -> Snapshot:
    """The node as the Nomad source says it; what hides allocations is always read-job."""
    where = "its namespace" if hidden == 1 else "their namespaces"
    return Snapshot(
        nodes=(node,),
        address=address,
        via=via,
        hidden=hidden,
        hidden_why=f"the ACL token lacks read-job in {where} ({READ_JOB_RULE})" if hidden else "",
        hidden_fix=f"blinkt-agent's policy: {ACL_POLICY_LINE}" if hidden else "",
    )


def _dicts(allocations: object) -> list[dict[str, object]]:
    return [a for a in as_list(allocations) if isinstance(a, dict)]


def _status(allocation: dict[str, object]) -> str:
    status = allocation.get("ClientStatus")
    return status if isinstance(status, str) else ""


def _unreachable(err: AgentError) -> bool:
    return isinstance(err, Unreachable)

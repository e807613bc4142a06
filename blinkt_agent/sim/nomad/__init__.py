"""A simulated Nomad cluster on loopback, built from hashicorp/nomad's code.

    state      the servers' tables and raft index (nodes, allocations, ACLs)
    documents  the JSON Nomad returns (nodes, stubs, allocations, /v1/agent/self)
    acl        ACL policies (HCL), tokens and the checks the endpoints make
    api        one agent's HTTP API: routes, ACLs, blocking queries, gzip, faults
    control    the /_sim/ control API for tests that drive the sim from another process

SimNomad is the cluster: one ServerState, one server agent (`agent`, at host:port) and a
client agent per node that has its own address. A node added without an address is served
by the server agent, which is then also that node's client (like `nomad agent -dev`):
the first such node, or the one added with local=True, is the server agent's own node.
docs/CONFORMANCE.md lists what each part copies from Nomad and the tests that pin it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from blinkt_agent.sim.loopback import StartStop
from blinkt_agent.sim.nomad import control, documents
from blinkt_agent.sim.nomad.acl import policy_from_capabilities
from blinkt_agent.sim.nomad.api import (
    INDEX_HEADERS,
    MAX_BLOCKING_S,
    LoggedRequest,
    NomadAgent,
    parse_duration,
)
from blinkt_agent.sim.nomad.documents import NOMAD_VERSION, RESOURCES_SHAPES
from blinkt_agent.sim.nomad.state import (
    CLIENT_STATUSES,
    DESIRED_STATUSES,
    NODE_GC_THRESHOLD_S,
    ServerState,
    Task,
)

# Shorthand capabilities for acl_tokens (acl.policy_from_capabilities).
ALL_CAPABILITIES = frozenset({"agent:read", "node:read", "namespace:read-job"})

__all__ = [
    "ALL_CAPABILITIES",
    "CLIENT_STATUSES",
    "DESIRED_STATUSES",
    "INDEX_HEADERS",
    "MAX_BLOCKING_S",
    "NOMAD_VERSION",
    "RESOURCES_SHAPES",
    "LoggedRequest",
    "NomadAgent",
    "SimNomad",
    "Task",
    "parse_duration",
]

NodeListener = Callable[[str, str, str, int], None]  # (event, node name, host, port)


class SimNomad(StartStop):
    """The cluster: servers' state, a server agent, and client agents.

    acl_tokens: None = ACLs off; else {secret: capabilities} where capabilities is a set
    of shorthands ("agent:read", "node:read", "namespace:read-job",
    "namespace:<ns>:read-job"), an HCL policy text, or "management". More with
    add_policy()/add_token().
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        acl_tokens: dict[str, Any] | None = None,
        resources_shape: str = "new",
        datacenter: str = "dc1",
        *,
        region: str = "global",
        clock: Callable[[], float] = time.time,
    ):
        if resources_shape not in RESOURCES_SHAPES:
            raise ValueError(f"resources_shape must be one of {RESOURCES_SHAPES}")
        self.store = ServerState(datacenter, region, resources_shape, clock)
        self.host = host
        self.datacenter = datacenter
        self.agent = NomadAgent(self.store, host, port, server=True, control=self._control)
        self._client_agents: dict[str, NomadAgent] = {}  # node ID -> its own client agent
        self._local_id: str | None = None
        self._started = False
        # Called with (event, node name, host, port) on "add"/"remove": SimCluster keeps DNS
        # in step. host/port: the node's client agent.
        self.node_listeners: list[NodeListener] = []
        if acl_tokens is not None:
            self.store.acl.enabled = True
            for secret, grant in acl_tokens.items():
                self._legacy_token(secret, grant)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> SimNomad:
        self.agent.start()
        for agent in self._client_agents.values():
            agent.start()
        self.store.leader_rpc = f"{self.agent.host}:4647"
        self._started = True
        return self

    def stop(self) -> None:
        for agent in self.all_agents():
            agent.stop()
        self._started = False

    def _control(
        self, agent: NomadAgent, method: str, parts: list[str], data: dict[str, Any]
    ) -> control.Result:
        return control.handle(self, agent, method, parts, data)

    # The server agent's address; faults and outages for all of Nomad at once.

    @property
    def url(self) -> str:
        return self.agent.url

    @property
    def address(self) -> str:
        return self.agent.address

    @property
    def port(self) -> int:
        return self.agent.port

    @property
    def request_log(self) -> list[LoggedRequest]:
        """Every agent's requests, in the order they arrived (a new list each time)."""
        logs = [entry for agent in self.all_agents() for entry in agent.request_log]
        return sorted(logs, key=lambda entry: entry.at)

    @property
    def resources_shape(self) -> str:
        return self.store.resources_shape

    @property
    def index(self) -> int:
        with self.store.lock:
            return self.store.index

    @property
    def local_node_id(self) -> str | None:
        return self._local_id

    def fail_next(self, status: int, count: int = 1, body: str = "simulated failure") -> None:
        """Every agent answers its next `count` requests with this error."""
        for agent in self.all_agents():
            agent.fail_next(status, count, body)

    def malformed_next(self, count: int = 1) -> None:
        for agent in self.all_agents():
            agent.malformed_next(count)

    def hang_next(self, seconds: float, count: int = 1) -> None:
        for agent in self.all_agents():
            agent.hang_next(seconds, count)

    @property
    def outage(self) -> bool:
        return self.agent.outage

    def set_outage(self, down: bool, *, seconds: float | None = None) -> None:
        """All of Nomad goes away (every agent's port), or comes back. One agent:
        agent_for(node_id).set_outage()."""
        for agent in self.all_agents():
            agent.set_outage(down, seconds=seconds)

    def set_proxy(self, index_header: str | None = None, blocking: bool | None = None) -> None:
        """Strip/zero X-Nomad-Index or stop blocking, on every agent (see NomadAgent)."""
        for agent in self.all_agents():
            agent.set_proxy(index_header, blocking)

    def reset_index(self, index: int) -> None:
        self.store.reset_index(index)

    # -- agents ---------------------------------------------------------------------------

    def all_agents(self) -> list[NomadAgent]:
        return [self.agent, *self._client_agents.values()]

    def agent_for(self, node_id: str) -> NomadAgent:
        """The agent that is this node's client: its own, else the server agent."""
        return self._client_agents.get(node_id, self.agent)

    # -- nodes ----------------------------------------------------------------------------

    def add_node(
        self,
        name: str,
        *,
        host: str | None = None,
        port: int | None = None,
        local: bool = False,
        name_in_config: bool = False,
        **resources: Any,
    ) -> str:
        """Register a node. With host or port, it gets its own client agent listening
        there (port 0: a free one); else the server agent serves it. name_in_config: the
        agent's config sets `name`, so /v1/agent/self shows it as config.NodeName.
        resources: ServerState.register_node's keywords (cpu, memory_mb, ...)."""
        own = host is not None or port is not None
        agent = self.agent
        if own:
            agent = NomadAgent(self.store, host or self.host, port or 0, control=self._control)
            if self._started:
                agent.start()
        node_id = self.store.register_node(name, agent.address, **resources)
        if own:
            agent.node_id = node_id
            agent.name_in_config = name if name_in_config else ""
            self._client_agents[node_id] = agent
        elif local or self._local_id is None:
            self._local_id = node_id
            self.agent.node_id = node_id
            self.agent.name_in_config = name if name_in_config else ""
        for listener in self.node_listeners:
            listener("add", name, agent.host, agent.port)
        return node_id

    def remove_node(self, node_id: str) -> None:
        """`nomad node purge`: the registration goes; its own agent stops."""
        agent = self.agent_for(node_id)
        node = self.store.deregister_node(node_id)
        if node_id in self._client_agents:
            self._client_agents.pop(node_id).stop()
        for listener in self.node_listeners:
            listener("remove", node.name, agent.host, agent.port)

    def node_id(self, name_or_id: str) -> str:
        """A node's ID from its ID or name (the newest live registration of the name)."""
        return self.store.node_id(name_or_id)

    def node_down(self, node_id: str, *, lost: bool = True) -> None:
        self.store.node_down(node_id, lost=lost)

    def node_up(self, node_id: str) -> None:
        self.store.node_up(node_id)

    def drain(self, node_id: str, enable: bool = True, *, mark_eligible: bool = False) -> None:
        """`nomad node drain -enable` (or -disable [-keep-ineligible unless mark_eligible]):
        Drain and ineligible in the stub, LastDrain "draining" (disabled: "canceled"). The
        allocations stay where they are: move them with update_alloc/add_alloc."""
        self.store.set_drain(node_id, enable, mark_eligible=mark_eligible)

    def drain_complete(self, node_id: str) -> None:
        """The drainer is done: Drain false, still ineligible, LastDrain "complete"."""
        self.store.drain_complete(node_id)

    def set_eligibility(self, node_id: str, eligible: bool) -> None:
        """`nomad node eligibility -enable/-disable`; eligible while draining: ValueError."""
        self.store.set_eligibility(node_id, eligible)

    def reimage(self, node_id: str, *, old_down: bool = True) -> str:
        """The Pi is re-imaged (client data dir wiped): its agent registers a new node ID
        under the same name and serves that one; the old registration goes down.

        old_down False: as it happens in time, the servers notice the old registration's
        missed heartbeats only after its heartbeat TTL (`nomad/heartbeat.go`); until
        node_down(old) both registrations are "ready"."""
        with self.store.lock:
            old = self.store.nodes[node_id]
            keep: dict[str, Any] = {
                "cpu": old.cpu,
                "cores": old.cores,
                "memory_mb": old.memory_mb,
                "disk_mb": old.disk_mb,
                "mbits": old.mbits,
                "reserved_cpu": old.reserved_cpu,
                "reserved_cores": old.reserved_cores,
                "reserved_memory_mb": old.reserved_memory_mb,
                "reserved_disk_mb": old.reserved_disk_mb,
                "datacenter": old.datacenter,
                "node_pool": old.node_pool,
                "node_class": old.node_class,
            }
        if old_down:
            self.store.node_down(node_id)
        new_id = self.store.register_node(old.name, old.http_addr, **keep)
        agent = self.agent_for(node_id)
        agent.node_id = new_id
        if node_id in self._client_agents:
            self._client_agents[new_id] = self._client_agents.pop(node_id)
        if self._local_id == node_id:
            self._local_id = new_id
        return new_id

    def gc_nodes(self, threshold_s: float = NODE_GC_THRESHOLD_S) -> list[str]:
        return [node.id for node in self.store.gc_nodes(threshold_s)]

    # -- allocations ----------------------------------------------------------------------

    def add_alloc(self, node_id: str, job: str, group: str = "web", **kwargs: Any) -> str:
        """Place an allocation (ServerState.add_alloc's keywords: client_status, cpu,
        tasks=[Task(...) or dict], namespace, ports, ...)."""
        return self.store.add_alloc(node_id, job, group, **kwargs)

    def update_alloc(
        self, alloc_id: str, client_status: str | None = None, desired_status: str | None = None
    ) -> None:
        self.store.update_alloc(alloc_id, client_status, desired_status)

    def remove_alloc(self, alloc_id: str) -> None:
        self.store.remove_alloc(alloc_id)

    def add_namespace(self, name: str) -> None:
        """A namespace with no allocations yet (add_alloc creates its own)."""
        self.store.add_namespace(name)

    def alloc_stubs(self, namespace: str = "*") -> list[dict[str, Any]]:
        """GET /v1/allocations?namespace=... as a management token sees it: AllocListStubs
        in creation order ("*": every namespace)."""
        with self.store.lock:
            allocs, _ = self.store.alloc_list(namespace)
            return [documents.alloc_stub(self.store, a) for a in allocs]

    def allocs(self, node_id: str) -> list[dict[str, Any]]:
        """The node's allocations as GET /v1/node/:id/allocations returns them (no ACL)."""
        with self.store.lock:
            allocs, _ = self.store.node_allocs(node_id)
            return [documents.alloc_doc(self.store, a) for a in allocs]

    # -- ACLs -----------------------------------------------------------------------------

    def add_policy(self, name: str, rules: str) -> None:
        """Store an ACL policy (HCL); turns ACLs on."""
        self.store.acl.set_policy(name, rules)

    def add_token(
        self,
        policies: Iterable[str] = (),
        *,
        secret: str | None = None,
        management: bool = False,
        expired: bool = False,
    ) -> str:
        """A token for these policy names; returns its secret. Turns ACLs on."""
        return self.store.acl.add_token(
            tuple(policies), secret=secret, management=management, expired=expired
        )

    def _legacy_token(self, secret: str, grant: Any) -> None:
        if grant == "management":
            self.add_token(secret=secret, management=True)
            return
        rules = grant if isinstance(grant, str) else policy_from_capabilities(frozenset(grant))
        if not rules:
            self.add_token(secret=secret)
            return
        name = f"token-{len(self.store.acl.policies) + 1}"
        self.add_policy(name, rules)
        self.add_token([name], secret=secret)

    # -- the control API's view -----------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self.store.lock:
            nodes = self.store.nodes
            return {
                "index": self.store.index,
                "outage": self.agent.outage,
                "local_node": self._local_id,
                "namespaces": sorted(self.store.namespaces),
                "nodes": [
                    {
                        "id": n.id,
                        "name": n.name,
                        "datacenter": n.datacenter,
                        "status": n.status,
                        "drain": n.drain_strategy is not None,
                        "eligibility": n.eligibility,
                        "address": n.http_addr,
                    }
                    for n in nodes.values()
                ],
                "allocations": [
                    {
                        "id": a.id,
                        "node": nodes[a.node_id].name if a.node_id in nodes else "",
                        "node_id": a.node_id,
                        "name": a.name,
                        "namespace": a.namespace,
                        "job": a.job,
                        "group": a.group,
                        "client_status": a.client_status,
                        "desired_status": a.desired_status,
                    }
                    for a in self.store.allocs.values()
                ],
                "agents": [
                    {
                        "address": agent.address,
                        "node_id": agent.node_id,
                        "server": agent.server,
                        "outage": agent.outage,
                        "requests": len(agent.request_log),
                    }
                    for agent in self.all_agents()
                ],
            }

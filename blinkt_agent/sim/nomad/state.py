"""The Nomad servers' state: tables, raft index, and the writes that change them.

One ServerState backs every simulated agent, the way every Nomad client agent forwards its
reads to the servers. Every write takes the next raft index (`nomad/fsm.go`); each table
keeps the index of its last write (`nomad/state/state_store.go`, the "index" table), and each
object its CreateIndex/ModifyIndex. Readers hold `lock` (or wait on `changed`), so a blocking
query sees a write as one step.

Node life cycle as Nomad runs it:
- register: a new ID in status "initializing" with the event "Node registered"
  (`state_store.go` upsertNodeTxn), then the client's first heartbeat makes it "ready"
  (`node_endpoint.go` UpdateStatus) - two writes.
- missed heartbeats: "down" with the event "Node heartbeat missed" (`heartbeat.go`
  invalidateHeartbeat); the scheduler then stops its allocations as lost
  (`scheduler/reconciler`: ClientStatus "lost", DesiredStatus "stop",
  DesiredDescription "alloc is lost since its node is down").
- heartbeat again: "ready" with "Node reregistered by heartbeat".
- re-imaged Pi (data dir wiped): a new node ID with the same name; the old one stays "down"
  until node GC, which takes down nodes whose status is older than NodeGCThreshold (24 h,
  `nomad/config.go`) and whose allocations are all terminal (`core_sched.go` nodeGC).
- drain (`nomad node drain -enable`): a DrainStrategy, and the node ineligible; when its
  allocations have moved the drainer clears the strategy (LastDrain "complete") and leaves
  the node ineligible; `-disable` cancels it (LastDrain "canceled").
- StatusDescription stays "" (no server code sets it).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from blinkt_agent.sim.nomad.acl import ACLStore

NODE_GC_THRESHOLD_S = 24 * 3600.0
NODE_STATUSES = ("initializing", "ready", "down", "disconnected")
CLIENT_STATUSES = ("pending", "running", "complete", "failed", "lost", "unknown")
DESIRED_STATUSES = ("run", "stop", "evict")
TERMINAL_CLIENT_STATUSES = ("complete", "failed", "lost")
HOOKS = ("prestart", "poststart", "poststop")  # structs.TaskLifecycleHook*
ALLOC_LOST = "alloc is lost since its node is down"  # scheduler/structs/const.go

EVENT_REGISTERED = "Node registered"  # state_store.go NodeRegisterEventRegistered
EVENT_REREGISTERED = "Node re-registered"  # state_store.go NodeRegisterEventReregistered
EVENT_HEARTBEAT_MISSED = "Node heartbeat missed"  # heartbeat.go
EVENT_HEARTBEAT_BACK = "Node reregistered by heartbeat"  # node_endpoint.go
EVENT_DRAIN_SET = "Node drain strategy set"  # node_endpoint.go NodeDrainEventDrainSet
EVENT_DRAIN_UPDATED = "Node drain strategy updated"  # NodeDrainEventDrainUpdated
EVENT_DRAIN_DISABLED = "Node drain disabled"  # NodeDrainEventDrainDisabled
EVENT_DRAIN_COMPLETE = "Node drain complete"  # drainer/drainer.go NodeDrainEventComplete
EVENT_ELIGIBLE = "Node marked as eligible for scheduling"  # node_endpoint.go
EVENT_INELIGIBLE = "Node marked as ineligible for scheduling"  # node_endpoint.go
DRAINING_ELIGIBLE = "can not set node's scheduling eligibility to eligible while it is draining"
DEFAULT_NAMESPACE = "default"  # structs.DefaultNamespace
ALL_NAMESPACES = "*"  # structs.AllNamespacesSentinel


@dataclass
class Task:
    """One task of an allocation, with what the scheduler allocated to it.

    cores: reserved CPU cores (`resources { cores = N }`); the scheduler then sets cpu to
    their bandwidth (`scheduler/feasible/rank.go`). hook/sidecar: the task's lifecycle block;
    hook None is a main task.
    """

    name: str
    cpu: int = 500
    memory_mb: int = 256
    memory_max_mb: int = 0
    mbits: int = 0
    cores: tuple[int, ...] = ()
    hook: str | None = None
    sidecar: bool = False

    def __post_init__(self) -> None:
        if self.hook is not None and self.hook not in HOOKS:
            raise ValueError(f"task {self.name!r}: hook must be one of {HOOKS} or None")
        self.cores = tuple(int(c) for c in self.cores)

    @classmethod
    def of(cls, spec: Task | dict[str, Any]) -> Task:
        return spec if isinstance(spec, Task) else cls(**spec)


@dataclass
class Node:
    id: str
    secret_id: str
    name: str
    datacenter: str
    http_addr: str  # host:port of the client agent's HTTP API
    cpu: int
    cores: int
    memory_mb: int
    disk_mb: int
    mbits: int
    reserved_cpu: int
    reserved_cores: tuple[int, ...]
    reserved_memory_mb: int
    reserved_disk_mb: int
    node_pool: str = "default"
    node_class: str = ""
    status: str = "initializing"
    eligibility: str = "eligible"
    drain_strategy: dict[str, Any] | None = None
    last_drain: dict[str, Any] | None = None
    status_updated_at: int = 0  # unix seconds
    events: list[dict[str, Any]] = field(default_factory=list)
    create_index: int = 0
    modify_index: int = 0

    @property
    def address(self) -> str:
        return self.http_addr.rsplit(":", 1)[0]


@dataclass
class Alloc:
    id: str
    eval_id: str
    node_id: str
    namespace: str
    job: str
    group: str
    slot: int
    tasks: list[Task]
    disk_mb: int
    shared_mbits: int
    ports: dict[str, int]
    client_status: str
    desired_status: str
    create_index: int
    modify_index: int
    alloc_modify_index: int
    create_time: int
    modify_time: int
    desired_description: str = ""
    node_name: str = ""  # Allocation.NodeName, set by the plan applier; stays if the node goes
    client_destroyed: bool = False  # the client garbage-collected its alloc runner

    @property
    def name(self) -> str:
        return f"{self.job}.{self.group}[{self.slot}]"

    @property
    def terminal(self) -> bool:
        return self.client_status in TERMINAL_CLIENT_STATUSES


class ServerState:
    """The servers' tables (nodes, allocations), the raft index and the ACL store."""

    def __init__(
        self,
        datacenter: str = "dc1",
        region: str = "global",
        resources_shape: str = "new",
        clock: Callable[[], float] = time.time,
    ):
        self.datacenter = datacenter
        self.region = region
        self.resources_shape = resources_shape
        self.clock = clock
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.index = 1
        self.tables = {"nodes": 0, "allocs": 0, "namespaces": 0}
        self.nodes: dict[str, Node] = {}
        self.allocs: dict[str, Alloc] = {}
        # The namespaces table: "default" always; a job's namespace exists before its
        # allocations (here: created with the first one), and stays.
        self.namespaces: set[str] = {DEFAULT_NAMESPACE}
        self.acl = ACLStore()  # the ACL tables live in raft too
        self.leader_rpc = "127.0.0.1:4647"  # Status.Leader: the leader's RPC address
        # Bumped by a snapshot restore: every watch set is abandoned (rpc.go blockingRPC).
        self.abandoned = 0
        self._slots: dict[tuple[str, str, str], int] = {}

    # -- raft -----------------------------------------------------------------------------

    def _write(self, table: str) -> int:
        """Apply one raft log entry touching `table`; wakes blocking queries. Lock held."""
        self.index += 1
        self.tables[table] = self.index
        self.changed.notify_all()
        return self.index

    def reset_index(self, index: int) -> None:
        """Restore an older snapshot: indexes move back and every watch is abandoned."""
        with self.changed:
            self.index = index
            self.tables = {t: min(i, index) for t, i in self.tables.items()}
            entries: list[Node | Alloc] = [*self.nodes.values(), *self.allocs.values()]
            for obj in entries:
                obj.create_index = min(obj.create_index, index)
                obj.modify_index = min(obj.modify_index, index)
            for alloc in self.allocs.values():
                alloc.alloc_modify_index = min(alloc.alloc_modify_index, index)
            self.abandoned += 1
            self.changed.notify_all()

    # -- nodes ----------------------------------------------------------------------------

    def _event(self, node: Node, message: str, index: int, subsystem: str = "Cluster") -> None:
        node.events.append(
            {
                "Message": message,
                "Subsystem": subsystem,
                "Details": None,
                "Timestamp": _iso(self.clock()),
                "CreateIndex": index,
            }
        )
        del node.events[:-10]  # structs.MaxRetainedNodeEvents

    def register_node(
        self,
        name: str,
        http_addr: str,
        *,
        cpu: int = 4000,
        cores: int = 4,
        memory_mb: int = 4096,
        disk_mb: int = 30000,
        mbits: int = 1000,
        reserved_cpu: int = 0,
        reserved_cores: Iterable[int] = (),
        reserved_memory_mb: int = 0,
        reserved_disk_mb: int = 0,
        datacenter: str | None = None,
        node_pool: str = "default",
        node_class: str = "",
    ) -> str:
        """A new client registers (status initializing), then heartbeats (ready)."""
        node_id = str(uuid.uuid4())
        with self.changed:
            index = self._write("nodes")
            node = Node(
                id=node_id,
                secret_id=str(uuid.uuid4()),
                name=name,
                datacenter=datacenter or self.datacenter,
                http_addr=http_addr,
                cpu=cpu,
                cores=cores,
                memory_mb=memory_mb,
                disk_mb=disk_mb,
                mbits=mbits,
                reserved_cpu=reserved_cpu,
                reserved_cores=tuple(reserved_cores),
                reserved_memory_mb=reserved_memory_mb,
                reserved_disk_mb=reserved_disk_mb,
                node_pool=node_pool,
                node_class=node_class,
                status_updated_at=int(self.clock()),
                create_index=index,
                modify_index=index,
            )
            self._event(node, EVENT_REGISTERED, index)
            self.nodes[node_id] = node
            self._set_status(node, "ready")
        return node_id

    def _set_status(self, node: Node, status: str, event: str | None = None) -> None:
        index = self._write("nodes")
        node.status = status
        node.status_updated_at = int(self.clock())
        node.modify_index = index
        if event:
            self._event(node, event, index)

    def node_down(self, node_id: str, *, lost: bool = True) -> None:
        """The node missed its heartbeats; with `lost`, the scheduler then stops its
        allocations as lost (a second write, to the allocs table)."""
        with self.changed:
            node = self._node(node_id)
            if node.status != "down":
                self._set_status(node, "down", EVENT_HEARTBEAT_MISSED)
            running = [a for a in self.allocs.values() if a.node_id == node_id and not a.terminal]
            if lost and running:
                index = self._write("allocs")
                for alloc in running:
                    alloc.client_status, alloc.desired_status = "lost", "stop"
                    alloc.desired_description = ALLOC_LOST
                    alloc.modify_index = alloc.alloc_modify_index = index
                    alloc.modify_time = time.time_ns()

    def node_up(self, node_id: str) -> None:
        """A down node heartbeats again (same ID: the client kept its data dir)."""
        with self.changed:
            node = self._node(node_id)
            event = EVENT_HEARTBEAT_BACK if node.status == "down" else None
            if node.status != "ready":
                self._set_status(node, "ready", event)

    def set_drain(self, node_id: str, enable: bool, *, mark_eligible: bool = False) -> None:
        """`nomad node drain -enable/-disable`: Node.UpdateDrain, one raft write even when
        nothing changes (state_store.go updateNodeDrainImpl). A drain makes the node
        ineligible; disabling leaves it so unless mark_eligible. LastDrain: a new one per
        drain ("draining"), "canceled" when disabled; its times are whole seconds."""
        with self.changed:
            node = self._node(node_id)
            was = node.drain_strategy
            now = self.clock()
            index = self._write("nodes")
            if enable:
                started = was["StartedAt"] if was else _iso(now)
                node.drain_strategy = {
                    "DrainSpec": {"Deadline": 3600 * 10**9, "IgnoreSystemJobs": False},
                    "ForceDeadline": _iso(now + 3600),
                    "StartedAt": started,
                }
                node.eligibility = "ineligible"
            else:
                node.drain_strategy = None
                if mark_eligible:
                    node.eligibility = "eligible"
            if enable or was is not None:  # else no drain before or after: events stay
                if was is None:
                    message, status = EVENT_DRAIN_SET, "draining"
                elif enable:
                    message, status = EVENT_DRAIN_UPDATED, "draining"
                else:
                    message, status = EVENT_DRAIN_DISABLED, "canceled"
                self._event(node, message, index, "Drain")
                self._update_last_drain(node, now, status, new=was is None)
            node.status_updated_at = int(now)
            node.modify_index = index

    def drain_complete(self, node_id: str) -> None:
        """The drainer finds the node's allocations migrated: DrainStrategy goes, LastDrain
        says "complete", the node stays ineligible (drainer/watch_nodes.go, NodesDrainComplete
        in drainer_shims.go)."""
        with self.changed:
            node = self._node(node_id)
            if node.drain_strategy is None:
                raise ValueError(f"node {node_id!r} is not draining")
            now = self.clock()
            index = self._write("nodes")
            node.drain_strategy = None
            self._event(node, EVENT_DRAIN_COMPLETE, index, "Drain")
            self._update_last_drain(node, now, "complete", new=False)
            node.status_updated_at = int(now)
            node.modify_index = index

    def _update_last_drain(self, node: Node, now: float, status: str, *, new: bool) -> None:
        at = _iso(int(now))  # time.Unix(updatedAt, 0): whole seconds
        if new or node.last_drain is None:
            node.last_drain = {"StartedAt": at, "AccessorID": "", "Meta": None}
        node.last_drain = {
            "StartedAt": node.last_drain["StartedAt"],
            "UpdatedAt": at,
            "Status": status,
            "AccessorID": node.last_drain["AccessorID"],
            "Meta": node.last_drain["Meta"],
        }

    def set_eligibility(self, node_id: str, eligible: bool) -> None:
        """`nomad node eligibility`: Node.UpdateEligibility. Eligible while draining is an
        error; no change is no write."""
        with self.changed:
            node = self._node(node_id)
            if eligible and node.drain_strategy is not None:
                raise ValueError(DRAINING_ELIGIBLE)
            wanted = "eligible" if eligible else "ineligible"
            if node.eligibility == wanted:
                return
            index = self._write("nodes")
            node.eligibility = wanted
            self._event(node, EVENT_ELIGIBLE if eligible else EVENT_INELIGIBLE, index)
            node.status_updated_at = int(self.clock())
            node.modify_index = index

    def deregister_node(self, node_id: str) -> Node:
        """`nomad node purge`: the node leaves the table at once."""
        with self.changed:
            node = self.nodes.pop(node_id)
            self._write("nodes")
        return node

    def gc_nodes(self, threshold_s: float = NODE_GC_THRESHOLD_S) -> list[Node]:
        """Node GC: down nodes whose status is older than the threshold and whose
        allocations are all terminal are removed (core_sched.go nodeGC)."""
        cutoff = self.clock() - threshold_s
        with self.changed:
            gone = [
                n
                for n in self.nodes.values()
                if n.status == "down"
                and n.status_updated_at <= cutoff
                and all(a.terminal for a in self.allocs.values() if a.node_id == n.id)
            ]
            for node in gone:
                del self.nodes[node.id]
            if gone:
                self._write("nodes")
        return gone

    def _node(self, node_id: str) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise KeyError(f"no node {node_id!r}") from None

    def node_id(self, name_or_id: str) -> str:
        """The node with this ID, else the newest live node with this name."""
        with self.lock:
            if name_or_id in self.nodes:
                return name_or_id
            named = [n for n in self.nodes.values() if n.name == name_or_id]
        if not named:
            raise KeyError(f"no node {name_or_id!r}")
        named.sort(key=lambda n: (n.status != "down", n.create_index))
        return named[-1].id

    # -- allocations ----------------------------------------------------------------------

    def add_namespace(self, name: str) -> None:
        """`nomad namespace apply`: a namespace with no jobs yet (one raft write)."""
        with self.changed:
            self.namespaces.add(name)
            self._write("namespaces")

    def add_alloc(
        self,
        node_id: str,
        job: str,
        group: str = "web",
        *,
        client_status: str = "pending",
        desired_status: str = "run",
        cpu: int = 500,
        memory_mb: int = 256,
        disk_mb: int = 300,
        mbits: int = 0,
        namespace: str = "default",
        tasks: Iterable[Task | dict[str, Any]] | None = None,
        shared_mbits: int = 0,
        ports: dict[str, int] | None = None,
    ) -> str:
        """Place an allocation (a plan applied by the leader). Without `tasks`, one main
        task named after the group with cpu/memory_mb/mbits."""
        check_statuses(client_status, desired_status)
        task_list = (
            [Task.of(t) for t in tasks]
            if tasks is not None
            else [Task(group, cpu=cpu, memory_mb=memory_mb, mbits=mbits)]
        )
        if not task_list:
            raise ValueError("an allocation needs at least one task")
        alloc_id = str(uuid.uuid4())
        now = time.time_ns()
        with self.changed:
            if node_id not in self.nodes:
                raise KeyError(f"no node {node_id!r}")
            key = (namespace, job, group)
            slot = self._slots[key] = self._slots.get(key, -1) + 1
            self.namespaces.add(namespace)
            index = self._write("allocs")
            self.allocs[alloc_id] = Alloc(
                id=alloc_id,
                eval_id=str(uuid.uuid4()),
                node_id=node_id,
                node_name=self.nodes[node_id].name,
                namespace=namespace,
                job=job,
                group=group,
                slot=slot,
                tasks=task_list,
                disk_mb=disk_mb,
                shared_mbits=shared_mbits,
                ports=dict(ports or {}),
                client_status=client_status,
                desired_status=desired_status,
                create_index=index,
                modify_index=index,
                alloc_modify_index=index,
                create_time=now,
                modify_time=now,
            )
        return alloc_id

    def update_alloc(
        self, alloc_id: str, client_status: str | None = None, desired_status: str | None = None
    ) -> None:
        check_statuses(client_status, desired_status)
        with self.changed:
            alloc = self._alloc(alloc_id)
            index = self._write("allocs")
            alloc.modify_index = index
            alloc.modify_time = time.time_ns()
            if client_status:
                alloc.client_status = client_status
            if desired_status:
                # Server-side (scheduler) changes also move AllocModifyIndex; client updates don't.
                alloc.desired_status = desired_status
                alloc.alloc_modify_index = index
                alloc.desired_description = (
                    "alloc is being stopped" if desired_status == "stop" else ""
                )

    def remove_alloc(self, alloc_id: str) -> None:
        """Server GC of the allocation: it disappears from every answer."""
        with self.changed:
            self._alloc(alloc_id)
            del self.allocs[alloc_id]
            self._write("allocs")

    def client_gc_alloc(self, alloc_id: str) -> None:
        """The client destroys its alloc runner (client GC) while the servers still list
        the allocation: num_allocations drops, the API answers do not change."""
        with self.lock:
            self._alloc(alloc_id).client_destroyed = True

    def _alloc(self, alloc_id: str) -> Alloc:
        try:
            return self.allocs[alloc_id]
        except KeyError:
            raise KeyError(f"no allocation {alloc_id!r}") from None

    # -- reads (lock held) ----------------------------------------------------------------

    def node_allocs(self, node_id: str) -> tuple[list[Alloc], int]:
        """Node.GetAllocs: the node's allocations and the highest ModifyIndex among them; an
        empty node answers the allocs table index, never 0 ("prevents blocking"). An
        unknown node ID is not an error: it has no allocations."""
        allocs = [a for a in self.allocs.values() if a.node_id == node_id]
        if allocs:
            return allocs, max(a.modify_index for a in allocs)
        return [], max(self.tables["allocs"], 1)

    def allocs_watch(self, node_id: str) -> tuple[int, tuple[tuple[str, int], ...]]:
        """What Node.GetAllocs's watch set covers: the node's entries in the allocs table."""
        allocs = self.allocs.values()
        return self.abandoned, tuple((a.id, a.modify_index) for a in allocs if a.node_id == node_id)

    def node_read(self, node_id: str) -> tuple[Node | None, int]:
        """Node.GetNode: the node and its ModifyIndex, or None and the nodes table index."""
        node = self.nodes.get(node_id)
        return node, (node.modify_index if node else self.tables["nodes"])

    def node_watch(self, node_id: str) -> tuple[int, int | None]:
        node = self.nodes.get(node_id)
        return self.abandoned, node.modify_index if node else None

    def node_list(self, prefix: str = "") -> tuple[list[Node], int]:
        """Node.List: every node (or those whose ID starts with prefix) in the order of the
        nodes table's "id" index (by ID), and the nodes table index."""
        nodes = sorted((n for n in self.nodes.values() if n.id.startswith(prefix)), key=_by_id)
        return nodes, self.tables["nodes"]

    def nodes_watch(self) -> tuple[int, int]:
        return self.abandoned, self.tables["nodes"]

    def alloc_list(self, namespace: str, reverse: bool = False) -> tuple[list[Alloc], int]:
        """Alloc.List: the allocations of a namespace (ALL_NAMESPACES: all), in the order of
        the allocs table's "create" / "namespace_create" index (CreateIndex, then ID), and
        the allocs table index - whatever the answer holds (alloc_endpoint.go List)."""
        allocs = [a for a in self.allocs.values() if namespace in (ALL_NAMESPACES, a.namespace)]
        allocs.sort(key=lambda a: (a.create_index, a.id), reverse=reverse)
        return allocs, self.tables["allocs"]

    def alloc_list_watch(self, namespace: str) -> tuple[int, object]:
        """What Alloc.List's watch set covers: the iterator's memdb WatchCh.

        All namespaces: the whole "create" index, so any allocation write. One namespace:
        the radix node SeekPrefixWatch stops at for the key prefix `namespace + "\\x00"` -
        its own allocations when it has some; else the allocations of the namespaces that
        share the longest prefix with it, and with no shared first byte the whole index.
        (A write that splits that radix node fires it too; not modelled.)"""
        if namespace == ALL_NAMESPACES:
            return self.abandoned, self.tables["allocs"]
        key = (namespace + "\x00").encode()

        def shared(a: Alloc) -> int:
            return _common_prefix(key, (a.namespace + "\x00").encode())

        longest = max(map(shared, self.allocs.values()), default=0)
        if longest == 0:
            return self.abandoned, self.tables["allocs"]
        watched = sorted(
            (a.id, a.modify_index) for a in self.allocs.values() if shared(a) == longest
        )
        return self.abandoned, tuple(watched)

    def client_num_allocations(self, node_id: str) -> int:
        """client.NumAllocs: the client's alloc runners that are not destroyed, in every
        namespace and whatever their status (client/client.go); ACLs play no part."""
        return sum(
            1 for a in self.allocs.values() if a.node_id == node_id and not a.client_destroyed
        )


def check_statuses(client_status: str | None, desired_status: str | None) -> None:
    if client_status is not None and client_status not in CLIENT_STATUSES:
        raise ValueError(f"client_status must be one of {CLIENT_STATUSES}")
    if desired_status is not None and desired_status not in DESIRED_STATUSES:
        raise ValueError(f"desired_status must be one of {DESIRED_STATUSES}")


def _by_id(node: Node) -> str:
    return node.id


def _common_prefix(a: bytes, b: bytes) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")

"""Simulated Nomad HTTP API on loopback, faithful enough to test a real client against.

Endpoints (GET only, like the Nomad agent): /v1/agent/self, /v1/status/leader, /v1/nodes,
/v1/node/:id, /v1/node/:id/allocations. JSON bodies, X-Nomad-Index/KnownLeader/LastContact
headers, blocking queries (?index=&wait=), ACL tokens from the X-Nomad-Token header, errors as
plain text with Nomad's messages ("node not found", "Permission denied", "Invalid method", ...).

Index semantics follow Nomad's state store: every mutation takes the next raft index; the
nodes list reports the nodes table index, a node its ModifyIndex, and a node's allocations the
highest ModifyIndex among them (the allocs table index when it has none). Like real Nomad
(Node.GetAllocs), garbage-collecting one alloc while others remain on the node does not raise
that index, so a blocking query on the node only sees the removal at its next wake-up.

Control API on the same port, for tests driving the sim from another process (JSON in/out):
    GET    /_sim/state                 nodes, allocations, index, outage
    POST   /_sim/nodes                 {"name": "pi-02", "cpu": 4000, ...add_node kwargs} -> {"id"}
    DELETE /_sim/nodes/<id>
    POST   /_sim/allocations           {"node": NAME or ID, "job": "web", "group": "web",
                                        "client_status": ..., "desired_status": ..., ...} -> {"id"}
    POST   /_sim/allocations/<id>      {"client_status": ..., "desired_status": ...}
    DELETE /_sim/allocations/<id>      garbage-collect it
    POST   /_sim/outage                {"down": true, "seconds": 5}  (the port itself goes away,
                                        so an outage requested over HTTP must say when it ends)
    POST   /_sim/fail                  {"status": 500, "count": 1, "body": "..."}
    POST   /_sim/malformed             {"count": 1}
    POST   /_sim/hang                  {"seconds": 3, "count": 1}
    POST   /_sim/reset_index           {"index": 5}
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from blinkt_agent.sim.loopback import LoopbackServer

NOMAD_VERSION = "1.7.7"
DEFAULT_WAIT_S = 300.0  # Nomad's default when ?index is given without ?wait
MAX_WAIT_S = 600.0
ALL_CAPABILITIES = frozenset({"agent:read", "node:read", "namespace:read-job"})
RESOURCES_SHAPES = ("new", "old", "both")
CLIENT_STATUSES = ("pending", "running", "complete", "failed", "lost", "unknown")
DESIRED_STATUSES = ("run", "stop", "evict")

_CLIENT_DESCRIPTIONS = {
    "pending": "No tasks have started",
    "running": "Tasks are running",
    "complete": "All tasks have completed",
    "failed": "Failed tasks",
    "lost": "alloc is lost since its node is down",
    "unknown": "alloc is unknown since its node is disconnected",
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_FILTER = re.compile(r'^\s*([A-Za-z]+)\s*(==|!=)\s*"([^"\\]*)"\s*$')
_STUB_STRING_FIELDS = frozenset(
    {
        "ID",
        "Name",
        "Address",
        "Datacenter",
        "NodeClass",
        "NodePool",
        "Version",
        "SchedulingEligibility",
        "Status",
        "StatusDescription",
    }
)


class LoggedRequest(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    headers: Any  # http.client.HTTPMessage: a case-insensitive mapping


class _Route(NamedTuple):
    capability: str | None  # ACL capability the endpoint needs
    index_of: Callable[[], int] | None  # the endpoint's X-Nomad-Index; None: not blocking
    render: Callable[[frozenset[str] | None], Any]  # the JSON body, given the token's caps


class _Reject(Exception):
    """Answer the request with a plain-text error, the way Nomad's HTTP layer does."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Node:
    id: str
    name: str
    datacenter: str
    cpu: int
    memory_mb: int
    disk_mb: int
    mbits: int
    reserved_cpu: int
    reserved_memory_mb: int
    reserved_disk_mb: int
    create_index: int
    modify_index: int
    registered_at: float = field(default_factory=time.time)


@dataclass
class _Alloc:
    id: str
    eval_id: str
    node_id: str
    namespace: str
    job: str
    group: str
    slot: int
    client_status: str
    desired_status: str
    cpu: int
    memory_mb: int
    disk_mb: int
    mbits: int
    create_index: int
    modify_index: int
    alloc_modify_index: int
    create_time: int
    modify_time: int


def parse_duration(text: str) -> float:
    """Seconds from a Go duration ("5m", "1m30s", "250ms"); Go requires a unit except for 0."""
    sign, body = (-1.0, text[1:]) if text.startswith("-") else (1.0, text.lstrip("+"))
    if body == "0":
        return 0.0
    parts = _DURATION_PART.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"invalid duration {text!r}")
    return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class SimNomad(LoopbackServer):
    """One Nomad agent (server + client) with a scriptable cluster state behind it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        acl_tokens: dict[str, set[str]] | None = None,
        resources_shape: str = "new",
        datacenter: str = "dc1",
    ):
        if resources_shape not in RESOURCES_SHAPES:
            raise ValueError(f"resources_shape must be one of {RESOURCES_SHAPES}")
        self.host = host
        self._port = port
        self.acl_tokens = acl_tokens
        self.resources_shape = resources_shape
        self.datacenter = datacenter
        self.request_log: list[LoggedRequest] = []
        # Called with (event, node_name) on "add"/"remove"; SimCluster keeps DNS in step.
        self.node_listeners: list[Any] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._index = 1
        self._tables = {"nodes": 0, "allocs": 0}
        self._nodes: dict[str, _Node] = {}
        self._allocs: dict[str, _Alloc] = {}
        self._slots: dict[tuple[str, str, str], int] = {}
        self._local_id: str | None = None
        self._faults: deque[tuple[str, Any, Any]] = deque()
        self._outage = False
        self._outage_timer: threading.Timer | None = None
        self._closing = threading.Event()
        self._server: _Server | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> SimNomad:
        self._closing.clear()
        self._serve()
        return self

    def stop(self) -> None:
        self._closing.set()
        with self._changed:
            self._changed.notify_all()
        if self._outage_timer:
            self._outage_timer.cancel()
        self._unserve()

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def _serve(self) -> None:
        server = _Server((self.host, self._port), _Handler, self)
        self._port = server.server_address[1]
        self._server = server
        threading.Thread(
            target=server.serve_forever, args=(0.05,), name="sim-nomad", daemon=True
        ).start()

    def _unserve(self) -> None:
        server, self._server = self._server, None
        if server:
            server.shutdown()
            server.server_close()
            server.drop_connections()

    # -- cluster state --------------------------------------------------------------------

    def _bump(self, table: str) -> int:
        """Take the next raft index for a write to `table`; wakes blocking queries. Lock held."""
        self._index += 1
        self._tables[table] = self._index
        self._changed.notify_all()
        return self._index

    @property
    def index(self) -> int:
        with self._lock:
            return self._index

    @property
    def local_node_id(self) -> str | None:
        return self._local_id

    def reset_index(self, index: int) -> None:
        """Move the raft index back, as after a server restored an older snapshot."""
        with self._changed:
            self._index = index
            self._tables = {t: min(i, index) for t, i in self._tables.items()}
            for obj in [*self._nodes.values(), *self._allocs.values()]:
                obj.create_index = min(obj.create_index, index)
                obj.modify_index = min(obj.modify_index, index)
            for alloc in self._allocs.values():
                alloc.alloc_modify_index = min(alloc.alloc_modify_index, index)
            self._changed.notify_all()

    def add_node(
        self,
        name: str,
        *,
        cpu: int = 4000,
        memory_mb: int = 4096,
        disk_mb: int = 30000,
        mbits: int = 1000,
        reserved_cpu: int = 0,
        reserved_memory_mb: int = 0,
        reserved_disk_mb: int = 0,
        datacenter: str | None = None,
        local: bool = False,
    ) -> str:
        node_id = str(uuid.uuid4())
        with self._changed:
            index = self._bump("nodes")
            self._nodes[node_id] = _Node(
                id=node_id,
                name=name,
                datacenter=datacenter or self.datacenter,
                cpu=cpu,
                memory_mb=memory_mb,
                disk_mb=disk_mb,
                mbits=mbits,
                reserved_cpu=reserved_cpu,
                reserved_memory_mb=reserved_memory_mb,
                reserved_disk_mb=reserved_disk_mb,
                create_index=index,
                modify_index=index,
            )
            if local or self._local_id is None:
                self._local_id = node_id
        for listener in self.node_listeners:
            listener("add", name)
        return node_id

    def remove_node(self, node_id: str) -> None:
        with self._changed:
            node = self._nodes.pop(node_id)
            self._bump("nodes")
        for listener in self.node_listeners:
            listener("remove", node.name)

    def node_id(self, name_or_id: str) -> str:
        with self._lock:
            for node in self._nodes.values():
                if name_or_id in (node.id, node.name):
                    return node.id
        raise KeyError(f"no node {name_or_id!r}")

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
    ) -> str:
        _check_statuses(client_status, desired_status)
        alloc_id = str(uuid.uuid4())
        now = time.time_ns()
        with self._changed:
            if node_id not in self._nodes:
                raise KeyError(f"no node {node_id!r}")
            key = (namespace, job, group)
            slot = self._slots[key] = self._slots.get(key, -1) + 1
            index = self._bump("allocs")
            self._allocs[alloc_id] = _Alloc(
                id=alloc_id,
                eval_id=str(uuid.uuid4()),
                node_id=node_id,
                namespace=namespace,
                job=job,
                group=group,
                slot=slot,
                client_status=client_status,
                desired_status=desired_status,
                cpu=cpu,
                memory_mb=memory_mb,
                disk_mb=disk_mb,
                mbits=mbits,
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
        _check_statuses(client_status, desired_status)
        with self._changed:
            alloc = self._allocs[alloc_id]
            index = self._bump("allocs")
            alloc.modify_index = index
            alloc.modify_time = time.time_ns()
            if client_status:
                alloc.client_status = client_status
            if desired_status:
                # Server-side (scheduler) changes also move AllocModifyIndex; client updates don't.
                alloc.desired_status = desired_status
                alloc.alloc_modify_index = index

    def remove_alloc(self, alloc_id: str) -> None:
        """Garbage-collect the allocation: it disappears from every answer."""
        with self._changed:
            del self._allocs[alloc_id]
            self._bump("allocs")

    def allocs(self, node_id: str) -> list[dict]:
        """The node's allocations as GET /v1/node/:id/allocations returns them."""
        with self._lock:
            return [self._alloc_json(a) for a in self._allocs.values() if a.node_id == node_id]

    def state(self) -> dict:
        with self._lock:
            names = {n.id: n.name for n in self._nodes.values()}
            return {
                "index": self._index,
                "outage": self._outage,
                "local_node": self._local_id,
                "nodes": [
                    {"id": n.id, "name": n.name, "datacenter": n.datacenter}
                    for n in self._nodes.values()
                ],
                "allocations": [
                    {
                        "id": a.id,
                        "node": names.get(a.node_id, ""),
                        "name": f"{a.job}.{a.group}[{a.slot}]",
                        "namespace": a.namespace,
                        "job": a.job,
                        "group": a.group,
                        "client_status": a.client_status,
                        "desired_status": a.desired_status,
                    }
                    for a in self._allocs.values()
                ],
            }

    # -- fault injection ------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, body: str = "simulated failure") -> None:
        with self._lock:
            self._faults.extend([("fail", status, body)] * count)

    def malformed_next(self, count: int = 1) -> None:
        with self._lock:
            self._faults.extend([("malformed", None, None)] * count)

    def hang_next(self, seconds: float, count: int = 1) -> None:
        with self._lock:
            self._faults.extend([("hang", seconds, None)] * count)

    def _take_fault(self) -> tuple[str, Any, Any] | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    @property
    def outage(self) -> bool:
        return self._outage

    def set_outage(self, down: bool, *, seconds: float | None = None) -> None:
        """Down: the port refuses connections and open ones are cut. Up: the same port again."""
        if self._outage_timer:
            self._outage_timer.cancel()
            self._outage_timer = None
        with self._changed:
            changed, self._outage = self._outage != down, down
            self._changed.notify_all()
        if changed and down:
            self._unserve()
        elif changed and not self._closing.is_set():
            self._serve()
        if down and seconds is not None:
            self._outage_timer = threading.Timer(seconds, self.set_outage, (False,))
            self._outage_timer.daemon = True
            self._outage_timer.start()

    # -- rendering (lock held) ------------------------------------------------------------

    def _node_json(self, node: _Node) -> dict:
        doc = {
            **self._node_stub(node, resources=False),
            "HTTPAddr": self.address,
            "TLSEnabled": False,
            "Attributes": {
                "unique.hostname": node.name,
                "nomad.version": NOMAD_VERSION,
                "kernel.name": "linux",
                "cpu.arch": "arm64",
                "cpu.numcores": "4",
                "cpu.totalcompute": str(node.cpu),
                "memory.totalbytes": str(node.memory_mb * 1024 * 1024),
                "unique.network.ip-address": self.host,
            },
            "Meta": {},
            "DrainStrategy": None,
            "StatusUpdatedAt": int(node.registered_at),
            "Events": [
                {
                    "Message": "Node registered",
                    "Subsystem": "Cluster",
                    "Details": None,
                    "Timestamp": _iso(node.registered_at),
                    "CreateIndex": node.create_index,
                }
            ],
            **self._node_resources(node),
        }
        if self.resources_shape != "new":
            doc["Resources"] = {
                "CPU": node.cpu,
                "MemoryMB": node.memory_mb,
                "DiskMB": node.disk_mb,
                "Networks": [
                    {
                        "Device": "eth0",
                        "CIDR": f"{self.host}/32",
                        "IP": self.host,
                        "MBits": node.mbits,
                    }
                ],
            }
            doc["Reserved"] = {
                "CPU": node.reserved_cpu,
                "MemoryMB": node.reserved_memory_mb,
                "DiskMB": node.reserved_disk_mb,
                "Networks": None,
            }
        return doc

    def _node_resources(self, node: _Node) -> dict:
        return {
            "NodeResources": {
                "Cpu": {
                    "CpuShares": node.cpu,
                    "TotalCpuCores": 4,
                    "ReservableCpuCores": [0, 1, 2, 3],
                },
                "Memory": {"MemoryMB": node.memory_mb},
                "Disk": {"DiskMB": node.disk_mb},
                "Networks": [
                    {
                        "Mode": "host",
                        "Device": "eth0",
                        "CIDR": f"{self.host}/32",
                        "IP": self.host,
                        "MBits": node.mbits,
                        "DynamicPorts": None,
                        "ReservedPorts": None,
                    }
                ],
                "MinDynamicPort": 20000,
                "MaxDynamicPort": 32000,
            },
            "ReservedResources": {
                "Cpu": {"CpuShares": node.reserved_cpu},
                "Memory": {"MemoryMB": node.reserved_memory_mb},
                "Disk": {"DiskMB": node.reserved_disk_mb},
                "Networks": {"ReservedHostPorts": ""},
            },
        }

    def _node_stub(self, node: _Node, resources: bool) -> dict:
        stub = {
            "ID": node.id,
            "Name": node.name,
            "Address": self.host,
            "Datacenter": node.datacenter,
            "NodeClass": "",
            "NodePool": "default",
            "Version": NOMAD_VERSION,
            "Drain": False,
            "SchedulingEligibility": "eligible",
            "Status": "ready",
            "StatusDescription": "",
            "Drivers": {"docker": {"Detected": True, "Healthy": True, "Attributes": None}},
            "LastDrain": None,
            "CreateIndex": node.create_index,
            "ModifyIndex": node.modify_index,
        }
        if resources:
            stub.update(self._node_resources(node))
        return stub

    def _alloc_json(self, a: _Alloc) -> dict:
        node = self._nodes.get(a.node_id)
        doc = {
            "ID": a.id,
            "EvalID": a.eval_id,
            "Name": f"{a.job}.{a.group}[{a.slot}]",
            "Namespace": a.namespace,
            "NodeID": a.node_id,
            "NodeName": node.name if node else "",
            "JobID": a.job,
            "Job": _job_json(a),
            "TaskGroup": a.group,
            "DesiredStatus": a.desired_status,
            "DesiredDescription": "alloc is being stopped" if a.desired_status == "stop" else "",
            "DesiredTransition": {"Migrate": None, "Reschedule": None, "ForceReschedule": None},
            "ClientStatus": a.client_status,
            "ClientDescription": _CLIENT_DESCRIPTIONS[a.client_status],
            "TaskStates": {a.group: _task_state(a)},
            "DeploymentStatus": None,
            "FollowupEvalID": "",
            "PreviousAllocation": "",
            "NextAllocation": "",
            "RescheduleTracker": None,
            "CreateIndex": a.create_index,
            "ModifyIndex": a.modify_index,
            "AllocModifyIndex": a.alloc_modify_index,
            "CreateTime": a.create_time,
            "ModifyTime": a.modify_time,
        }
        network = {
            "Mode": "host",
            "Device": "eth0",
            "CIDR": f"{self.host}/32",
            "IP": self.host,
            "MBits": a.mbits,
            "DynamicPorts": None,
            "ReservedPorts": None,
        }
        if self.resources_shape != "old":
            doc["AllocatedResources"] = {
                "Tasks": {
                    a.group: {
                        "Cpu": {"CpuShares": a.cpu, "ReservedCores": None},
                        "Memory": {"MemoryMB": a.memory_mb, "MemoryMaxMB": 0},
                        # Nomad leaves task networks null unless the task asked for bandwidth.
                        "Networks": [network] if a.mbits else None,
                        "Devices": None,
                    }
                },
                "Shared": {"DiskMB": a.disk_mb, "Networks": None, "Ports": None},
            }
        if self.resources_shape != "new":
            task = {
                "CPU": a.cpu,
                "MemoryMB": a.memory_mb,
                "DiskMB": 0,
                "Networks": [network] if a.mbits else None,
            }
            doc["Resources"] = {**task, "DiskMB": a.disk_mb}
            doc["TaskResources"] = {a.group: task}
            doc["SharedResources"] = {
                "CPU": 0,
                "MemoryMB": 0,
                "DiskMB": a.disk_mb,
                "Networks": None,
            }
        return doc


def _check_statuses(client_status: str | None, desired_status: str | None) -> None:
    if client_status is not None and client_status not in CLIENT_STATUSES:
        raise ValueError(f"client_status must be one of {CLIENT_STATUSES}")
    if desired_status is not None and desired_status not in DESIRED_STATUSES:
        raise ValueError(f"desired_status must be one of {DESIRED_STATUSES}")


def _job_json(a: _Alloc) -> dict:
    return {
        "ID": a.job,
        "Name": a.job,
        "Namespace": a.namespace,
        "Region": "global",
        "Type": "service",
        "Priority": 50,
        "Datacenters": ["*"],
        "Status": "running",
        "Stop": False,
        "TaskGroups": [
            {"Name": a.group, "Count": 1, "Tasks": [{"Name": a.group, "Driver": "docker"}]}
        ],
        "CreateIndex": a.create_index,
        "ModifyIndex": a.create_index,
        "JobModifyIndex": a.create_index,
    }


def _task_state(a: _Alloc) -> dict:
    """TaskStates entry telling the same story as the alloc's client status."""
    created, modified = a.create_time, a.modify_time
    events = [_event("Received", "Task received by client", created)]
    started = finished = "0001-01-01T00:00:00Z"
    state, failed = "pending", False
    if a.client_status in ("running", "complete", "failed", "lost", "unknown"):
        events.append(_event("Task Setup", "Building Task Directory", created))
        events.append(_event("Started", "Task started by client", created))
        started, state = _iso(created / 1e9), "running"
    if a.client_status in ("complete", "failed", "lost"):
        code = 1 if a.client_status == "failed" else 0
        events.append(_event("Terminated", f"Exit Code: {code}", modified))
        if a.client_status == "failed":
            events.append(
                _event("Not Restarting", "Exceeded allowed attempts 2 in interval", modified)
            )
        finished, state, failed = _iso(modified / 1e9), "dead", a.client_status == "failed"
    return {
        "State": state,
        "Failed": failed,
        "Restarts": 0,
        "LastRestart": "0001-01-01T00:00:00Z",
        "StartedAt": started,
        "FinishedAt": finished,
        "Events": events,
    }


def _event(kind: str, message: str, at_ns: int) -> dict:
    return {"Type": kind, "Time": at_ns, "DisplayMessage": message, "Details": {}, "ExitCode": 0}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # hung handlers must not hold up stop() or an outage

    def __init__(self, address: tuple[str, int], handler: type, sim: SimNomad):
        self.sim = sim
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address):  # type: ignore[override]
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):  # type: ignore[override]
        # Connections cut by an outage or by the client are expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        """Cut open (keep-alive or blocked) connections, as a dying Nomad process would."""
        with self.connections_lock:
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Go's net/http
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Go's net package sets TCP_NODELAY on every connection; without it the
        # header and body writes meet the client's delayed ACK (+40 ms per answer).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests and the demo read request_log instead."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def _dispatch(self) -> None:
        sim = self.server.sim
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            if url.path.startswith("/_sim/"):
                self._control(sim, url.path, self._read_json())
                return
            sim.request_log.append(LoggedRequest(self.command, url.path, query, self.headers))
            fault = sim._take_fault()
            if fault and fault[0] == "hang":
                sim._closing.wait(fault[1])
            if sim.outage or sim._closing.is_set():
                self.close_connection = True
                return
            if fault and fault[0] == "fail":
                raise _Reject(fault[1], fault[2])
            self._api(sim, url.path, query, malformed=bool(fault and fault[0] == "malformed"))
        except _Reject as err:
            self._send(err.status, err.message.encode(), "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- Nomad API ------------------------------------------------------------------------

    def _api(self, sim: SimNomad, path: str, query: dict[str, str], malformed: bool) -> None:
        route = self._route(sim, path, query)
        if self.command != "GET":
            raise _Reject(405, "Invalid method")
        min_index, wait = _blocking_params(query)
        caps = self._authorize(sim, route.capability)
        headers = {}
        with sim._changed:
            if route.index_of and min_index:
                _block(sim, lambda: route.index_of() > min_index, wait)
            if sim.outage or sim._closing.is_set():
                self.close_connection = True
                return
            body = json.dumps(route.render(caps)).encode()
            if route.index_of:
                headers = {
                    "X-Nomad-Index": str(max(route.index_of(), 1)),
                    "X-Nomad-KnownLeader": "true",
                    "X-Nomad-LastContact": "0",
                }
        if malformed:
            body = body[: len(body) // 2]
        self._send(200, body, "application/json", headers)

    def _route(self, sim: SimNomad, path: str, query: dict[str, str]) -> _Route:
        parts = path.strip("/").split("/")
        node_id = parts[2] if len(parts) > 2 else ""
        if path == "/v1/agent/self":
            return _Route("agent:read", None, lambda caps: self._agent_self(sim))
        if path == "/v1/status/leader":
            return _Route(None, None, lambda caps: f"{sim.host}:4647")
        if path == "/v1/nodes":
            return _Route(
                "node:read", lambda: sim._tables["nodes"], lambda caps: self._nodes(sim, query)
            )
        if len(parts) == 3 and parts[:2] == ["v1", "node"]:
            return _Route(
                "node:read",
                lambda: _node_index(sim, node_id),
                lambda caps: self._node(sim, node_id),
            )
        if len(parts) == 4 and parts[:2] == ["v1", "node"] and parts[3] == "allocations":
            return _Route(
                "node:read",
                lambda: _allocs_index(sim, node_id),
                lambda caps: _node_allocs(sim, node_id, caps),
            )
        raise _Reject(404, "404 page not found\n")  # Go's ServeMux answer

    def _authorize(self, sim: SimNomad, capability: str | None) -> frozenset[str] | None:
        """The token's capabilities; None when ACLs are off. 403 like Nomad otherwise."""
        if sim.acl_tokens is None:
            return None
        secret = self.headers.get("X-Nomad-Token")
        if secret and secret not in sim.acl_tokens:
            raise _Reject(403, "ACL token not found")
        caps = frozenset(sim.acl_tokens.get(secret or "", ()))
        if capability and capability not in caps:
            raise _Reject(403, "Permission denied")
        return caps

    def _agent_self(self, sim: SimNomad) -> dict:
        node = sim._nodes.get(sim._local_id or "")
        name = node.name if node else socket.gethostname()
        stats: dict[str, Any] = {
            "nomad": {"server": "true", "leader": "true", "known_regions": "1"},
        }
        if sim._local_id:
            allocs = sum(1 for a in sim._allocs.values() if a.node_id == sim._local_id)
            stats["client"] = {
                "node_id": sim._local_id,
                "known_servers": f"{sim.host}:4647",
                "num_allocations": str(allocs),
                "heartbeat_ttl": "17.5s",
                "last_heartbeat": "3.2s",
            }
        return {
            "config": {
                "Region": "global",
                "Datacenter": node.datacenter if node else sim.datacenter,
                "NodeName": name,
                "Version": {"Version": NOMAD_VERSION, "Prerelease": "", "Metadata": ""},
                "Client": {"Enabled": True},
                "Server": {"Enabled": True},
                "ACL": {"Enabled": sim.acl_tokens is not None},
                "Ports": {"HTTP": sim.port, "RPC": 4647, "Serf": 4648},
            },
            "member": {
                "Name": f"{name}.global",
                "Addr": sim.host,
                "Port": 4648,
                "Status": "alive",
                "Tags": {
                    "role": "nomad",
                    "region": "global",
                    "dc": sim.datacenter,
                    "build": NOMAD_VERSION,
                },
            },
            "stats": stats,
        }

    def _nodes(self, sim: SimNomad, query: dict[str, str]) -> list[dict]:
        resources = query.get("resources") == "true"
        stubs = [
            sim._node_stub(n, resources)
            for n in sim._nodes.values()
            if n.id.startswith(query.get("prefix", ""))
        ]
        if query.get("filter"):
            keep = _node_filter(query["filter"])
            stubs = [s for s in stubs if keep(s)]
        return stubs

    def _node(self, sim: SimNomad, node_id: str) -> dict:
        node = sim._nodes.get(node_id)
        if node is None:
            raise _Reject(404, "node not found")
        return sim._node_json(node)

    # -- control API ----------------------------------------------------------------------

    def _read_json(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as err:
            raise _Reject(400, f"invalid JSON: {err}") from err
        if not isinstance(data, dict):
            raise _Reject(400, "expected a JSON object")
        return data

    def _control(self, sim: SimNomad, path: str, data: dict) -> None:
        parts = path.strip("/").split("/")[1:]
        method = self.command
        try:
            result = self._control_call(sim, method, parts, data)
        except KeyError as err:
            raise _Reject(404, f"not found: {err}") from err
        except (TypeError, ValueError) as err:
            raise _Reject(400, str(err)) from err
        self._send(200, json.dumps(result).encode(), "application/json")
        if parts == ["outage"] and data.get("down"):
            # After answering: the outage cuts this very connection too.
            sim.set_outage(True, seconds=float(data["seconds"]))

    def _control_call(self, sim: SimNomad, method: str, parts: list[str], data: dict) -> dict:
        match method, parts:
            case "GET", ["state"]:
                return sim.state()
            case "POST", ["nodes"]:
                return {"id": sim.add_node(_field(data, "name"), **data)}
            case "DELETE", ["nodes", node_id]:
                sim.remove_node(node_id)
            case "POST", ["allocations"]:
                node_id = sim.node_id(_field(data, "node"))
                return {"id": sim.add_alloc(node_id, _field(data, "job"), **data)}
            case "POST", ["allocations", alloc_id]:
                sim.update_alloc(alloc_id, **data)
            case "DELETE", ["allocations", alloc_id]:
                sim.remove_alloc(alloc_id)
            case "POST", ["outage"]:
                if data.get("down") and "seconds" not in data:
                    raise ValueError('an outage set over HTTP needs "seconds" (the port goes away)')
                if not data.get("down"):
                    sim.set_outage(False)
            case "POST", ["fail"]:
                body = data.get("body", "simulated failure")
                sim.fail_next(int(_field(data, "status")), int(data.get("count", 1)), body)
            case "POST", ["malformed"]:
                sim.malformed_next(int(data.get("count", 1)))
            case "POST", ["hang"]:
                sim.hang_next(float(_field(data, "seconds")), int(data.get("count", 1)))
            case "POST", ["reset_index"]:
                sim.reset_index(int(_field(data, "index")))
            case _:
                raise _Reject(404, f"unknown control call {method} /_sim/{'/'.join(parts)}")
        return {}

    def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _field(data: dict, key: str) -> Any:
    """Pop a required control-API field; a missing one is the caller's mistake (400)."""
    if key not in data:
        raise ValueError(f"missing field {key!r}")
    return data.pop(key)


def _blocking_params(query: dict[str, str]) -> tuple[int, float]:
    """(min index, wait seconds incl. jitter), parsed and bounded as Nomad does."""
    try:
        min_index = int(query.get("index", "0"))
        if min_index < 0:
            raise ValueError
    except ValueError:
        raise _Reject(400, "Invalid index") from None
    try:
        wait = parse_duration(query["wait"]) if query.get("wait") else 0.0
    except ValueError:
        raise _Reject(400, "Invalid wait time") from None
    if wait <= 0:
        wait = DEFAULT_WAIT_S
    wait = min(wait, MAX_WAIT_S)
    # Nomad spreads wake-ups of many waiters by up to wait/16.
    return min_index, wait + random.uniform(0, wait / 16)


def _block(sim: SimNomad, done: Callable[[], bool], wait: float) -> None:
    """Wait (sim._changed held) until done(), the wait is over, or the server goes away."""
    deadline = time.monotonic() + wait
    while not done() and not (sim.outage or sim._closing.is_set()):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        sim._changed.wait(remaining)


def _node_index(sim: SimNomad, node_id: str) -> int:
    node = sim._nodes.get(node_id)
    return node.modify_index if node else sim._tables["nodes"]


def _allocs_index(sim: SimNomad, node_id: str) -> int:
    indexes = [a.modify_index for a in sim._allocs.values() if a.node_id == node_id]
    # An empty node reports the allocs table index, never 0 (Nomad: "prevents blocking").
    return max(indexes) if indexes else max(sim._tables["allocs"], 1)


def _node_allocs(sim: SimNomad, node_id: str, caps: frozenset[str] | None) -> list[dict]:
    """Nomad answers an unknown node with 200 and [] (Node.GetAllocs does not look the node
    up), and silently drops allocations in namespaces the token cannot read-job."""
    return [
        sim._alloc_json(a)
        for a in sim._allocs.values()
        if a.node_id == node_id and _can_read_job(caps, a.namespace)
    ]


def _can_read_job(caps: frozenset[str] | None, namespace: str) -> bool:
    """`namespace:read-job` grants every namespace, `namespace:<ns>:read-job` just one."""
    return caps is None or bool({"namespace:read-job", f"namespace:{namespace}:read-job"} & caps)


def _node_filter(expression: str) -> Callable[[dict], bool]:
    """The one go-bexpr form the sim understands: `Field == "value"` (or !=) on a string field."""
    match = _FILTER.match(expression)
    if not match or match[1] not in _STUB_STRING_FIELDS:
        raise _Reject(
            400,
            f"failed to read filter expression: unsupported in the simulator: {expression!r}"
            ' (only `Field == "value"` or `Field != "value"` on a string field)',
        )
    field_name, op, value = match.groups()
    return lambda stub: (stub[field_name] == value) == (op == "==")

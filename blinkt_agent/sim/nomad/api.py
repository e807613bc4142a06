"""One Nomad agent's HTTP API on loopback: routes, ACLs, blocking queries, gzip, headers.

Each NomadAgent is one agent process with its own listener: a client agent (one node), a
server agent, or both. Every agent reads the one ServerState, as Nomad client agents
forward their RPCs to the servers. What this copies from hashicorp/nomad:

- routes and errors (`command/agent/http.go` registerHandlers/wrap, `node_endpoint.go`,
  `alloc_endpoint.go`, `agent_endpoint.go`, `status_endpoint.go`): errors are text/plain
  bodies, 405 "Invalid method", an unknown node 404 "node not found", an unknown path 404
  with an empty body (handleRootFallthrough); RPC errors ending in "Permission denied" /
  "ACL token not found" become 403 with just that text.
- ACLs: node endpoints authenticate first and answer 403 "Permission denied" for an
  unknown, invalid or expired token (Authenticate, Nomad 1.5+; before, "ACL token not
  found") or without node:read; GetAllocs drops allocations in namespaces without
  read-job from a 200 answer. /v1/allocations (Alloc.List) needs read-job in the
  namespace asked for ("*": in any) - node read plays no part - and drops the other
  namespaces' allocations. /v1/agent/self needs agent:read; its token is resolved by the
  server (server agent) or through ACL.WhoAmI (client agent), whose errors other than
  "Permission denied" reach the user as 500s.
- blocking queries (`nomad/rpc.go` blockingRPC, `structs.QueryOptions.TimeToBlock`): only
  with ?index > 0; wait defaults to and is capped at 300 s (MaxBlockingRPCQueryTime), plus a
  random stagger below wait/16 (JitterFraction); the query re-runs when its watch set fires
  and returns when its index passes ?index, else at the deadline with the last result.
- lists (`nomad/state/paginator`): ?per_page/?next_token/?reverse and X-Nomad-NextToken;
  ?filter only as `Field == "value"` / `!=` on a string field.
- headers (setMeta): X-Nomad-Index, X-Nomad-Knownleader, X-Nomad-Lastcontact (Go
  canonicalises the names). Consistent reads go to the leader: KnownLeader true,
  LastContact 0.
- compression (`handlers.CompressHandler`, gorilla/handlers v1.5.2): every answer, however
  small, is gzip (or raw deflate) encoded when the first exactly-matching Accept-Encoding
  token says so; "Vary: Accept-Encoding" always; Go's net/http sends Content-Length when
  the whole body fits its 2048-byte buffer, else chunked.

Faults for tests: fail/malformed/hang the next requests, an outage (the port goes away),
and `index_header`/`blocking` to play a proxy that strips X-Nomad-Index or a server that
does not block.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import random
import re
import socket
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from blinkt_agent.sim.loopback import LoopbackServer
from blinkt_agent.sim.nomad import documents
from blinkt_agent.sim.nomad.acl import ACL, TokenExpired, TokenUnknown
from blinkt_agent.sim.nomad.state import DEFAULT_NAMESPACE, ServerState

MAX_BLOCKING_S = 300.0  # structs.MaxBlockingRPCQueryTime
DEFAULT_BLOCKING_S = 300.0  # structs.DefaultBlockingRPCQueryTime
JITTER_FRACTION = 16  # structs.JitterFraction
GO_BUFFER = 2048  # net/http bufferBeforeChunkingSize
INDEX_HEADERS = ("nomad", "absent", "zero")

PERMISSION_DENIED = "Permission denied"  # structs.ErrPermissionDenied
TOKEN_NOT_FOUND = "ACL token not found"  # structs.ErrTokenNotFound
TOKEN_EXPIRED = "ACL token expired"  # structs.ErrTokenExpired
JWS_ERROR = (  # encrypter.go VerifyClaim on a secret that is no UUID and no JWT
    "failed to parse signed token: go-jose/go-jose: compact JWS format must have three parts"
)

_UUID = re.compile(r"(?i)^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_FILTER = re.compile(r'^\s*([A-Za-z]+)\s*(==|!=)\s*"([^"\\]*)"\s*$')
_INTEGER = re.compile(r"[+-]?[0-9]+")  # strconv.ParseInt / Atoi, base 10
_GO_BOOLS = {  # strconv.ParseBool
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}
# Allocation's string fields (go-bexpr reads the Allocation, not the stub: no JobType).
_ALLOC_STRING_FIELDS = frozenset(
    {
        "ID",
        "EvalID",
        "Name",
        "Namespace",
        "NodeID",
        "NodeName",
        "JobID",
        "TaskGroup",
        "DesiredStatus",
        "DesiredDescription",
        "ClientStatus",
        "ClientDescription",
    }
)
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
    at: float  # time.monotonic() when it arrived


class HTTPError(Exception):
    """Answer with a plain-text error, the way Nomad's wrap() does (headers: set before)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str | None
    headers: dict[str, str] = field(default_factory=dict)


def parse_duration(text: str) -> float:
    """Seconds from a Go duration ("5m", "1m30s", "250ms"); Go requires a unit except for 0."""
    sign, body = (-1.0, text[1:]) if text.startswith("-") else (1.0, text.lstrip("+"))
    if body == "0":
        return 0.0
    parts = _DURATION_PART.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"invalid duration {text!r}")
    return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def time_to_block(min_index: int, wait: float) -> float:
    """QueryOptions.TimeToBlock: 0 without an index; else wait, defaulted and capped."""
    if min_index == 0:
        return 0.0
    if wait > MAX_BLOCKING_S:
        return MAX_BLOCKING_S
    return DEFAULT_BLOCKING_S if wait <= 0 else wait


class NomadAgent(LoopbackServer):
    """One agent's HTTP listener on (host, port); port 0 picks a free one.

    node_id: the node this agent is the client of (None: no client). server: the agent is
    also a server (its /v1/agent/self then has the server's stats and a serf member).
    name_in_config: the `name` in the agent's config, which /v1/agent/self shows as
    config.NodeName ("" by default, as when Nomad takes the host name).
    """

    def __init__(
        self,
        state: ServerState,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        node_id: str | None = None,
        server: bool = False,
        name_in_config: str = "",
        control: Callable[..., tuple[dict[str, Any], Callable[[], None] | None]] | None = None,
    ):
        self.state = state
        self.host = host
        self._port = port
        self.node_id = node_id
        self.server = server
        self.name_in_config = name_in_config
        self.control = control
        self.request_log: list[LoggedRequest] = []
        self.index_header = "nomad"
        self.blocking = True
        self._faults: deque[tuple[str, Any, Any]] = deque()
        self._outage = False
        self._outage_timer: threading.Timer | None = None
        self.closing = threading.Event()
        self._server: _Server | None = None
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> NomadAgent:
        self.closing.clear()
        self._serve()
        return self

    def stop(self) -> None:
        self.closing.set()
        with self.state.changed:
            self.state.changed.notify_all()
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
            target=server.serve_forever, args=(0.05,), name=f"sim-nomad-{self.port}", daemon=True
        ).start()

    def _unserve(self) -> None:
        server, self._server = self._server, None
        if server:
            server.shutdown()
            server.server_close()
            server.drop_connections()

    # -- faults ---------------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, body: str = "simulated failure") -> None:
        with self._lock:
            self._faults.extend([("fail", status, body)] * count)

    def malformed_next(self, count: int = 1) -> None:
        with self._lock:
            self._faults.extend([("malformed", None, None)] * count)

    def hang_next(self, seconds: float, count: int = 1) -> None:
        with self._lock:
            self._faults.extend([("hang", seconds, None)] * count)

    def take_fault(self) -> tuple[str, Any, Any] | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def set_proxy(self, index_header: str | None = None, blocking: bool | None = None) -> None:
        """Play what sits between the agent and Nomad: index_header "absent" strips
        X-Nomad-Index, "zero" sends 0; blocking False answers at once whatever ?index says."""
        if index_header is not None:
            if index_header not in INDEX_HEADERS:
                raise ValueError(f"index_header must be one of {INDEX_HEADERS}")
            self.index_header = index_header
        if blocking is not None:
            self.blocking = bool(blocking)

    @property
    def outage(self) -> bool:
        return self._outage

    def set_outage(self, down: bool, *, seconds: float | None = None) -> None:
        """Down: the port refuses connections and open ones are cut. Up: the same port again."""
        if self._outage_timer:
            self._outage_timer.cancel()
            self._outage_timer = None
        with self.state.changed:
            changed, self._outage = self._outage != down, down
            self.state.changed.notify_all()
        if changed and down:
            self._unserve()
        elif changed and not self.closing.is_set():
            self._serve()
        if down and seconds is not None:
            self._outage_timer = threading.Timer(seconds, self.set_outage, (False,))
            self._outage_timer.daemon = True
            self._outage_timer.start()

    @property
    def gone(self) -> bool:
        return self._outage or self.closing.is_set()

    # -- the API --------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict[str, str], token: str) -> Response:
        """What Nomad's HTTP server answers (before compression), or raises HTTPError."""
        if path == "/v1/agent/self":
            return self._agent_self(method, token)
        if path == "/v1/status/leader":
            _only_get(method)
            return _json(self.state.leader_rpc)
        if path == "/v1/nodes":
            return self._nodes(method, query, token)
        if path == "/v1/allocations":
            return self._allocations(method, query, token)
        if path.startswith("/v1/node/"):
            rest = path[len("/v1/node/") :]
            if rest.endswith("/allocations"):
                return self._node_allocs(method, rest[: -len("/allocations")], query, token)
            return self._node(method, rest, query, token)
        return Response(404, b"", None)  # handleRootFallthrough: WriteHeader(404), no body

    def _agent_self(self, method: str, token: str) -> Response:
        _only_get(method)
        acl = self._resolve_for_agent(token)
        if acl is not None and not acl.allow_agent_read():
            raise HTTPError(403, PERMISSION_DENIED)
        with self.state.lock:
            doc = documents.agent_self(
                self.state,
                node_id=self.node_id,
                server=self.server,
                name_in_config=self.name_in_config,
                http=(self.host, self.port),
                acl_enabled=self.state.acl.enabled,
            )
        return _json(doc)

    def _resolve_for_agent(self, token: str) -> ACL | None:
        """HTTPServer.ResolveToken: the server resolves it itself, a client asks ACL.WhoAmI
        over RPC; only errors ending in a known text become 403s."""
        prefix = (
            "ACL token not found or invalid workload identity: "
            if self.server
            else "failed to resolve ACL token: rpc error: "
        )
        try:
            return self.state.acl.resolve(token)
        except TokenExpired:
            raise HTTPError(500, prefix + TOKEN_EXPIRED) from None
        except TokenUnknown:
            if self.state.acl.legacy_token_not_found:
                raise HTTPError(403, TOKEN_NOT_FOUND) from None
            if not _UUID.match(token):
                raise HTTPError(500, prefix + JWS_ERROR) from None
            raise HTTPError(403, PERMISSION_DENIED) from None

    def _authenticate_rpc(self, token: str) -> ACL | None:
        """Authenticate in a server RPC handler: any failure is ErrPermissionDenied."""
        try:
            return self.state.acl.resolve(token)
        except (TokenUnknown, TokenExpired):
            if self.state.acl.legacy_token_not_found:
                raise HTTPError(403, TOKEN_NOT_FOUND) from None
            raise HTTPError(403, PERMISSION_DENIED) from None

    def _require_node_read(self, token: str) -> ACL | None:
        acl = self._authenticate_rpc(token)
        if acl is not None and not acl.allow_node_read():
            raise HTTPError(403, PERMISSION_DENIED)
        return acl

    def _nodes(self, method: str, query: dict[str, str], token: str) -> Response:
        """NodesRequest + Node.List: stubs by ID, the nodes table index; any node write
        wakes a blocked query (the iterator watches the whole table)."""
        _only_get(method)
        per_page, next_token = _pagination(query)
        min_index, wait = _query_options(query)
        try:
            resources = _parse_bool(query, "resources")
            os = _parse_bool(query, "os")
        except ValueError as err:
            raise HTTPError(400, f"Failed to parse node list fields: {err}") from None
        self._require_node_read(token)
        keep = _filter(query["filter"], _STUB_STRING_FIELDS) if query.get("filter") else None
        reverse = query.get("reverse") == "true"
        page: dict[str, str] = {}

        def run() -> tuple[Any, int]:
            nodes, index = self.state.node_list(query.get("prefix", ""))
            stubs = [documents.node_stub(self.state, n, bool(resources), bool(os)) for n in nodes]
            # IDTokenizer; ?reverse only turns the token comparison (Nodes() is unsorted).
            body, page["next"] = paginate(
                stubs,
                lambda stub: (stub["ID"], _cmp(stub["ID"], next_token)),
                per_page,
                next_token,
                reverse,
                keep or (lambda _: True),
            )
            return body, index

        body, headers = self._query(run, self.state.nodes_watch, min_index, wait)
        return _json(body, _with_next_token(headers, page))

    def _allocations(self, method: str, query: dict[str, str], token: str) -> Response:
        """AllocsRequest + Alloc.List (alloc_endpoint.go): stubs in creation order, the
        allocs table index, whatever the answer holds.

        ACLs: the token needs read-job in the namespace asked for (?namespace, default
        "default"; "*" = in any namespace), else 403 "Permission denied" - node read plays
        no part. Then allocations in namespaces without read-job are left out (allowedNSes
        + the paginator's selector); when no existing namespace allows it the answer is []."""
        _only_get(method)
        namespace = query.get("namespace") or DEFAULT_NAMESPACE  # parseNamespace
        per_page, next_token = _pagination(query)
        min_index, wait = _query_options(query)
        try:  # AllocsRequest returns parseBool's error as is: a 500
            resources = _parse_bool(query, "resources")
            task_states = _parse_bool(query, "task_states")
        except ValueError as err:
            raise HTTPError(500, str(err)) from None
        acl = self._authenticate_rpc(token)
        if acl is not None and not acl.allow_ns_op(namespace, "read-job"):
            raise HTTPError(403, PERMISSION_DENIED)
        if query.get("prefix"):
            raise HTTPError(400, "the simulator does not list allocations by ID ?prefix")
        reverse = query.get("reverse") == "true"
        fields = {"resources": bool(resources), "task_states": task_states is not False}
        page: dict[str, str] = {}

        def run() -> tuple[Any, int]:
            allocs, index = self.state.alloc_list(namespace, reverse)
            allowed = self.state.namespaces
            if acl is not None and not acl.management:
                allowed = {ns for ns in allowed if acl.allow_ns_op(ns, "read-job")}
                if not allowed:  # allowedNSes: ErrPermissionDenied -> an empty answer
                    return [], index
            # The paginator reads the filter only now: a bad one is a 400 from here.
            keep = _filter(query["filter"], _ALLOC_STRING_FIELDS) if query.get("filter") else None
            stubs = [
                documents.alloc_stub(self.state, a, **fields)
                for a in allocs
                if a.namespace in allowed
            ]
            body, page["next"] = paginate(
                stubs,
                lambda stub: _create_index_token(stub, next_token),
                per_page,
                next_token,
                reverse,
                keep or (lambda _: True),
            )
            return body, index

        watch = functools.partial(self.state.alloc_list_watch, namespace)
        body, headers = self._query(run, watch, min_index, wait)
        return _json(body, _with_next_token(headers, page))

    def _node(self, method: str, node_id: str, query: dict[str, str], token: str) -> Response:
        _only_get(method)
        min_index, wait = _query_options(query)
        self._require_node_read(token)
        if not node_id:
            raise HTTPError(500, "missing node ID")

        def run() -> tuple[Any, int]:
            node, index = self.state.node_read(node_id)
            return (documents.node_doc(self.state, node) if node else None), index

        node, headers = self._query(run, lambda: self.state.node_watch(node_id), min_index, wait)
        if node is None:
            raise HTTPError(404, "node not found", headers)  # after setMeta: headers stay
        return _json(node, headers)

    def _node_allocs(
        self, method: str, node_id: str, query: dict[str, str], token: str
    ) -> Response:
        _only_get(method)
        min_index, wait = _query_options(query)
        acl = self._require_node_read(token)
        if not node_id:
            raise HTTPError(500, "missing node ID")
        readable: dict[str, bool] = {}

        def can_read(namespace: str) -> bool:
            if acl is None:
                return True
            if namespace not in readable:
                readable[namespace] = acl.allow_ns_op(namespace, "read-job")
            return readable[namespace]

        def run() -> tuple[Any, int]:
            allocs, index = self.state.node_allocs(node_id)
            # Filtered allocations still count for the index (node_endpoint.go GetAllocs).
            docs = [documents.alloc_doc(self.state, a) for a in allocs if can_read(a.namespace)]
            return docs, index

        return _json(*self._query(run, lambda: self.state.allocs_watch(node_id), min_index, wait))

    def _query(
        self,
        run: Callable[[], tuple[Any, int]],
        watch: Callable[[], Any],
        min_index: int,
        wait: float,
    ) -> tuple[Any, dict[str, str]]:
        """blockingRPC: run; while the index has not passed min_index, wait for the watch
        set to fire and run again; at the deadline, answer the last result."""
        if not self.blocking:
            min_index = 0
        block = time_to_block(min_index, wait)
        deadline = time.monotonic() + block + random.uniform(0, block / JITTER_FRACTION)
        changed = self.state.changed
        with changed:
            while True:
                body, index = run()
                if min_index == 0 or index > min_index:
                    break
                mark = watch()
                while watch() == mark and not self.gone:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    changed.wait(remaining)
                if watch() == mark or self.gone:
                    break
        if self.gone:
            raise _Cut
        headers = {"X-Nomad-Index": str(index)}
        if self.index_header == "absent":
            headers = {}
        elif self.index_header == "zero":
            headers["X-Nomad-Index"] = "0"
        headers.update({"X-Nomad-Lastcontact": "0", "X-Nomad-Knownleader": "true"})
        return body, headers


class _Cut(Exception):
    """The agent went away while answering: drop the connection, write nothing."""


def _only_get(method: str) -> None:
    if method != "GET":
        raise HTTPError(405, "Invalid method")


def _json(obj: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(obj, separators=(",", ":")).encode()  # compact, as Go encodes
    return Response(200, body, "application/json", dict(headers or {}))


def _query_options(query: dict[str, str]) -> tuple[int, float]:
    """parseWait: ?wait first ("Invalid wait time"), then ?index ("Invalid index")."""
    wait = 0.0
    if query.get("wait"):
        try:
            wait = parse_duration(query["wait"])
        except ValueError:
            raise HTTPError(400, "Invalid wait time") from None
    min_index = 0
    if query.get("index"):
        text = query["index"]
        if not text.isdigit() or int(text) >= 2**64:
            raise HTTPError(400, "Invalid index")
        min_index = int(text)
    return min_index, wait


def _filter(expression: str, fields: frozenset[str]) -> Callable[[dict[str, Any]], bool]:
    """The one go-bexpr form the sim understands: `Field == "value"` (or !=) on a string field."""
    match = _FILTER.match(expression)
    if not match or match[1] not in fields:
        raise HTTPError(
            400,
            "failed to create result paginator: failed to read filter expression: "
            f"unsupported in the simulator: {expression!r}"
            ' (only `Field == "value"` or `Field != "value"` on a string field)',
        )
    field_name, op, value = match.groups()
    return lambda stub: (stub[field_name] == value) == (op == "==")


def _parse_bool(query: dict[str, str], name: str) -> bool | None:
    """http.go parseBool: absent or empty is None; else strconv.ParseBool or its error."""
    text = query.get(name, "")
    if not text:
        return None
    if text not in _GO_BOOLS:
        quoted = json.dumps(text, ensure_ascii=False)  # strconv.Quote, for printable text
        raise ValueError(
            f'Failed to parse value of "{name}" ({text}) as a bool: '
            f"strconv.ParseBool: parsing {quoted}: invalid syntax"
        )
    return _GO_BOOLS[text]


def _pagination(query: dict[str, str]) -> tuple[int, str]:
    """http.go parsePagination: ?per_page must parse as an int32 (else 400)."""
    text = query.get("per_page", "")
    per_page = 0
    if text:
        if not _INTEGER.fullmatch(text) or not -(2**31) <= int(text) < 2**31:
            raise HTTPError(400, "Expect a number for `per_page` query string parameter")
        per_page = int(text)
    return per_page, query.get("next_token", "")


def paginate(
    items: list[dict[str, Any]],
    token_of: Callable[[dict[str, Any]], tuple[str, int]],
    per_page: int,
    next_token: str,
    reverse: bool,
    keep: Callable[[dict[str, Any]], bool],
) -> tuple[list[dict[str, Any]], str]:
    """paginator.Paginator.Page: skip up to ?next_token (by the tokenizer's comparison,
    turned round by ?reverse), keep what the filter and selector keep, stop after per_page
    (0: all); the next token is the token of the first item left out, "" at the end."""
    out: list[dict[str, Any]] = []
    found = next_token == ""
    for item in items:
        token, compared = token_of(item)
        passed = compared == (1 if reverse else -1)
        if (not found and passed) or not keep(item):
            continue
        found = True
        if per_page != 0 and len(out) + 1 > per_page:
            return out, token
        out.append(item)
    return out, ""


def _cmp(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


def _create_index_token(stub: dict[str, Any], target: str) -> tuple[str, int]:
    """paginator.CreateIndexAndIDTokenizer: "<CreateIndex>.<ID>", compared by number and
    then ID when the target has that form (strconv.Atoi, then uint64()), else as strings."""
    token = f"{stub['CreateIndex']}.{stub['ID']}"
    parts = target.split(".", 1)
    if len(parts) < 2 or not _INTEGER.fullmatch(parts[0]) or abs(int(parts[0])) >= 2**63:
        return token, _cmp(token, target)
    by_index = _cmp(stub["CreateIndex"], int(parts[0]) % 2**64)
    return token, by_index or _cmp(stub["ID"], parts[1])


def _with_next_token(headers: dict[str, str], page: dict[str, str]) -> dict[str, str]:
    """setMeta: X-Nomad-NextToken only when there is a next page."""
    if page.get("next"):
        return {**headers, "X-Nomad-NextToken": page["next"]}
    return headers


def encoding_for(accept_encoding: str) -> str | None:
    """CompressHandler: the first comma-separated token that is exactly gzip or deflate
    (no q-values: "gzip;q=0" is not "gzip")."""
    for token in accept_encoding.split(","):
        token = token.strip()
        if token in ("gzip", "deflate"):
            return token
    return None


def compress(body: bytes, encoding: str) -> bytes:
    """gzip.DefaultCompression (level 6); "deflate" is raw DEFLATE (flate.NewWriter)."""
    if encoding == "gzip":
        return gzip.compress(body, compresslevel=6, mtime=0)
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return packer.compress(body) + packer.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # hung handlers must not hold up stop() or an outage

    def __init__(self, address: tuple[str, int], handler: type, agent: NomadAgent):
        self.agent = agent
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    # (a TCP server: every request is a socket, narrower than BaseServer's type)
    def process_request(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        # Connections cut by an outage or by the client are expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError | _Cut):
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

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def _dispatch(self) -> None:
        agent = self.server.agent
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            if url.path.startswith("/_sim/"):
                self._control(agent, url.path)
                return
            agent.request_log.append(
                LoggedRequest(self.command, url.path, query, self.headers, time.monotonic())
            )
            fault = agent.take_fault()
            if fault and fault[0] == "hang":
                agent.closing.wait(fault[1])
            if agent.gone:
                raise _Cut
            if fault and fault[0] == "fail":
                raise HTTPError(fault[1], fault[2])
            token = (self.headers.get("X-Nomad-Token") or "").strip()
            response = agent.answer(self.command, url.path, query, token)
            if fault and fault[0] == "malformed":
                response.body = response.body[: len(response.body) // 2]
            self._send(response)
        except HTTPError as err:
            text = "text/plain; charset=utf-8"
            self._send(Response(err.status, err.message.encode(), text, err.headers))
        except (_Cut, BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _control(self, agent: NomadAgent, path: str) -> None:
        if agent.control is None:
            raise HTTPError(404, "no control API on this agent")
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as err:
            raise HTTPError(400, f"invalid JSON: {err}") from err
        if not isinstance(data, dict):
            raise HTTPError(400, "expected a JSON object")
        try:
            parts = path.strip("/").split("/")[1:]
            result, after = agent.control(agent, self.command, parts, data)
        except KeyError as err:
            raise HTTPError(404, f"not found: {err}") from err
        except (TypeError, ValueError) as err:
            raise HTTPError(400, str(err)) from err
        self._send(Response(200, json.dumps(result).encode(), "application/json"), plain=True)
        if after:
            after()  # e.g. an outage, which cuts this very connection too

    def _send(self, response: Response, plain: bool = False) -> None:
        """Write like Go's net/http behind CompressHandler (plain: the control API)."""
        body, ctype = response.body, response.content_type
        headers = dict(response.headers)
        encoding = None if plain else encoding_for(self.headers.get("Accept-Encoding", ""))
        if not plain:
            headers["Vary"] = "Accept-Encoding"
        if encoding:
            body = compress(body, encoding)
            headers["Content-Encoding"] = encoding
            # Go sniffs a type when the handler set none: the gzip bytes of an empty 404.
            ctype = ctype or "application/x-gzip"
        self.send_response_only(response.status)
        self.send_header("Date", formatdate(usegmt=True))
        if ctype and (body or encoding):
            self.send_header("Content-Type", ctype)
        for name, value in headers.items():
            self.send_header(name, value)
        chunked = len(body) > GO_BUFFER
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if not chunked:
            self.wfile.write(body)
            return
        for start in range(0, len(body), GO_BUFFER):
            piece = body[start : start + GO_BUFFER]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

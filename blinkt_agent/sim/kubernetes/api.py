"""The kube-apiserver's HTTP(S) front: filters, list, get, watch streams, faults.

Request path, in the order kube-apiserver's filter chain runs it
(staging/src/k8s.io/apiserver/pkg/server/config.go DefaultBuildHandlerChain):
Audit-Id and `Cache-Control: no-cache, private` on every answer; authentication (401);
priority and fairness (X-Kubernetes-Pf-* headers, so 401s have none); authorization (403);
then the handler (endpoints/handlers/get.go ListResource, GetResource).

Watches (endpoints/handlers/watch.go HandleHTTP, get.go ListResource): a 200 with
`Content-Type: application/json` and `Transfer-Encoding: chunked`, headers flushed at once,
then one JSON event per line ({"type", "object"}, the JSON framer adds nothing but the
encoder's newline), flushed whenever no further event is waiting. Go's response writer
buffers 2048 bytes (net/http bufferBeforeChunkingSize), so events written together share
chunks and a long one is a chunk of its own; the sim writes through the same buffer.
The stream ends cleanly (the last, empty chunk) at the watch's timeout: timeoutSeconds, or
without it a random time between --min-request-timeout (1800 s, server/config.go
NewConfig) and twice that. A too-old resourceVersion is by default a 200 with one ERROR
event carrying Status 410 Expired (cacher.go Watch: newErrWatcher, since Kubernetes 1.3,
kubernetes/kubernetes#25369; before it the watch cache answered an HTTP 410): too_old="http"
plays that older form. BOOKMARKs go only to watches with allowWatchBookmarks=true, about
once a minute (cacher.go defaultBookmarkFrequency) and 2 s before the watch's deadline
(cache_watcher.go nextBookmarkTime), carrying the watch cache's resourceVersion, and only
when that is past the revision the watch started from (cache_watcher.go process).

Lists (cacher.go GetList): resourceVersion unset reads etcd (the current revision);
"0" or N the watch cache, whose revision is that of the resource's own last write. Lists
of 128 KiB or more are gzipped when the client accepts it
(responsewriters/writers.go, defaultGzipThresholdBytes, level 1).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import random
import socket
import ssl
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from blinkt_agent.sim.kubernetes import documents
from blinkt_agent.sim.kubernetes.auth import (
    MASTERS,
    Attributes,
    Authenticator,
    Unauthenticated,
    User,
    authorize,
    cert_user,
    forbidden_message,
)
from blinkt_agent.sim.kubernetes.documents import Doc, go_json, status
from blinkt_agent.sim.kubernetes.selectors import (
    SelectorError,
    exact,
    field_matcher,
    label_matcher,
    parse_fields,
)
from blinkt_agent.sim.kubernetes.state import Expired, Store, Watcher
from blinkt_agent.sim.loopback import LoopbackServer

GO_BUFFER = 2048  # net/http bufferBeforeChunkingSize
GZIP_THRESHOLD = 128 * 1024  # responsewriters defaultGzipThresholdBytes
MIN_REQUEST_TIMEOUT_S = 1800.0  # --min-request-timeout default
BOOKMARK_INTERVAL_S = 60.0  # cacher.go defaultBookmarkFrequency
PRE_TIMEOUT_BOOKMARK_S = 2.0  # cache_watcher.go nextBookmarkTime
TOO_OLD_FORMS = ("event", "http")
KINDS = {"pods": "PodList", "nodes": "NodeList"}
NAMESPACED = {"pods": True, "nodes": False}
NOT_FOUND = "the server could not find the requested resource"
VERSION = {  # GET /version of k3s v1.30.6+k3s1 on arm64
    "major": "1",
    "minor": "30",
    "gitVersion": documents.K3S_VERSION,
    "gitCommit": "1829eaae5250b4bbe5e9f4a8adbf4fc44d2e0a8a",
    "gitTreeState": "clean",
    "buildDate": "2024-10-25T23:45:08Z",
    "goVersion": "go1.22.8",
    "compiler": "gc",
    "platform": "linux/arm64",
}


class LoggedRequest(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    headers: Any  # http.client.HTTPMessage: a case-insensitive mapping
    at: float  # time.monotonic() when it arrived


@dataclass
class Settings:
    """What a kube-apiserver's flags and defaults decide (see the module docstring)."""

    authorization: str = "RBAC"  # or "AlwaysAllow"
    bookmark_interval: float = BOOKMARK_INTERVAL_S
    too_old: str = "event"
    watch_cache: bool = True
    min_request_timeout: float = MIN_REQUEST_TIMEOUT_S
    flow_schemas: dict[str, str] = field(
        default_factory=lambda: {
            name: str(uuid.uuid4()) for name in ("exempt", "service-accounts", "global-default")
        }
    )

    def __post_init__(self) -> None:
        if self.too_old not in TOO_OLD_FORMS:
            raise ValueError(f"too_old must be one of {TOO_OLD_FORMS}")
        if self.authorization not in ("RBAC", "AlwaysAllow"):
            raise ValueError('authorization must be "RBAC" or "AlwaysAllow"')


class APIError(Exception):
    """Answer with this Status document."""

    def __init__(self, doc: Doc, headers: dict[str, str] | None = None):
        super().__init__(doc["message"])
        self.doc = doc
        self.headers = headers or {}


class _Cut(Exception):
    """The server went away: drop the connection."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    user: User
    accept_gzip: bool


class KubeAPIServer(LoopbackServer):
    """One apiserver listener on (host, port); port 0 picks a free one. tls: a server
    SSLContext (client certificates verified if it has a CA), None for plain HTTP."""

    def __init__(
        self,
        store: Store,
        authn: Authenticator,
        settings: Settings,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: ssl.SSLContext | None = None,
        control: Callable[[str, list[str], dict[str, Any]], tuple[Any, Callable[[], None] | None]]
        | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.store, self.authn, self.settings = store, authn, settings
        self.host, self._port = host, port
        self.tls = tls
        self.control = control
        self.monotonic = monotonic
        self.request_log: list[LoggedRequest] = []
        self._faults: deque[tuple[str, Any, Any]] = deque()
        self._lock = threading.Lock()
        self._outage = False
        self._outage_timer: threading.Timer | None = None
        self.closing = threading.Event()
        self._server: _Server | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}"

    def start(self) -> KubeAPIServer:
        self.closing.clear()
        self._serve()
        return self

    def stop(self) -> None:
        self.closing.set()
        if self._outage_timer:
            self._outage_timer.cancel()
        with self.store.changed:
            self.store.changed.notify_all()
        self._unserve()

    def _serve(self) -> None:
        server = _Server((self.host, self._port), _Handler, self)
        self._port = server.server_address[1]
        self._server = server
        threading.Thread(
            target=server.serve_forever, args=(0.05,), name=f"sim-k8s-{self.port}", daemon=True
        ).start()

    def _unserve(self) -> None:
        server, self._server = self._server, None
        if server:
            server.shutdown()
            server.server_close()
            server.drop_connections()

    @property
    def gone(self) -> bool:
        return self._outage or self.closing.is_set()

    # -- faults ----------------------------------------------------------------------------

    @property
    def outage(self) -> bool:
        return self._outage

    def set_outage(self, down: bool, *, seconds: float | None = None) -> None:
        """Down: the port refuses connections and open ones (watches too) are cut."""
        if self._outage_timer:
            self._outage_timer.cancel()
            self._outage_timer = None
        with self.store.changed:
            changed, self._outage = self._outage != down, down
            self.store.changed.notify_all()
        if changed and down:
            self._unserve()
        elif changed and not self.closing.is_set():
            self._serve()
        if down and seconds is not None:
            self._outage_timer = threading.Timer(seconds, self.set_outage, (False,))
            self._outage_timer.daemon = True
            self._outage_timer.start()

    def fail_next(self, code: int, count: int = 1, message: str = "simulated failure") -> None:
        with self._lock:
            self._faults.extend([("fail", code, message)] * count)

    def hang_next(self, seconds: float, count: int = 1) -> None:
        with self._lock:
            self._faults.extend([("hang", seconds, None)] * count)

    def take_fault(self) -> tuple[str, Any, Any] | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    # -- requests --------------------------------------------------------------------------

    def attributes(self, method: str, path: str, query: dict[str, str], user: User) -> Attributes:
        """endpoints/request/requestinfo.go: verb, resource, namespace, name."""
        parts = [p for p in path.split("/") if p]
        verbs = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update"}
        verb = verbs.get(method, method.lower())
        if parts[:2] != ["api", "v1"] or len(parts) < 3:
            return Attributes(user, verb, path=path)
        rest = parts[2:]
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        resource = rest[0]
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if verb == "get" and not name:
            verb = "watch" if go_bool(query.get("watch")) else "list"
            selector = query.get("fieldSelector")
            if selector:
                with contextlib.suppress(SelectorError):
                    pinned = exact(parse_fields(selector, resource), "metadata.name")
                    name = pinned or ""
        if verb == "delete" and not name:
            verb = "deletecollection"
        return Attributes(user, verb, resource, name, namespace, sub, "", path)

    def flow_schema(self, user: User) -> str:
        if MASTERS in user.groups:
            return "exempt"
        if user.name.startswith("system:serviceaccount:"):
            return "service-accounts"
        return "global-default"

    def serve_resource(self, req: Request, a: Attributes, handler: _Handler) -> Doc | None:
        """GET a list, an object or a watch; returns the document to send, or None when
        it streamed the answer itself."""
        if a.resource not in KINDS or a.subresource:
            raise APIError(status(404, NOT_FOUND, details={}))
        if req.method not in ("GET", "HEAD"):
            raise APIError(
                status(
                    405,
                    "the server does not allow this method on the requested resource",
                    details={},
                )
            )
        if a.namespace and not NAMESPACED[a.resource]:
            raise APIError(status(404, NOT_FOUND, details={}))
        path_name = name_in_path(req.path)
        if path_name:
            return self._get(a.resource, a.namespace, path_name)
        terms = []
        if req.query.get("fieldSelector"):
            try:
                terms = parse_fields(req.query["fieldSelector"], a.resource)
            except SelectorError as err:
                raise APIError(status(400, str(err))) from None
        labels = None
        if req.query.get("labelSelector"):
            try:
                labels = label_matcher(req.query["labelSelector"])
            except SelectorError as err:
                raise APIError(status(400, str(err))) from None
        fields = field_matcher(terms, a.resource)
        namespace = a.namespace

        def matches(doc: Doc) -> bool:
            if namespace and doc["metadata"].get("namespace") != namespace:
                return False
            return fields(doc) and (labels is None or labels(doc))

        rv_text = req.query.get("resourceVersion", "")
        rv = parse_rv(rv_text)
        if a.verb == "watch":
            self._watch(handler, a.resource, matches, rv_text, rv, req.query)
            return None
        with self.store.lock:
            items = self.store.current(a.resource, matches)
            list_rv = self.store.rv if rv_text == "" else self.store.caches[a.resource].rv
        return documents.list_doc(KINDS[a.resource], list_rv, items)

    def _get(self, resource: str, namespace: str, name: str) -> Doc:
        key = f"{namespace}/{name}" if NAMESPACED[resource] else name
        with self.store.lock:
            doc = self.store.objects[resource].get(key)
        if doc is None:
            raise APIError(documents.not_found(resource, name))
        return doc

    def _watch(
        self,
        handler: _Handler,
        resource: str,
        matches: Callable[[Doc], bool],
        rv_text: str,
        rv: int,
        query: dict[str, str],
    ) -> None:
        timeout = parse_int(query.get("timeoutSeconds", "0"), "timeoutSeconds")
        seconds = float(timeout)
        if seconds <= 0:
            minimum = self.settings.min_request_timeout
            seconds = minimum * (random.random() + 1.0)
        deadline = self.monotonic() + seconds
        bookmarks = go_bool(query.get("allowWatchBookmarks"))
        from_etcd = not self.settings.watch_cache or rv_text == ""
        with self.store.lock:
            try:
                watcher, initial = self.store.watch(
                    resource,
                    matches,
                    rv,
                    from_etcd=from_etcd,
                    bookmarks=bookmarks,
                    deadline=deadline,
                )
            except Expired as err:
                gone = status(410, str(err), "Expired")
                if self.settings.too_old == "http":
                    raise APIError(gone) from None
                watcher, initial = None, [("ERROR", gone)]
            if watcher is not None and bookmarks:
                watcher.next_bookmark = self._next_bookmark(watcher, self.monotonic())
        handler.start_stream()
        writer = GoChunkWriter(handler.wfile)
        try:
            self._write_events(writer, initial)
            if watcher is not None:
                self._stream(writer, watcher)
        finally:
            if watcher is not None:
                with self.store.lock:
                    self.store.forget(watcher)
        if self.gone:
            raise _Cut
        writer.close()

    def _next_bookmark(self, watcher: Watcher, now: float) -> float | None:
        """cache_watcher.go nextBookmarkTime: a minute on, or 2 s before the deadline."""
        at = now + self.settings.bookmark_interval
        at = min(at, watcher.deadline - PRE_TIMEOUT_BOOKMARK_S)
        return None if at < now else at

    def _stream(self, writer: GoChunkWriter, watcher: Watcher) -> None:
        changed = self.store.changed
        while True:
            with changed:
                while not (watcher.queue or watcher.closed or self.gone):
                    now = self.monotonic()
                    wake = watcher.deadline
                    if watcher.next_bookmark is not None:
                        wake = min(wake, watcher.next_bookmark)
                    if now >= wake:
                        break
                    changed.wait(wake - now)
                if self.gone:
                    raise _Cut
                now = self.monotonic()
                if now >= watcher.deadline:
                    return
                batch = list(watcher.queue)
                watcher.queue.clear()
                if watcher.next_bookmark is not None and now >= watcher.next_bookmark:
                    rv = self.store.bookmark_rv(watcher)
                    if rv > watcher.start_rv:
                        batch.append(("BOOKMARK", documents.bookmark(watcher.resource, rv)))
                    watcher.next_bookmark = self._next_bookmark(watcher, now)
                closed = watcher.closed
            self._write_events(writer, batch)
            if closed:
                return

    def _write_events(self, writer: GoChunkWriter, events: list[tuple[str, Doc]]) -> None:
        for kind, obj in events:
            writer.write(go_json({"type": kind, "object": obj}) + b"\n")
        writer.flush()  # handlers/watch.go: Flush when the result channel is empty


def name_in_path(path: str) -> str:
    """The object name a resource path names (not one a fieldSelector pins)."""
    rest = [p for p in path.split("/") if p][2:]
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    return rest[1] if len(rest) > 1 else ""


def go_bool(value: str | None) -> bool:
    """runtime.Convert_Slice_string_To_bool: present and not "0" or "false" is true."""
    return value is not None and value != "0" and value.lower() != "false"


def _invalid(name: str, text: str, parser: str) -> APIError:
    syntax = f'strconv.{parser}: parsing "{text}": invalid syntax'
    return APIError(status(400, f'{name}: Invalid value: "{text}": {syntax}', "BadRequest"))


def parse_int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _invalid(name, text, "ParseInt") from None


def parse_rv(text: str) -> int:
    """storage APIObjectVersioner.ParseResourceVersion: "" is 0, else an unsigned integer."""
    if text == "":
        return 0
    if not text.isdigit():
        raise _invalid("resourceVersion", text, "ParseUint")
    return int(text)


class GoChunkWriter:
    """net/http's response body: a 2048-byte bufio.Writer over the chunked encoder."""

    def __init__(self, wfile: Any):
        self.wfile = wfile
        self.buf = bytearray()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def write(self, data: bytes) -> None:
        """bufio.Writer.Write: fill and flush the buffer; a long write into an empty
        buffer goes out whole."""
        while len(data) > GO_BUFFER - len(self.buf):
            if not self.buf:
                self._chunk(data)
                return
            room = GO_BUFFER - len(self.buf)
            self.buf += data[:room]
            data = data[room:]
            self._flush_buffer()
        self.buf += data

    def _flush_buffer(self) -> None:
        if self.buf:
            self._chunk(bytes(self.buf))
            self.buf.clear()

    def flush(self) -> None:
        self._flush_buffer()
        self.wfile.flush()

    def close(self) -> None:
        self._flush_buffer()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type, api: KubeAPIServer):
        self.api = api
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def finish_request(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        # The TLS handshake runs in the connection's own thread, not in accept().
        if self.api.tls is not None:
            request = self.api.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        if not isinstance(sys.exc_info()[1], ConnectionError | _Cut | ssl.SSLError | OSError):
            super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        with self.connections_lock:
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read request_log instead."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def _dispatch(self) -> None:
        api = self.server.api
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        self.extra_headers = {"Audit-Id": str(uuid.uuid4()), "Cache-Control": "no-cache, private"}
        try:
            if url.path.startswith("/_sim/"):
                self._control(api, url.path)
                return
            api.request_log.append(
                LoggedRequest(self.command, url.path, query, self.headers, api.monotonic())
            )
            fault = api.take_fault()
            if fault and fault[0] == "hang":
                api.closing.wait(fault[1])
            if api.gone:
                raise _Cut
            if fault and fault[0] == "fail":
                raise APIError(status(fault[1], fault[2]))
            doc = self._answer(api, url.path, query)
            if doc is not None:
                self._send_json(200, doc)
        except APIError as err:
            self.extra_headers.update(err.headers)
            self._send_json(err.doc["code"], err.doc)
        except (_Cut, BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def _answer(self, api: KubeAPIServer, path: str, query: dict[str, str]) -> Doc | None:
        try:
            user = api.authn.authenticate(self._cert_user(), self.headers.get("Authorization", ""))
        except Unauthenticated:
            raise APIError(status(401, "Unauthorized")) from None
        schema = api.flow_schema(user)
        uid = api.settings.flow_schemas[schema]
        self.extra_headers["X-Kubernetes-Pf-Flowschema-Uid"] = uid
        self.extra_headers["X-Kubernetes-Pf-Prioritylevel-Uid"] = uid
        a = api.attributes(self.command, path, query, user)
        allowed, reason = authorize(api.authn.rbac, a, api.settings.authorization)
        if not allowed:
            message = forbidden_message(a) + (f": {reason}" if reason else "")
            if a.is_resource:  # errors.NewForbidden
                prefix = f'{a.resource} "{a.name}"' if a.name else a.resource
                details = documents.resource_details(a.resource, a.name)
                doc = status(403, f"{prefix} is forbidden: {message}", details=details)
            else:
                doc = status(403, f"forbidden: {message}", details={})
            raise APIError(doc, {"X-Content-Type-Options": "nosniff"})
        if not a.is_resource:
            return self._non_resource(path)
        accept = self.headers.get("Accept-Encoding", "")
        gzip_ok = any(token.strip() == "gzip" for token in accept.split(","))
        req = Request(self.command, path, query, user, gzip_ok)
        return api.serve_resource(req, a, self)

    def _non_resource(self, path: str) -> Doc | None:
        if path == "/version":  # WriteRawJSON: indented
            self._send(200, json.dumps(VERSION, indent=2).encode(), "application/json")
            return None
        if path in ("/healthz", "/livez", "/readyz"):
            self._send(200, b"ok", "text/plain; charset=utf-8")
            return None
        raise APIError(status(404, NOT_FOUND, details={}))

    def _cert_user(self) -> User | None:
        getpeercert = getattr(self.connection, "getpeercert", None)
        if getpeercert is None:
            return None
        cert = getpeercert()
        return cert_user(cert.get("subject", ())) if cert else None

    def start_stream(self) -> None:
        """handlers/watch.go: the header, written and flushed before any event."""
        self.send_response_only(200)
        self.send_header("Date", formatdate(usegmt=True))
        for name, value in self.extra_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _send_json(self, code: int, doc: Doc) -> None:
        body = go_json(doc)
        encoding = None
        if len(body) >= GZIP_THRESHOLD:
            accept = self.headers.get("Accept-Encoding", "")
            if any(token.strip() == "gzip" for token in accept.split(",")):
                body = gzip.compress(body, compresslevel=1, mtime=0)
                encoding = "gzip"
        self._send(code, body, "application/json", encoding)

    def _send(self, code: int, body: bytes, ctype: str, encoding: str | None = None) -> None:
        """Go's net/http: Content-Length when the body fits its 2048-byte buffer."""
        self.send_response_only(code)
        self.send_header("Date", formatdate(usegmt=True))
        for name, value in self.extra_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", ctype)
        if encoding:
            self.send_header("Content-Encoding", encoding)
            self.send_header("Vary", "Accept-Encoding")
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
        writer = GoChunkWriter(self.wfile)
        writer.write(body)
        writer.close()

    def _control(self, api: KubeAPIServer, path: str) -> None:
        def fail(code: int, message: str) -> None:
            self._send(code, json.dumps({"error": message}).encode(), "application/json")

        if api.control is None:
            fail(404, "no control API")
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as err:
            fail(400, f"invalid JSON: {err}")
            return
        if not isinstance(data, dict):
            fail(400, "expected a JSON object")
            return
        try:
            parts = path.strip("/").split("/")[1:]
            result, after = api.control(self.command, parts, data)
        except KeyError as err:
            fail(404, f"not found: {err}")
            return
        except (TypeError, ValueError) as err:
            fail(400, str(err))
            return
        self._send(200, json.dumps(result).encode(), "application/json")
        if after:
            after()

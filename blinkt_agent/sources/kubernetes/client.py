"""A small Kubernetes API client: list, watch (a streaming response), get; typed errors.

What the API server answers, and what we make of it (docs/CONFORMANCE.md has where in
kubernetes/kubernetes each comes from):

- A list is `{"kind": "PodList", "metadata": {"resourceVersion": "N"}, "items": [...]}`.
- A watch (`?watch=1&resourceVersion=N&allowWatchBookmarks=true&timeoutSeconds=T`) is a
  200 whose chunked body carries one JSON event per line, {"type", "object"}, as each
  happens; the server ends it cleanly after timeoutSeconds. An ERROR event carries a
  Status (410 Expired: the resourceVersion is too old, list again).
- A failure is a `Status` object: 401 (credentials not accepted), 403 (the message names
  user, verb and resource), 404, 410 (Expired, Gone), 429 and 5xx.

Every failure becomes one of the neutral source errors (blinkt_agent.errors) with a
one-line message; 410 is `Expired`, which the watcher answers with a new list. The
bearer token is sent as `Authorization: Bearer …` and never appears in a message.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import requests
import urllib3

from blinkt_agent import __version__
from blinkt_agent.errors import (
    AccessDenied,
    BadResponse,
    NodeUnknown,
    ServerError,
    SourceError,
    Unreachable,
)
from blinkt_agent.outside import dig, one_line
from blinkt_agent.sources.http import ServerNameAdapter, reason
from blinkt_agent.sources.kubernetes.credentials import Credentials, FileToken

CONNECT_TIMEOUT = 5.0
READ_SLACK = 30.0  # past timeoutSeconds, before a silent watch counts as hung
MAX_LINE = 16 << 20  # one event: far above any pod or node (etcd's object limit is 1.5 MiB)

# What blinkt-agent's ClusterRole grants (deploy/kubernetes/rbac.yaml; tests check the two
# agree), said with every 403.
RBAC_RULES = "pods: list, watch; nodes: get, list, watch"
RBAC_HINT = f"blinkt-agent's ClusterRole grants {RBAC_RULES} (deploy/kubernetes/rbac.yaml)"


def selector_value(value: str) -> str:
    """A value inside a fieldSelector, escaped as apimachinery's fields.EscapeValue does
    (backslash, comma and equals sign), so that a name cannot add a term."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


class Expired(SourceError):
    """410: the resourceVersion asked for is older than the server keeps: list again."""

    kind = "expired"


Event = tuple[str, dict[str, Any]]


class KubeClient:
    """Reads from one API server (`credentials.server`, like https://127.0.0.1:6443)."""

    def __init__(
        self,
        credentials: Credentials,
        session: requests.Session | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.server = credentials.server.rstrip("/")
        self._credentials = credentials
        self._session = session or requests.Session()
        self._connect_timeout = connect_timeout
        self._streams: set[requests.Response] = set()  # open watches, closed by close()
        self._closed = False
        self._tls = credentials.tls_files()
        self._session.headers["User-Agent"] = f"blinkt-agent/{__version__}"
        self._session.headers["Accept"] = "application/json"
        if credentials.skip_verify:
            # Said once here (and by the agent at start), not by urllib3 on every request.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        if credentials.server_name:
            self._session.mount("https://", ServerNameAdapter(credentials.server_name))

    @property
    def hostport(self) -> str:
        return self.server.split("://", 1)[-1]

    def close(self) -> None:
        """Ends open watches too (from any thread): their readers see the stream end.

        A watch's socket is shut down, not closed: closing the file a reader thread is
        blocked in would wait for that read (its buffer's lock), up to the watch's timeout.
        """
        self._closed = True
        for response in list(self._streams):
            sock = getattr(getattr(response.raw, "_connection", None), "sock", None)
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    # The plain socket's shutdown, also under TLS: SSLSocket.shutdown would
                    # drop the SSL object the reading thread is using.
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
        self._session.close()
        self._tls.close()

    # -- requests ----------------------------------------------------------------------------

    def _request(
        self, path: str, params: dict[str, Any] | None, read_timeout: float, stream: bool
    ) -> requests.Response:
        headers = {}
        token = self._credentials.token() if self._credentials.token else ""
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = time.monotonic()
        try:
            response = self._session.get(
                self.server + path,
                params=params,
                headers=headers,
                timeout=(self._connect_timeout, read_timeout),
                verify=self._tls.verify,
                cert=self._tls.cert,
                allow_redirects=False,
                stream=stream,
            )
        except requests.exceptions.SSLError as err:
            raise Unreachable(f"Kubernetes {self.hostport}: TLS error: {reason(err)}") from None
        except requests.exceptions.RequestException as err:
            raise Unreachable(f"Kubernetes {self.hostport}: {reason(err)}") from None
        if response.status_code == 401 and isinstance(self._credentials.token, FileToken):
            # A rotated service account token: read the file again next time (client-go).
            self._credentials.token.reset_if_read_before(started)
        if response.status_code != 200:
            try:
                raise self._error(path, response)
            finally:
                response.close()
        return response

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET one JSON object (a list or an object)."""
        response = self._request(path, params, READ_SLACK, stream=False)
        try:
            data = response.json()
        except ValueError:
            raise BadResponse(f"Kubernetes {self.hostport}: {path} is not JSON") from None
        if not isinstance(data, dict):
            raise BadResponse(f"Kubernetes {self.hostport}: {path} is not a JSON object")
        return data

    def list(self, path: str, params: dict[str, Any] | None = None) -> tuple[list[Any], str]:
        """(items, the list's resourceVersion): where a watch of the same things resumes."""
        data = self.get(path, params)
        items, version = data.get("items"), dig(data, "metadata", "resourceVersion")
        if not isinstance(items, list) and items is not None:
            raise BadResponse(f"Kubernetes {self.hostport}: {path} has no list of items")
        if not isinstance(version, str) or not version:
            raise BadResponse(f"Kubernetes {self.hostport}: {path} has no resourceVersion")
        return items or [], version

    def watch(
        self, path: str, params: dict[str, Any], resource_version: str, timeout: int
    ) -> Iterator[Event]:
        """The events after `resource_version`, as they come, until the server ends the
        watch (after about `timeout` seconds); an ERROR event is raised as its Status."""
        query = dict(params)
        query.update(
            watch="1",
            resourceVersion=resource_version,
            allowWatchBookmarks="true",
            timeoutSeconds=str(timeout),
        )
        if self._closed:
            return  # stopped before this watch began
        response = self._request(path, query, timeout + READ_SLACK, stream=True)
        self._streams.add(response)
        try:
            if self._closed:  # stopped while it was being asked for
                return
            for line in self._lines(response):
                event = self._event(path, line)
                if event[0] == "ERROR":
                    raise self._status_error(path, event[1], 0)
                yield event
        finally:
            self._streams.discard(response)
            response.close()

    def _lines(self, response: requests.Response) -> Iterator[bytes]:
        """The body's lines as they arrive: urllib3 yields each HTTP chunk as it comes."""
        pending = b""
        try:
            for chunk in response.iter_content(chunk_size=None):
                pending += chunk
                if len(pending) > MAX_LINE:
                    raise BadResponse(f"Kubernetes {self.hostport}: a watch event is too long")
                *lines, pending = pending.split(b"\n")
                yield from (line for line in lines if line.strip())
        except (requests.exceptions.RequestException, OSError, ValueError, AttributeError) as err:
            if self._closed:
                return  # close() from another thread ended it (urllib3 then trips on its fp)
            raise Unreachable(f"Kubernetes {self.hostport}: watch: {reason(err)}") from None
        if pending.strip():
            yield pending

    def _event(self, path: str, line: bytes) -> Event:
        try:
            event = json.loads(line)
        except ValueError:
            raise BadResponse(
                f"Kubernetes {self.hostport}: {path} sent a line that is not JSON"
            ) from None
        kind, obj = dig(event, "type"), dig(event, "object")
        if not isinstance(kind, str) or not isinstance(obj, dict):
            raise BadResponse(f"Kubernetes {self.hostport}: {path} sent an event without type")
        return kind, obj

    # -- errors ------------------------------------------------------------------------------

    def _error(self, path: str, response: requests.Response) -> SourceError:
        try:
            status = response.json()
        except ValueError:
            status = {"message": response.text}
        return self._status_error(path, status, response.status_code)

    def _status_error(self, path: str, status: object, http_code: int) -> SourceError:
        """The neutral error for a Status object (or an HTTP status without one)."""
        code = dig(status, "code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else http_code
        message = dig(status, "message")
        said = _short(message if isinstance(message, str) else "") or "no message"
        where = f"Kubernetes {self.hostport}"
        if code == 401:
            return AccessDenied(
                f"{where}: 401 Unauthorized for {path}: the API server does not accept the "
                f"credentials from {self._credentials.source or 'the kubeconfig'} (an expired "
                "or revoked token, or a certificate of another cluster?)"
            )
        if code == 403:
            return AccessDenied(f'{where}: 403 "{said}"; {RBAC_HINT}')
        if code == 404:
            return NodeUnknown(f"{where}: {path}: 404 {said}")
        if code == 410:
            return Expired(f"{where}: {path}: 410 {said}")
        if code == 429 or code >= 500:
            return ServerError(f"{where}: HTTP {code} for {path} ({said})")
        if not code:  # an ERROR event whose Status has no code
            return BadResponse(f"{where}: {path}: the watch sent an ERROR ({said})")
        return BadResponse(f"{where}: unexpected HTTP {code} for {path} ({said})")


def _short(text: str) -> str:
    text = " ".join(one_line(text).split())
    return text[:200] + "…" if len(text) > 200 else text

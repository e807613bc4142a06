"""A small Nomad HTTP API client: the few reads we need, typed errors, blocking queries.

Every failure becomes one of the neutral source errors (blinkt_agent.errors) with a
one-line message; the ACL token is sent as X-Nomad-Token and never appears in a message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import requests
import urllib3

from blinkt_agent.errors import (
    AccessDenied,
    AmbiguousNode,
    BadResponse,
    NodeUnknown,
    ServerError,
    Unreachable,
)
from blinkt_agent.outside import as_list, dig
from blinkt_agent.sources.http import ServerNameAdapter, reason

CONNECT_TIMEOUT = 5.0
# Nomad adds up to wait/16 of random jitter to a blocking query; allow that plus slack.
READ_SLACK = 10.0
# Nomad blocks a query at most this long, whatever ?wait asks (structs.MaxBlockingRPCQueryTime).
NOMAD_MAX_WAIT = 300.0

# The ACL policy blinkt-agent's token needs, in Nomad's HCL (`nomad acl policy apply`):
# agent read for /v1/agent/self (which node this host's client is, and how many
# allocations it runs), node read for the node and its allocations, and read-job in
# every namespace: without it Nomad silently leaves those namespaces' allocations out.
# The packaged config and the Ansible role quote this block (tests check they match).
ACL_POLICY = """\
agent {
  policy = "read"
}

node {
  policy = "read"
}

namespace "*" {
  capabilities = ["read-job"]
}
"""
ACL_POLICY_LINE = " ".join(ACL_POLICY.split())  # the same HCL on one line, for messages


# Nomad's node statuses (nomad/structs/structs.go NodeStatus*): only "down" is terminal
# (Node.TerminalStatus); a down registration stays listed until node GC (24 h). Among
# several registrations of one name the best rank wins: ready, then a client that is
# registering, then one that missed heartbeats but may come back (disconnected).
NODE_STATUS_RANK = {"ready": 0, "initializing": 1, "disconnected": 2, "down": 4}
_OTHER_LIVE_RANK = 3  # a status this version does not know: live, least preferred
DOWN_RANK = NODE_STATUS_RANK["down"]

# The rule of ACL_POLICY whose absence hides allocations instead of refusing them.
READ_JOB_RULE = 'namespace "*" { capabilities = ["read-job"] }'


# What a 403 from each endpoint we call means the token lacks: its short name and the
# rule of ACL_POLICY that grants it. The allocations endpoint answers 403 only without
# node read; missing read-job is no error there (the allocations are just left out).
CAPABILITIES = (
    (re.compile(r"^/v1/agent/"), "agent:read", 'agent { policy = "read" }'),
    (re.compile(r"^/v1/nodes?\b"), "node:read", 'node { policy = "read" }'),
)


def capability_for(path: str) -> tuple[str, str]:
    """(short name, HCL rule) of what a 403 for `path` says the token lacks."""
    for pattern, capability, rule in CAPABILITIES:
        if pattern.search(path):
            return capability, rule
    return "read access", ACL_POLICY_LINE


def denied_message(hostport: str, path: str, body: str) -> str:
    """One line: Nomad's own answer, what the token lacks, and the whole policy to paste."""
    said = _one_line(body) or "no body"
    policy = ACL_POLICY_LINE
    if said == "ACL token not found":
        reason = "Nomad does not know this token (check token / token_file)"
    else:
        capability, rule = capability_for(path)
        reason = f"the ACL token needs {capability}: {rule} (or it is unknown or expired)"
    return f'Nomad {hostport}: 403 "{said}" for {path}: {reason}; blinkt-agent\'s policy: {policy}'


def hidden_allocations(agent_self: object, node_id: str, allocations: object) -> int:
    """How many of the node's allocations the answer left out: a token without read-job
    in some namespace gets a 200 without them (Nomad's Node.GetAllocs filters silently).

    Only this node's own client can tell: /v1/agent/self stats.client.num_allocations
    counts every allocation it runs, in every namespace, whatever the token. 0 when the
    agent is another node's client (or no client), when the count is missing, or when the
    answer holds as many or more (the client has already dropped stopped ones it was
    garbage-collecting, or not yet picked up new ones). Pure: no I/O.
    """
    if dig(agent_self, "stats", "client", "node_id") != node_id or not node_id:
        return 0
    count = dig(agent_self, "stats", "client", "num_allocations")
    try:
        running = int(count) if isinstance(count, str | int) and not isinstance(count, bool) else 0
    except ValueError:
        return 0
    shown = len(allocations) if isinstance(allocations, list) else 0
    return max(0, running - shown)


def client_node_id(agent_self: object, hostport: str) -> str:
    """stats.client.node_id of a /v1/agent/self answer: the node this agent is the client of."""
    node_id = dig(agent_self, "stats", "client", "node_id")
    if not isinstance(node_id, str) or not node_id:
        raise BadResponse(
            f"Nomad {hostport}: /v1/agent/self has no stats.client.node_id "
            "(is this agent a Nomad client? set `node` to watch another node)"
        )
    return node_id


def pick_node(name: str, nodes: object) -> dict[str, Any]:
    """The registration of `name` to show among /v1/nodes stubs. Pure: no I/O.

    A re-imaged Pi registers a new ID under its old name, and the old registration stays
    listed as "down" for about a day. So: the best status (NODE_STATUS_RANK: ready, then
    initializing, then disconnected; down last), then the newest CreateIndex. Several
    registrations in the same live status cannot be told apart (two Pis with one name):
    AmbiguousNode. None at all: NodeUnknown.
    """
    matches = [n for n in as_list(nodes) if isinstance(n, dict) and n.get("Name") == name]
    if not matches:
        raise NodeUnknown(f"node: no Nomad node is named {name!r}")

    def rank(node: dict[str, Any]) -> int:
        return NODE_STATUS_RANK.get(node.get("Status"), _OTHER_LIVE_RANK)  # type: ignore[arg-type]

    best = min(rank(n) for n in matches)
    top = [n for n in matches if rank(n) == best]
    if best != DOWN_RANK and len(top) > 1:
        # IDs and statuses come from outside: one line, whatever they hold.
        which = " ".join(
            ", ".join(f"{str(n.get('ID', '?'))[:8]} {n.get('Status')}" for n in top).split()
        )
        raise AmbiguousNode(
            f"node: {len(top)} live Nomad nodes are named {name!r} ({which}): give each Pi its "
            "own name, or purge the stale registration (nomad node purge)"
        )
    return max(top, key=lambda n: _create_index(n.get("CreateIndex")))


def _create_index(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


@dataclass(frozen=True)
class TLS:
    ca_cert: str = ""
    client_cert: str = ""
    client_key: str = ""
    server_name: str = ""
    skip_verify: bool = False


class NomadClient:
    """Reads from one Nomad agent's HTTP API (`address` like http://host:4646)."""

    def __init__(
        self,
        address: str,
        token: str = "",
        tls: TLS | None = None,
        session: requests.Session | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.address = address.rstrip("/")
        self._session = session or requests.Session()
        self._connect_timeout = connect_timeout
        tls = tls or TLS()
        if token:
            self._session.headers["X-Nomad-Token"] = token
        self._session.headers["User-Agent"] = "blinkt-agent"
        # Passed with every request: a session-level setting would lose to
        # REQUESTS_CA_BUNDLE from the environment (requests merges it per request).
        self._verify: bool | str = False if tls.skip_verify else (tls.ca_cert or True)
        if tls.skip_verify:
            # Said once here, not by urllib3 on every request into the journal.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._cert = (tls.client_cert, tls.client_key) if tls.client_cert else None
        if tls.server_name:
            self._session.mount("https://", ServerNameAdapter(tls.server_name))

    @property
    def hostport(self) -> str:
        return self.address.split("://", 1)[-1]

    def close(self) -> None:
        self._session.close()

    def get(
        self, path: str, params: dict[str, Any] | None = None, wait: float | None = None
    ) -> tuple[Any, int]:
        """GET a JSON document; returns (data, X-Nomad-Index or 0)."""
        read_timeout = (wait or 0) * (1 + 1 / 16) + READ_SLACK
        try:
            response = self._session.get(
                self.address + path,
                params=params,
                timeout=(self._connect_timeout, read_timeout),
                verify=self._verify,
                cert=self._cert,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as err:
            raise Unreachable(f"Nomad {self.hostport}: TLS error: {reason(err)}") from None
        except requests.exceptions.RequestException as err:
            raise Unreachable(f"Nomad {self.hostport}: {reason(err)}") from None
        status = response.status_code
        if status == 403:
            raise AccessDenied(denied_message(self.hostport, path, response.text))
        if status == 404:
            raise NodeUnknown(f"Nomad {self.hostport}: {path} not found ({_body(response)})")
        if status >= 500:
            raise ServerError(
                f"Nomad {self.hostport}: HTTP {status} for {path} ({_body(response)})"
            )
        if status != 200:
            raise BadResponse(f"Nomad {self.hostport}: unexpected HTTP {status} for {path}")
        try:
            data = response.json()
        except (json.JSONDecodeError, ValueError):
            raise BadResponse(f"Nomad {self.hostport}: {path} returned malformed JSON") from None
        return data, _index(response)

    # The endpoints we use.

    def agent_self(self) -> dict[str, object]:
        """GET /v1/agent/self: this agent's config and stats (needs agent:read)."""
        data, _ = self.get("/v1/agent/self")
        if not isinstance(data, dict):
            raise BadResponse(f"Nomad {self.hostport}: /v1/agent/self is not an object")
        return data

    def local_node_id(self) -> str:
        return client_node_id(self.agent_self(), self.hostport)

    def node_id_by_name(self, name: str) -> str:
        """The ID of the registration of `name` to show (see pick_node)."""
        data, _ = self.get("/v1/nodes", params={"filter": f'Name == "{_quote(name)}"'})
        if not isinstance(data, list):
            raise BadResponse(f"Nomad {self.hostport}: /v1/nodes did not return a list")
        node_id = pick_node(name, data).get("ID")
        if not isinstance(node_id, str) or not node_id:
            raise BadResponse(f"Nomad {self.hostport}: node {name!r} has no ID")
        return node_id

    def node(self, node_id: str) -> dict[str, object]:
        data, _ = self.get(f"/v1/node/{node_id}")
        if not isinstance(data, dict):
            raise BadResponse(f"Nomad {self.hostport}: /v1/node/{node_id} is not an object")
        return data

    def node_allocations(self, node_id: str, index: int, wait: float) -> tuple[list[object], int]:
        """Blocking query: returns when the index passes `index` or `wait` runs out
        (Nomad waits at most NOMAD_MAX_WAIT, plus up to 1/16 of it)."""
        return self.blocking_list(
            f"/v1/node/{node_id}/allocations", index, wait, what=f"allocations of {node_id}"
        )

    def nodes(self, index: int, wait: float) -> tuple[list[object], int]:
        """Blocking query on the node list (stubs: Name, Status, Drain, SchedulingEligibility);
        it answers the nodes table's index (nomad/node_endpoint.go List)."""
        return self.blocking_list("/v1/nodes", index, wait)

    def allocations(self, index: int, wait: float) -> tuple[list[object], int]:
        """Blocking query on every allocation in every namespace the token can read-job in
        (stubs: NodeID, ClientStatus, DesiredStatus, CreateIndex, ModifyTime...). It answers
        the allocs table's index and wakes on any allocation write (nomad/alloc_endpoint.go
        List); a token without read-job in any namespace is refused (403)."""
        return self.blocking_list("/v1/allocations", index, wait, {"namespace": "*"})

    def blocking_list(
        self,
        path: str,
        index: int,
        wait: float,
        params: dict[str, Any] | None = None,
        what: str = "",
    ) -> tuple[list[object], int]:
        """GET a list, blocking when `index` is not 0: (list, X-Nomad-Index or 0)."""
        wait = min(wait, NOMAD_MAX_WAIT)
        query = dict(params or {})
        if index:
            query.update(index=index, wait=f"{int(wait * 1000)}ms")
        data, new_index = self.get(path, params=query or None, wait=wait if index else None)
        if not isinstance(data, list):
            raise BadResponse(f"Nomad {self.hostport}: {what or path} is not a list")
        return data, new_index


def _index(response: requests.Response) -> int:
    try:
        return max(0, int(response.headers.get("X-Nomad-Index", "0")))
    except ValueError:
        return 0


def _body(response: requests.Response) -> str:
    return _one_line(response.text) or "no body"


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return (text[:120] + "…") if len(text) > 120 else text


def _quote(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')

"""Hypothesis against what comes from outside: DNS answers and Nomad's JSON, over real sockets."""

import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blinkt_agent.discovery import DiscoveryError, SrvQuery, lookup
from blinkt_agent.nomad import NomadClient, NomadError
from blinkt_agent.sim import SimConsulDNS

node_names = st.from_regex(r"[a-z][a-z0-9-]{0,14}", fullmatch=True)
instances = st.lists(
    st.tuples(
        node_names,
        st.integers(0x01000001, 0xDFFFFFFE).map(lambda n: str(ipaddress.IPv4Address(n))),
        st.integers(1, 65535),
        st.integers(0, 65535),
        st.integers(0, 65535),
        st.booleans(),
    ),
    max_size=6,
    unique_by=lambda t: t[0],
)


@pytest.fixture(scope="module")
def dns():
    with SimConsulDNS(udp_answer_limit=16) as server:
        yield server


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(registered=instances)
def test_any_consul_answer_gives_exactly_the_registered_instances(dns, registered):
    dns.omit_additional = len(registered) % 2 == 1  # half the time targets need A queries
    for node, ip, port, priority, weight, addr_target in registered:
        dns.register("nomad-client", node, ip, port, priority=priority, weight=weight,
                     addr_target=addr_target)  # fmt: skip
    host, port = dns.address.split(":")
    query = SrvQuery(host, int(port), timeout=1.0)
    try:
        if not registered:
            with pytest.raises(DiscoveryError):
                lookup(query)
            return
        found = {(e.url, e.node, e.priority, e.weight) for e in lookup(query)}
    finally:
        for node, *_ in registered:
            dns.deregister("nomad-client", node)
    expected = {
        (f"http://{ip}:{p}", None if addr else node, prio, w)
        for node, ip, p, prio, w, addr in registered
    }
    assert found == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


class Canned(BaseHTTPRequestHandler):
    """Answers every GET with the body and index the test set last."""

    body = b"null"
    index = "1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Nomad-Index", self.index)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def canned():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield NomadClient(f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=json_values, index=st.text(max_size=6) | st.integers().map(str))
def test_any_json_from_nomad_is_parsed_or_refused_with_a_nomad_error(canned, body, index):
    Canned.body = json.dumps(body).encode()
    Canned.index = index if index.isprintable() and index.isascii() else "0"
    for call in (
        canned.local_node_id,
        lambda: canned.node_id_by_name("pi-01"),
        lambda: canned.node("n1"),
        lambda: canned.node_allocations("n1", 0, 1),
    ):
        try:
            call()
        except NomadError as err:
            assert "\n" not in str(err)

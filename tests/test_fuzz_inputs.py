"""Hypothesis against what comes from outside: DNS answers and Nomad's JSON, over real sockets."""

import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from blinkt_agent import hostnames
from blinkt_agent.discovery import DiscoveryError, Owner, SrvQuery, lookup
from blinkt_agent.nomad import NomadClient, NomadError
from blinkt_agent.sim import SimConsulDNS

node_names = st.from_regex(r"[a-z][a-z0-9-]{0,14}", fullmatch=True).filter(lambda n: n != "ghost")
ipv4s = st.integers(0x01000001, 0xDFFFFFFE).map(lambda n: str(ipaddress.IPv4Address(n)))
ipv6s = st.integers(1, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
instances = st.lists(
    st.tuples(
        node_names,
        ipv4s | ipv6s,
        st.integers(1, 65535),  # port
        st.integers(0, 65535),  # weight (Weights.Passing)
        st.booleans(),  # registered with its address (as Nomad does) or without
    ),
    max_size=6,
    unique_by=(lambda t: t[0], lambda t: t[1]),
)

# (TCP, Consul 1.19.0's service-name targets): without TCP the agent asks over UDP + EDNS0.
VARIANTS = [(True, False), (False, False), (True, True), (False, True)]


@pytest.fixture(scope="module")
def servers():
    sims = {v: SimConsulDNS(tcp=v[0], service_name_targets=v[1]) for v in VARIANTS}
    for sim in sims.values():
        sim.start()
    yield sims
    for sim in sims.values():
        sim.stop()


def _url(ip: str, port: int) -> str:
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{port}"


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    registered=instances,
    variant=st.sampled_from(VARIANTS),
    omit_additional=st.booleans(),
    pick=st.integers(0, 6),
)
def test_any_consul_answer_gives_exactly_the_registered_instances_and_ours(
    servers, registered, variant, omit_additional, pick
):
    sim = servers[variant]
    # 1.19.0 targets share one name: without ADDITIONAL the ports cannot be told apart
    sim.omit_additional = omit_additional and not variant[1]
    own = registered[pick][0] if pick < len(registered) else "ghost"
    for node, ip, port, weight, with_address in registered:
        sim.register("nomad-client", node, ip, port, weight=weight, with_address=with_address)
    query = SrvQuery(sim.host, sim.port, timeout=1.0)
    try:
        if not registered:
            with pytest.raises(DiscoveryError):
                lookup(query, own)
            return
        found = {(e.url, e.owner, e.node, e.priority, e.weight) for e in lookup(query, own)}
    finally:
        for node, *_ in registered:
            sim.deregister("nomad-client", node)
    expected = set()
    for node, ip, port, weight, with_address in registered:
        if not with_address:  # a .node. target names the node
            owner = Owner.OWN if node == own else Owner.OTHER
            name = node
        elif own == "ghost":
            owner, name = Owner.UNKNOWN, None
        else:
            owner = Owner.OWN if node == own else Owner.OTHER
            name = node if node == own else None
        expected.add((_url(ip, port), owner, name, 1, weight))
    assert found == expected


# Arbitrary answers, whatever a broken or hostile server sends: records of any type in any
# section, targets inside and outside the domain, any rcode, TC. Discovery must give
# endpoints with literal IP addresses, or one DiscoveryError; nothing else.
labels = st.sampled_from(["pi-01", "pi-02", "b"]) | st.from_regex(
    r"[a-z0-9-]{1,10}", fullmatch=True
)
names = st.one_of(
    labels.map(lambda n: f"{n}.node.dc1.consul."),
    st.from_regex(r"[0-9a-f]{8}|[0-9a-f]{32}|[0-9a-z]{1,34}", fullmatch=True).map(
        lambda h: f"{h}.addr.dc1.consul."
    ),
    st.just("nomad-client.service.dc1.consul."),
    st.tuples(labels, labels).map(lambda t: f"{t[0]}.{t[1]}."),  # outside the domain
)
records = st.one_of(
    st.tuples(st.just("SRV"), names, st.tuples(st.integers(0, 65535), st.integers(0, 65535),
                                                 st.integers(0, 65535))),
    st.tuples(st.just("A"), names, ipv4s),
    st.tuples(st.just("AAAA"), names, ipv6s),
    st.tuples(st.just("CNAME"), names, names),
    st.tuples(st.just("TXT"), names, st.text(alphabet="abc= ", max_size=10)),
)  # fmt: skip
srv_records = st.tuples(st.just("SRV"), names, st.tuples(*[st.integers(0, 65535)] * 3))
answers = st.fixed_dictionaries(
    {
        "rcode": st.sampled_from([dns.rcode.NOERROR] * 8 + [dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL,
                                                             dns.rcode.REFUSED]),
        "tc": st.sampled_from([False] * 4 + [True]),
        "answer": st.lists(srv_records | records, max_size=8),
        "additional": st.lists(records, max_size=8),
    }
)  # fmt: skip


def _rrset(kind, name, data):
    if kind == "SRV":
        data = f"{data[0]} {data[1]} {data[2]} {name}"
        name = "http.nomad-client.service.consul."
    elif kind in ("CNAME",):
        data = data
    elif kind == "TXT":
        data = '"' + data + '"'
    return dns.rrset.from_text(name, 0, "IN", kind, data)


class Scripted(SimConsulDNS):
    """Answers every question with the script the test set last."""

    script: dict = {"rcode": 0, "tc": False, "answer": [], "additional": []}

    def respond(self, query, transport="udp"):
        response = dns.message.make_response(query)
        response.set_rcode(self.script["rcode"])
        if self.script["tc"]:
            response.flags |= dns.flags.TC
        response.answer = [_rrset(*r) for r in self.script["answer"]]
        response.additional = [_rrset(*r) for r in self.script["additional"]]
        return response


@pytest.fixture(scope="module")
def scripted():
    with Scripted(tcp=True) as tcp_server, Scripted(tcp=False) as udp_server:
        yield tcp_server, udp_server


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=answers, over_tcp=st.booleans(), external=st.one_of(st.none(), ipv4s))
def test_any_answer_gives_endpoints_or_one_discovery_error(scripted, script, over_tcp, external):
    server = scripted[0 if over_tcp else 1]
    server.script = script

    def resolve(name):
        if hostnames.is_ip(name):
            return [name]
        if external is None:
            raise hostnames.NameUnknown("unknown")
        return [external]

    query = SrvQuery(server.host, server.port, timeout=1.0)
    try:
        endpoints = lookup(query, "pi-01", resolve_host=resolve)
    except DiscoveryError as err:
        assert "\n" not in str(err)
        event(str(err).partition(": ")[2][:40])
        return
    event("endpoints")
    srv_ports = {r[2][2] for r in script["answer"] if r[0] == "SRV"}
    for endpoint in endpoints:
        host, _, port = endpoint.url.removeprefix("http://").rpartition(":")
        ipaddress.ip_address(host.strip("[]"))
        assert int(port) in srv_ports


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

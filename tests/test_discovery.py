"""Consul DNS discovery against SimConsulDNS on loopback (real UDP and TCP sockets)."""

import logging
import random
import socket

import dns.message
import dns.rcode
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blinkt_agent import hostnames
from blinkt_agent.sim import SimConsulDNS
from blinkt_agent.sources.nomad import discovery
from blinkt_agent.sources.nomad.discovery import (
    DiscoveryError,
    Endpoint,
    NomadLocator,
    Owner,
    SrvQuery,
    lookup,
    node_of,
    order,
)


def query_for(sim, **kw) -> SrvQuery:
    return SrvQuery(dns_host=sim.host, dns_port=sim.port, timeout=0.5, **kw)


def fleet(sim, count, **kw):
    """`count` Pis, pi-01 … at 127.0.1.1 …, each with nomad-client at its own address."""
    for i in range(1, count + 1):
        sim.register("nomad-client", f"pi-{i:02d}", f"127.0.1.{i}", 4646, **kw)


def only_hosts(mapping):
    """A system resolver that knows `mapping` and nothing else (never asks the network)."""

    def resolve(name):
        if hostnames.is_ip(name):
            return [name]
        if name not in mapping:
            raise hostnames.NameUnknown("Name or service not known")
        if isinstance(mapping[name], Exception):
            raise mapping[name]
        return mapping[name]

    return resolve


# --- every instance ---------------------------------------------------------------------


def test_every_one_of_twelve_instances_is_seen_over_tcp(sim_dns):
    fleet(sim_dns, 12)
    endpoints = lookup(query_for(sim_dns), "pi-05")
    assert sorted(e.url for e in endpoints) == sorted(
        f"http://127.0.1.{i}:4646" for i in range(1, 13)
    )
    assert {a.transport for a in sim_dns.query_log} == {"tcp"}


def test_a_server_refusing_tcp_is_asked_over_udp_with_a_large_edns_size():
    with SimConsulDNS(tcp=False) as sim:
        fleet(sim, 12)
        endpoints = lookup(query_for(sim), "pi-05")
        asked = sim.query_log[0]
    assert len(endpoints) == 12
    assert (asked.transport, asked.payload) == ("udp", discovery.UDP_PAYLOAD)


def test_a_truncated_udp_answer_without_tcp_is_an_error(monkeypatch):
    monkeypatch.setattr(discovery, "UDP_PAYLOAD", 600)
    with SimConsulDNS(tcp=False, enable_truncate=True) as sim:
        fleet(sim, 12)
        with pytest.raises(DiscoveryError, match=r"truncated answer .* TCP is refused"):
            lookup(query_for(sim), "pi-05")


# --- which instance is ours ---------------------------------------------------------------


def test_own_instance_is_recognised_by_the_address_of_its_consul_node(sim_dns):
    fleet(sim_dns, 12)
    endpoints = lookup(query_for(sim_dns), "pi-05")
    [own] = [e for e in endpoints if e.is_own]
    assert (own.url, own.node, own.target) == (
        "http://127.0.1.5:4646",
        "pi-05",
        "7f000105.addr.dc1.consul.",
    )
    assert {(e.owner, e.node) for e in endpoints if e is not own} == {(Owner.OTHER, None)}
    assert ("pi-05.node.consul.", "A") in {(a.name, a.rdtype) for a in sim_dns.query_log}


def test_own_node_name_is_matched_without_regard_to_case(sim_dns):
    fleet(sim_dns, 3)
    assert [e.url for e in lookup(query_for(sim_dns), "PI-02") if e.is_own] == [
        "http://127.0.1.2:4646"
    ]


def test_an_unknown_node_name_leaves_every_instance_unknown_never_own(sim_dns):
    fleet(sim_dns, 3)
    endpoints = lookup(query_for(sim_dns), "ghost")
    assert {e.owner for e in endpoints} == {Owner.UNKNOWN}
    assert not any(e.is_own for e in endpoints)


def test_no_node_name_leaves_every_instance_unknown(sim_dns):
    fleet(sim_dns, 2)
    assert {e.owner for e in lookup(query_for(sim_dns), "")} == {Owner.UNKNOWN}


def test_a_client_advertising_another_address_than_its_node_is_not_taken_for_ours(sim_dns):
    fleet(sim_dns, 2)
    sim_dns.register("nomad-client", "pi-01", "127.0.1.101", 4646, node_address="127.0.1.1")
    assert {e.owner for e in lookup(query_for(sim_dns), "pi-01")} == {Owner.OTHER}


def test_node_targets_still_name_the_node(sim_dns):
    fleet(sim_dns, 3, with_address=False)
    endpoints = {e.node: e for e in lookup(query_for(sim_dns), "pi-02")}
    assert set(endpoints) == {"pi-01", "pi-02", "pi-03"}
    assert endpoints["pi-02"].is_own and endpoints["pi-02"].target == "pi-02.node.dc1.consul."
    assert endpoints["pi-01"].owner is Owner.OTHER


def test_consul_1_19_0_service_name_targets_still_give_every_instance_and_ours():
    with SimConsulDNS(service_name_targets=True) as sim:
        fleet(sim, 5)
        endpoints = lookup(query_for(sim), "pi-04")
    assert sorted(e.url for e in endpoints) == [f"http://127.0.1.{i}:4646" for i in range(1, 6)]
    assert [e.url for e in endpoints if e.is_own] == ["http://127.0.1.4:4646"]


def test_consul_1_19_0_targets_without_additional_are_asked_for_their_addresses():
    with SimConsulDNS(service_name_targets=True) as sim:
        fleet(sim, 5)
        sim.omit_additional = True
        endpoints = lookup(query_for(sim), "pi-04")
        asked = [(a.name, a.rdtype, a.transport) for a in sim.query_log]
    assert len(endpoints) == 5
    assert ("nomad-client.service.dc1.consul.", "A", "tcp") in asked


def test_ipv6_instances_get_bracketed_urls_and_are_matched_by_aaaa(sim_dns):
    for i in (1, 2):
        sim_dns.register("nomad-client", f"pi-0{i}", f"fd00::2{i}", 4646)
    endpoints = {e.url: e for e in lookup(query_for(sim_dns), "pi-02")}
    assert set(endpoints) == {"http://[fd00::21]:4646", "http://[fd00::22]:4646"}
    assert endpoints["http://[fd00::22]:4646"].is_own
    assert endpoints["http://[fd00::22]:4646"].hostport == "[fd00::22]:4646"


# --- addresses of targets -----------------------------------------------------------------


def test_addr_targets_without_additional_are_read_from_their_name(sim_dns):
    fleet(sim_dns, 2)
    sim_dns.omit_additional = True
    assert len(lookup(query_for(sim_dns), "pi-01")) == 2
    assert not [a for a in sim_dns.query_log if ".addr." in a.name]


def test_node_targets_without_additional_are_asked_for_a_and_aaaa(sim_dns):
    fleet(sim_dns, 1, with_address=False)
    sim_dns.omit_additional = True
    [endpoint] = lookup(query_for(sim_dns), "pi-01")
    assert endpoint.url == "http://127.0.1.1:4646"
    asked = {(a.name, a.rdtype) for a in sim_dns.query_log}
    assert {("pi-01.node.dc1.consul.", "A"), ("pi-01.node.dc1.consul.", "AAAA")} <= asked


def test_targets_outside_the_consul_domain_use_the_system_resolver(sim_dns):
    sim_dns.register(
        "nomad-client", "pi-01", "nomad-01.example.lan", 4646, node_address="127.0.1.1"
    )
    resolver = only_hosts({"nomad-01.example.lan": ["192.0.2.50"]})
    [endpoint] = lookup(query_for(sim_dns), "pi-01", resolve_host=resolver)
    assert endpoint.url == "http://192.0.2.50:4646" and endpoint.owner is Owner.OTHER
    assert not [a for a in sim_dns.query_log if "example" in a.name]


def test_an_unresolvable_external_target_is_skipped(sim_dns):
    fleet(sim_dns, 1)
    sim_dns.register("nomad-client", "pi-02", "gone.example.lan", 4646, node_address="127.0.1.2")
    assert [e.url for e in lookup(query_for(sim_dns), "", resolve_host=only_hosts({}))] == [
        "http://127.0.1.1:4646"
    ]


# --- the DNS server's own name ------------------------------------------------------------


def test_the_dns_server_may_be_named(sim_dns):
    fleet(sim_dns, 2)
    query = SrvQuery("consul.lan", sim_dns.port, timeout=0.5)
    resolver = only_hosts({"consul.lan": [sim_dns.host]})
    assert len(lookup(query, "pi-01", resolve_host=resolver)) == 2


def test_localhost_works_with_the_real_system_resolver(sim_dns):
    """consul.dns = "localhost:8600" used to kill the Nomad thread (dnspython wants an IP)."""
    fleet(sim_dns, 2)
    assert len(lookup(SrvQuery("localhost", sim_dns.port, timeout=0.5), "pi-01")) == 2


def test_an_address_refusing_tcp_is_passed_over_for_the_next(sim_dns):
    fleet(sim_dns, 2)
    query = SrvQuery("localhost", sim_dns.port, timeout=0.5)
    with socket.socket() as s:  # the same port on 127.0.1.250 refuses connections
        s.bind(("127.0.1.250", sim_dns.port))
        resolver = only_hosts({"localhost": ["127.0.1.250", sim_dns.host]})
        assert len(lookup(query, "pi-01", resolve_host=resolver)) == 2
    assert {a.transport for a in sim_dns.query_log} == {"tcp"}


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_a_consul_dns_server_on_ipv6():
    with SimConsulDNS(host="::1") as sim:
        fleet(sim, 2)
        assert sim.address == f"[::1]:{sim.port}"
        query = SrvQuery("::1", sim.port, timeout=0.5)
        assert query.server == sim.address
        assert len(lookup(query, "pi-01")) == 2


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (hostnames.NameUnknown("Name or service not known"), "host 'consul.lan' does not exist"),
        (hostnames.NameNotYet("Temporary failure"), "cannot resolve 'consul.lan' yet"),
    ],
)
def test_an_unresolvable_dns_server_name_is_a_one_line_discovery_error(failure, message):
    query = SrvQuery("consul.lan", 8600, timeout=0.5)
    with pytest.raises(DiscoveryError, match=message) as info:
        lookup(query, "pi-01", resolve_host=only_hosts({"consul.lan": failure}))
    assert "\n" not in str(info.value)


# --- errors -------------------------------------------------------------------------------


def test_nxdomain_suggests_a_wrong_datacenter_or_domain(sim_dns):
    fleet(sim_dns, 1)
    with pytest.raises(DiscoveryError) as info:
        lookup(query_for(sim_dns, datacenter="dc2"), "pi-01")
    text = str(info.value)
    assert "NXDOMAIN" in text and 'datacenter "dc2"' in text
    assert "consul.datacenter" in text and "consul.domain" in text


def test_an_unknown_service_is_nxdomain_naming_service_and_tag(sim_dns):
    with pytest.raises(DiscoveryError, match='no healthy nomad-nope instance tagged "http"'):
        lookup(query_for(sim_dns, service="nomad-nope"), "pi-01")


def test_a_wrong_domain_is_refused_and_says_so(sim_dns):
    fleet(sim_dns, 1)
    with pytest.raises(DiscoveryError, match=r'REFUSED .*"lan".*check consul\.domain'):
        lookup(query_for(sim_dns, domain="lan"), "pi-01")


class ForeignZone(SimConsulDNS):
    """A forwarder that sends .consul upstream, which says NXDOMAIN from the root zone."""

    def respond(self, query, transport="udp"):
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.NXDOMAIN)
        soa = ". hostmaster. 1 1800 900 604800 86400"
        response.authority.append(dns.rrset.from_text(".", 0, "IN", "SOA", soa))
        return response


def test_nxdomain_from_another_zone_points_at_consul_domain_and_dns():
    with ForeignZone() as sim, pytest.raises(DiscoveryError, match="not Consul's"):
        lookup(query_for(sim), "pi-01")


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("nxdomain", "NXDOMAIN"),
        ("servfail", "SERVFAIL"),
        ("refused", "REFUSED"),
        ("drop", "no answer within 0.5 s"),
    ],
)
def test_dns_failures_are_one_line_discovery_errors(sim_dns, mode, message):
    fleet(sim_dns, 1)
    sim_dns.mode = mode
    with pytest.raises(DiscoveryError, match=message) as info:
        lookup(query_for(sim_dns), "pi-01")
    assert "\n" not in str(info.value)


def test_no_dns_server_listening_is_a_timeout_naming_the_server():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DiscoveryError, match=r"Consul DNS 127\.0\.0\.1:\d+: no answer within"):
        lookup(SrvQuery("127.0.0.1", port, timeout=0.3))


def test_a_round_has_a_time_budget(sim_dns):
    fleet(sim_dns, 1)
    ticks = iter([0, 100])
    with pytest.raises(DiscoveryError, match="no complete answer within 8 s"):
        lookup(query_for(sim_dns), "pi-01", clock=lambda: next(ticks))


def test_follow_up_questions_past_the_budget_leave_the_owner_unknown(sim_dns):
    fleet(sim_dns, 1)
    ticks = iter(range(0, 1000, 5))  # every look at the clock: 5 s later
    [endpoint] = lookup(query_for(sim_dns), "pi-01", clock=lambda: next(ticks))
    assert endpoint.owner is Owner.UNKNOWN


# --- order --------------------------------------------------------------------------------


def ep(name, priority=1, weight=1, owner=Owner.OTHER):
    return Endpoint(url=f"http://{name}:4646", owner=owner, priority=priority, weight=weight)


def test_own_instance_comes_first_whatever_its_priority():
    endpoints = [ep("a", 1), ep("b", 5), ep("mine", 9, owner=Owner.OWN)]
    assert order(endpoints, random.Random(0))[0].url == "http://mine:4646"


def test_an_unknown_instance_is_never_put_first_as_ours():
    endpoints = [ep("a", 1), ep("unknown", 0, owner=Owner.UNKNOWN)]
    ordered = order(endpoints, random.Random(0))
    assert ordered[0].url == "http://unknown:4646" and not ordered[0].is_own  # by priority only


def test_lower_priority_value_wins():
    ordered = order([ep("b", 20), ep("a", 10)], random.Random(0))
    assert [e.url for e in ordered] == ["http://a:4646", "http://b:4646"]


def test_weight_decides_who_goes_first_within_a_priority():
    firsts = [
        order([ep("heavy", 1, 90), ep("light", 1, 10)], random.Random(seed))[0].url
        for seed in range(200)
    ]
    assert 150 < firsts.count("http://heavy:4646") < 200


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("abcde"), st.integers(0, 3), st.integers(0, 9), st.sampled_from(Owner)
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(),
)
def test_order_is_a_permutation_with_own_first_then_by_priority(records, seed):
    endpoints = [ep(n, p, w, o) for n, p, w, o in records]
    ordered = order(endpoints, random.Random(seed))
    assert sorted(ordered, key=repr) == sorted(endpoints, key=repr)
    own = sum(e.is_own for e in endpoints)
    assert all(e.is_own for e in ordered[:own])
    rest = ordered[own:]
    assert [e.priority for e in rest] == sorted(e.priority for e in rest)


def test_node_of_reads_node_targets_only():
    assert node_of("pi-01.node.dc1.consul.", "consul") == "pi-01"
    assert node_of("pi-01.node.consul.", "consul") == "pi-01"
    assert node_of("rack-3.pi-01.node.dc1.consul.", "consul") == "rack-3.pi-01"
    assert node_of("c0a80115.addr.dc1.consul.", "consul") is None
    assert node_of("nomad-client.service.dc1.consul.", "consul") is None
    assert node_of("pi-01.node.example.lan.", "consul") is None


# --- the locator --------------------------------------------------------------------------


def test_locator_tries_our_own_instance_first_then_the_others_then_asks_again(sim_dns):
    fleet(sim_dns, 3)
    locator = NomadLocator(query_for(sim_dns), None, own_node="pi-02")
    assert locator.address() == "http://127.0.1.2:4646"
    own = locator.current()
    assert own is not None and own.is_own and own.node == "pi-02"
    assert locator.failed() is True
    other = locator.current()
    assert other is not None and not other.is_own
    assert locator.failed() is True
    assert locator.failed() is False
    srv_queries = sum(1 for a in sim_dns.query_log if a.rdtype == "SRV")
    assert locator.address() == "http://127.0.1.2:4646"
    assert sum(1 for a in sim_dns.query_log if a.rdtype == "SRV") == srv_queries + 1


def test_locator_says_once_when_no_instance_is_ours(sim_dns, caplog):
    fleet(sim_dns, 2)
    locator = NomadLocator(query_for(sim_dns), None, own_node="ghost")
    with caplog.at_level(logging.WARNING, logger="blinkt_agent.discovery"):
        locator.address()
        while locator.failed():
            pass
        locator.address()
    [record] = caplog.records
    assert "knows no node 'ghost' (consul.node_name)" in record.getMessage()
    current = locator.current()
    assert current is not None and current.owner is Owner.UNKNOWN


def test_locator_falls_back_to_the_static_address_when_dns_fails(sim_dns):
    sim_dns.mode = "servfail"
    locator = NomadLocator(query_for(sim_dns), "http://192.0.2.99:4646", own_node="pi-01")
    assert locator.address() == "http://192.0.2.99:4646"
    assert locator.via == "static fallback" and locator.current() is None


def test_locator_without_fallback_raises(sim_dns):
    sim_dns.mode = "nxdomain"
    with pytest.raises(DiscoveryError):
        NomadLocator(query_for(sim_dns), None, own_node="pi-01").address()


def test_static_locator_never_asks_dns():
    locator = NomadLocator(None, "http://192.0.2.5:4646", own_node="pi-01")
    assert locator.address() == "http://192.0.2.5:4646"
    assert locator.via == "static" and locator.current() is None

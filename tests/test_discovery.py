"""Consul DNS discovery against a real DNS server on a loopback UDP port."""

import random
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blinkt_agent.discovery import (
    DiscoveryError,
    Endpoint,
    NomadLocator,
    SrvQuery,
    lookup,
    node_of,
    order,
)


def query_for(dns, **kw) -> SrvQuery:
    host, port = dns.address.split(":")
    return SrvQuery(dns_host=host, dns_port=int(port), timeout=0.5, **kw)


def test_srv_answer_uses_the_additional_a_records(sim_dns):
    sim_dns.register("nomad-client", "pi-01", "192.0.2.11", 4646)
    sim_dns.register("nomad-client", "pi-02", "192.0.2.12", 4646)
    endpoints = lookup(query_for(sim_dns))
    assert {(e.url, e.node) for e in endpoints} == {
        ("http://192.0.2.11:4646", "pi-01"),
        ("http://192.0.2.12:4646", "pi-02"),
    }
    assert [q for q, t in sim_dns.query_log if t == "A"] == []


def test_missing_additional_records_are_resolved_with_a_queries(sim_dns):
    sim_dns.register("nomad-client", "pi-01", "192.0.2.11", 4646)
    sim_dns.omit_additional = True
    [endpoint] = lookup(query_for(sim_dns))
    assert endpoint.url == "http://192.0.2.11:4646"
    assert ("pi-01.node.dc1.consul.", "A") in sim_dns.query_log


def test_addr_targets_carry_no_node_name(sim_dns):
    sim_dns.register("nomad-client", "pi-01", "192.0.2.21", 4646, addr_target=True)
    [endpoint] = lookup(query_for(sim_dns))
    assert endpoint.url == "http://192.0.2.21:4646"
    assert endpoint.node is None


def test_datacenter_and_tag_shape_the_question(sim_dns):
    sim_dns.register("nomad-client", "pi-01", "192.0.2.11", 4646, tags=("rpc",))
    query = query_for(sim_dns, tag="rpc", datacenter="dc1", scheme="https")
    assert query.qname == "rpc.nomad-client.service.dc1.consul."
    assert lookup(query)[0].url == "https://192.0.2.11:4646"


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
    sim_dns.register("nomad-client", "pi-01", "192.0.2.11", 4646)
    sim_dns.mode = mode
    with pytest.raises(DiscoveryError, match=message) as info:
        lookup(query_for(sim_dns))
    assert "\n" not in str(info.value)


def test_unknown_service_is_nxdomain(sim_dns):
    with pytest.raises(DiscoveryError, match="does not exist"):
        lookup(query_for(sim_dns, service="nomad-nope"))


def test_no_dns_server_listening_times_out():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DiscoveryError, match=r"Consul DNS 127\.0\.0\.1"):
        lookup(SrvQuery("127.0.0.1", port, timeout=0.3))


def ep(node, priority=1, weight=1):
    return Endpoint(url=f"http://{node}:4646", node=node, priority=priority, weight=weight)


def test_own_node_comes_first_whatever_its_priority():
    ordered = order([ep("pi-01", 1), ep("pi-02", 5), ep("pi-03", 9)], "pi-03", random.Random(0))
    assert [e.node for e in ordered] == ["pi-03", "pi-01", "pi-02"]


def test_lower_priority_value_wins():
    ordered = order([ep("b", 20), ep("a", 10)], "elsewhere", random.Random(0))
    assert [e.node for e in ordered] == ["a", "b"]


def test_weight_decides_who_goes_first_within_a_priority():
    firsts = [
        order([ep("heavy", 1, 90), ep("light", 1, 10)], "x", random.Random(seed))[0].node
        for seed in range(200)
    ]
    assert 150 < firsts.count("heavy") < 200


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d", "e"]), st.integers(0, 3), st.integers(0, 9)),
        min_size=1,
        max_size=8,
    ),
    st.integers(),
)
def test_order_is_a_permutation_sorted_by_priority_after_the_own_node(records, seed):
    endpoints = [ep(n, p, w) for n, p, w in records]
    ordered = order(endpoints, "a", random.Random(seed))
    assert sorted(ordered, key=repr) == sorted(endpoints, key=repr)
    rest = [e for e in ordered if e.node != "a"]
    assert all(e.node == "a" for e in ordered[: len(ordered) - len(rest)])
    assert [e.priority for e in rest] == sorted(e.priority for e in rest)


def test_node_of_reads_node_targets_only():
    assert node_of("pi-01.node.dc1.consul.", "consul") == "pi-01"
    assert node_of("c0a80115.addr.dc1.consul.", "consul") is None


def test_locator_fails_over_then_resolves_again(sim_dns):
    sim_dns.register("nomad-client", "pi-01", "192.0.2.11", 4646)
    sim_dns.register("nomad-client", "pi-02", "192.0.2.12", 4646)
    locator = NomadLocator(query_for(sim_dns), None, own_node="pi-02")
    assert locator.address() == "http://192.0.2.12:4646"
    assert locator.current_node() == "pi-02"
    assert locator.failed() is True
    assert locator.address() == "http://192.0.2.11:4646"
    assert locator.failed() is False
    srv_queries = sum(1 for _, t in sim_dns.query_log if t == "SRV")
    assert locator.address() == "http://192.0.2.12:4646"
    assert sum(1 for _, t in sim_dns.query_log if t == "SRV") == srv_queries + 1


def test_locator_falls_back_to_the_static_address_when_dns_fails(sim_dns):
    sim_dns.mode = "servfail"
    locator = NomadLocator(query_for(sim_dns), "http://192.0.2.99:4646", own_node="pi-01")
    assert locator.address() == "http://192.0.2.99:4646"
    assert locator.via == "static fallback"


def test_locator_without_fallback_raises(sim_dns):
    sim_dns.mode = "nxdomain"
    with pytest.raises(DiscoveryError):
        NomadLocator(query_for(sim_dns), None, own_node="pi-01").address()


def test_static_locator_never_asks_dns():
    locator = NomadLocator(None, "http://192.0.2.5:4646", own_node="pi-01")
    assert locator.address() == "http://192.0.2.5:4646"
    assert locator.via == "static"
    assert locator.current_node() is None

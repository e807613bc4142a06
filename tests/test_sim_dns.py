"""SimConsulDNS through real UDP and TCP queries (dnspython): Consul's behaviour, then faults.

Each test pins one row of docs/CONFORMANCE.md ("Consul DNS interface").
"""

import random
import socket

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from blinkt_agent.sim import SimConsulDNS

NAME = "http.nomad-client.service.consul"


def ask(sim, name, rdtype="SRV", *, tcp=False, payload=None, timeout=2.0):
    if payload is None:
        query = dns.message.make_query(name, rdtype)
    else:
        query = dns.message.make_query(name, rdtype, use_edns=0, payload=payload)
    send = dns.query.tcp if tcp else dns.query.udp
    # one RR per RRset: identical records (several instances at one address) stay apart
    return send(query, sim.host, port=sim.port, timeout=timeout, one_rr_per_rrset=True)


def srv(response):
    return [rd for rrset in response.answer if rrset.rdtype == dns.rdatatype.SRV for rd in rrset]


def targets(response):
    return sorted(rd.target.to_text().lower() for rd in srv(response))


def additional(response):
    return [
        (r.name.to_text(), dns.rdatatype.to_text(r.rdtype), rd.to_text())
        for r in response.additional
        for rd in r
    ]


def nomad_fleet(sim, count):
    """`count` Pis, each registering nomad-client at its own address, as Nomad does."""
    for i in range(1, count + 1):
        sim.register("nomad-client", f"pi-{i:02d}", f"192.168.1.{20 + i}", 4646)


@pytest.fixture
def catalog(sim_dns):
    sim_dns.register("nomad-client", "pi-01", "192.168.1.21", 4646)
    sim_dns.register("nomad-client", "pi-02", "192.168.1.22", 4646, tags=("http", "rpc"))
    return sim_dns


BOTH = ["c0a80115.addr.dc1.consul.", "c0a80116.addr.dc1.consul."]

# --- SRV targets (agent/dns.go makeNodeServiceRecords) ------------------------------------


def test_a_registration_with_an_address_gets_an_addr_target(catalog):
    response = ask(catalog, NAME)
    assert targets(response) == BOTH
    assert ("c0a80115.addr.dc1.consul.", "A", "192.168.1.21") in additional(response)


def test_a_registration_without_an_address_gets_a_node_target(sim_dns):
    sim_dns.register("nomad-client", "pi-01", "192.168.1.21", 4646, with_address=False)
    response = ask(sim_dns, NAME)
    assert targets(response) == ["pi-01.node.dc1.consul."]
    assert ("pi-01.node.dc1.consul.", "A", "192.168.1.21") in additional(response)


def test_consul_1_19_0_names_every_target_after_the_service():
    with SimConsulDNS(service_name_targets=True) as sim:
        sim.register("nomad-client", "pi-01", "192.168.1.21", 4646)
        sim.register("nomad-client", "pi-02", "192.168.1.22", 4647)
        response = ask(sim, NAME, tcp=True)
    assert targets(response) == ["nomad-client.service.dc1.consul."] * 2
    addresses = [(name, rd) for name, kind, rd in additional(response) if kind == "A"]
    # one A record per answer under the shared name, in the answers' order
    by_port = {4646: "192.168.1.21", 4647: "192.168.1.22"}
    assert addresses == [
        ("nomad-client.service.dc1.consul.", by_port[rd.port]) for rd in srv(response)
    ]


def test_an_ipv6_address_gets_a_32_digit_addr_target_and_aaaa(sim_dns):
    sim_dns.register("nomad-client", "pi-06", "fd00::21", 4646)
    response = ask(sim_dns, NAME)
    target = "fd000000000000000000000000000021.addr.dc1.consul."
    assert targets(response) == [target]
    assert (target, "AAAA", "fd00::21") in additional(response)


def test_srv_records_have_priority_1_weight_1_and_ttl_0(catalog):
    response = ask(catalog, NAME)
    assert {(rd.priority, rd.weight, rd.port) for rd in srv(response)} == {(1, 1, 4646)}
    assert {r.ttl for r in response.answer + response.additional} == {0}


def test_weight_is_the_registrations_passing_weight(sim_dns):
    sim_dns.register("nomad-client", "pi-01", "192.168.1.21", 4646, weight=10)
    assert [rd.weight for rd in srv(ask(sim_dns, NAME))] == [10]


def test_answers_are_shuffled():
    with SimConsulDNS(rng=random.Random(7)) as sim:
        nomad_fleet(sim, 3)
        orders = {tuple(rd.target.to_text() for rd in srv(ask(sim, NAME))) for _ in range(20)}
    assert len(orders) > 1


# --- name forms (agent/dns.go dispatch) -----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "http.nomad-client.service.consul",
        "http.nomad-client.service.dc1.consul",
        "nomad-client.service.consul",
        "nomad-client.service.dc1.consul",
        "_nomad-client._http.service.consul",
        "_nomad-client._http.service.dc1.consul",
        "_nomad-client._tcp.service.consul",
        "HTTP.Nomad-Client.Service.CONSUL",
    ],
)
def test_every_service_form_answers_for_all_instances(catalog, name):
    response = ask(catalog, name)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA and not response.flags & dns.flags.RA
    assert targets(response) == BOTH


def test_tag_selects_instances(catalog):
    assert targets(ask(catalog, "rpc.nomad-client.service.consul")) == BOTH[1:]


def test_other_datacenter_is_nxdomain(catalog):
    assert ask(catalog, "nomad-client.service.dc2.consul").rcode() == dns.rcode.NXDOMAIN


def test_service_a_query_answers_addresses_and_nodata_for_the_other_family(catalog):
    response = ask(catalog, "nomad-client.service.consul", "A", tcp=True)
    assert sorted(rd.address for r in response.answer for rd in r) == [
        "192.168.1.21",
        "192.168.1.22",
    ]
    nodata = ask(catalog, "nomad-client.service.consul", "AAAA", tcp=True)
    assert nodata.rcode() == dns.rcode.NOERROR and nodata.answer == []
    assert dns.rdatatype.to_text(nodata.authority[0].rdtype) == "SOA"


# --- how many answers (agent/dns.go trimUDPResponse, trimTCPResponse) ----------------------


def test_udp_without_edns_gets_three_answers_and_no_tc():
    with SimConsulDNS() as sim:
        nomad_fleet(sim, 12)
        response = ask(sim, NAME)
    assert len(srv(response)) == 3
    assert not response.flags & dns.flags.TC
    # syncExtra: the three targets' addresses stay, the nodes' TXT records go
    assert [kind for _, kind, _ in additional(response)] == ["A"] * 3


def test_udp_answer_limit_is_capped_at_8():
    with SimConsulDNS(udp_answer_limit=20) as sim:
        nomad_fleet(sim, 12)
        # A records are small enough for 8 in 512 bytes (8 SRV records with targets are not)
        response = ask(sim, "nomad-client.service.consul", "A")
    assert len([rd for r in response.answer for rd in r]) == 8


def test_without_edns_512_bytes_count_uncompressed_even_within_the_limit():
    with SimConsulDNS(udp_answer_limit=8) as sim:
        nomad_fleet(sim, 12)
        response = ask(sim, NAME)
    # 12 + 38 bytes of header and question, 116 per SRV + A pair written out in full:
    # a fourth pair would pass 512 - 8, so raising udp_answer_limit does not help
    assert len(srv(response)) == 3


def test_enable_truncate_sets_tc_on_a_trimmed_answer():
    with SimConsulDNS(enable_truncate=True) as sim:
        nomad_fleet(sim, 12)
        trimmed = ask(sim, NAME)
        whole = ask(sim, NAME, tcp=True)
    assert trimmed.flags & dns.flags.TC and len(srv(trimmed)) == 3
    assert not whole.flags & dns.flags.TC and len(srv(whole)) == 12


def test_edns_gets_every_answer_that_fits_and_echoes_the_size():
    with SimConsulDNS() as sim:
        nomad_fleet(sim, 12)
        response = ask(sim, NAME, payload=4096)
    assert len(srv(response)) == 12
    assert response.edns == 0 and response.payload == 4096
    assert not response.flags & dns.flags.TC


def test_edns_answers_are_trimmed_to_the_advertised_size_without_tc():
    with SimConsulDNS() as sim:
        nomad_fleet(sim, 40)
        response = ask(sim, NAME, payload=1232)
        everything = ask(sim, NAME, tcp=True)
    assert 3 < len(srv(response)) < 40
    assert len(response.to_wire()) <= 1232
    assert not response.flags & dns.flags.TC
    assert len(srv(everything)) == 40


def test_tcp_listens_on_the_same_port_and_gets_every_answer():
    with SimConsulDNS() as sim:
        nomad_fleet(sim, 12)
        response = ask(sim, NAME, tcp=True)
        assert [a.transport for a in sim.query_log] == ["tcp"]
    assert len(srv(response)) == 12


def test_a_server_without_tcp_refuses_connections():
    with SimConsulDNS(tcp=False) as sim, pytest.raises(ConnectionRefusedError):
        ask(sim, NAME, tcp=True)


# --- ADDITIONAL (agent/dns.go addServiceSRVRecordsToMessage, makeTXTRecordFromNodeMeta) --


def test_additional_has_the_target_address_and_the_node_meta_as_txt(catalog):
    records = additional(ask(catalog, NAME))
    assert ("c0a80115.addr.dc1.consul.", "A", "192.168.1.21") in records
    # TXT records are named after the node, not the .addr. target
    assert ("pi-01.node.dc1.consul.", "TXT", '"consul-network-segment="') in records


def test_node_meta_is_rfc1464_encoded(sim_dns):
    meta = {"rack": "3", "a=b": "c", "rfc1035-raw": "as is"}
    sim_dns.register("nomad-client", "pi-01", "192.168.1.21", 4646, node_meta=meta)
    texts = {rd for _, kind, rd in additional(ask(sim_dns, NAME)) if kind == "TXT"}
    assert texts == {'"rack=3"', '"a`=b=c"', '"as is"'}


def test_node_meta_txt_can_be_disabled():
    with SimConsulDNS(node_meta_txt=False) as sim:
        nomad_fleet(sim, 1)
        assert [kind for _, kind, _ in additional(ask(sim, NAME))] == ["A"]


# --- other names (agent/dns.go handleNodeQuery, dispatch "addr") ---------------------------


@pytest.mark.parametrize("name", ["pi-01.node.consul", "pi-01.node.dc1.consul"])
def test_node_name_answers_its_address_with_meta_in_additional(catalog, name):
    response = ask(catalog, name, "A")
    assert [rd.address for r in response.answer for rd in r] == ["192.168.1.21"]
    assert [kind for _, kind, _ in additional(response)] == ["TXT"]


def test_node_address_differs_from_the_service_address_when_told(sim_dns):
    sim_dns.register("nomad-client", "pi-01", "10.0.0.21", 4646, node_address="192.168.1.21")
    assert [rd.address for r in ask(sim_dns, "pi-01.node.consul", "A").answer for rd in r] == [
        "192.168.1.21"
    ]
    assert targets(ask(sim_dns, NAME)) == ["0a000015.addr.dc1.consul."]


def test_node_of_the_other_family_is_an_empty_noerror(sim_dns):
    sim_dns.set_node("pi-06", "fd00::21")
    response = ask(sim_dns, "pi-06.node.consul", "AAAA")
    assert [rd.address for r in response.answer for rd in r] == ["fd00::21"]
    empty = ask(sim_dns, "pi-06.node.consul", "A")
    assert empty.rcode() == dns.rcode.NOERROR and empty.answer == [] and empty.authority == []


@pytest.mark.parametrize(
    ("name", "rdtype", "address"),
    [
        ("c0a80115.addr.dc1.consul", "A", "192.168.1.21"),
        ("c0a80115.addr.consul", "A", "192.168.1.21"),
        ("fd000000000000000000000000000021.addr.dc1.consul", "AAAA", "fd00::21"),
    ],
)
def test_addr_names_answer_the_address_they_spell(sim_dns, name, rdtype, address):
    [rrset] = ask(sim_dns, name, rdtype).answer
    assert [rd.address for rd in rrset] == [address]


def test_a_malformed_addr_name_is_nxdomain(sim_dns):
    assert ask(sim_dns, "c0a801.addr.dc1.consul", "A").rcode() == dns.rcode.NXDOMAIN


def test_unknown_name_is_nxdomain_with_consuls_soa(catalog):
    response = ask(catalog, "nope.service.consul")
    assert response.rcode() == dns.rcode.NXDOMAIN
    [soa] = response.authority
    assert soa.name.to_text() == "consul." and soa.ttl == 0
    rd = next(iter(soa))
    assert (rd.mname.to_text(), rd.rname.to_text()) == ("ns.consul.", "hostmaster.consul.")
    assert (rd.refresh, rd.retry, rd.expire, rd.minimum) == (3600, 600, 86400, 0)


def test_name_outside_the_domain_is_refused(catalog):
    response = ask(catalog, "example.com", "A")
    assert response.rcode() == dns.rcode.REFUSED
    assert not response.flags & dns.flags.AA


def test_deregister_removes_the_instance(catalog):
    catalog.deregister("nomad-client", "pi-02")
    assert targets(ask(catalog, NAME)) == BOTH[:1]


def test_a_simulated_host_can_have_its_own_loopback_address():
    with SimConsulDNS(host="127.0.1.7") as sim:
        nomad_fleet(sim, 1)
        assert sim.address.startswith("127.0.1.7:")
        assert len(srv(ask(sim, NAME, tcp=True))) == 1


# --- faults the tests inject (not Consul behaviour) ----------------------------------------


def test_omit_additional_leaves_targets_to_further_questions(catalog):
    catalog.omit_additional = True
    response = ask(catalog, NAME)
    assert targets(response) == BOTH and response.additional == []


@pytest.mark.parametrize(
    ("mode", "rcode"),
    [("servfail", dns.rcode.SERVFAIL), ("refused", dns.rcode.REFUSED), ("nxdomain", 3)],
)
@pytest.mark.parametrize("tcp", [False, True])
def test_fault_modes_answer_with_their_rcode(catalog, mode, rcode, tcp):
    catalog.mode = mode
    assert ask(catalog, NAME, tcp=tcp).rcode() == rcode


@pytest.mark.parametrize("tcp", [False, True])
def test_drop_mode_never_answers(catalog, tcp):
    catalog.mode = "drop"
    with pytest.raises(dns.exception.Timeout):
        ask(catalog, NAME, tcp=tcp, timeout=0.3)


def test_garbage_is_ignored_and_the_server_keeps_answering(catalog):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"\x00garbage", (catalog.host, catalog.port))
    assert targets(ask(catalog, NAME)) == BOTH


def test_query_log_records_name_type_transport_and_edns_size(catalog):
    ask(catalog, "Pi-01.node.consul", "A")
    ask(catalog, NAME, payload=1232)
    ask(catalog, NAME, tcp=True)
    assert [tuple(a) for a in catalog.query_log] == [
        ("pi-01.node.consul.", "A", "udp", 0),
        ("http.nomad-client.service.consul.", "SRV", "udp", 1232),
        ("http.nomad-client.service.consul.", "SRV", "tcp", 0),
    ]


def test_cluster_advertises_every_node_at_its_own_client_agent(sim_cluster):
    sim_cluster.add_node("pi-03")
    response = ask(sim_cluster.dns, NAME, tcp=True)
    agents = {sim_cluster.agent(name).port for name in ("pi-01", "pi-02", "pi-03")}
    assert {rd.port for rrset in response.answer for rd in rrset} == agents
    # Nomad registers with an explicit address, so Consul names every target .addr.
    assert all(".addr.dc1.consul." in rd.target.to_text() for rd in srv(response))

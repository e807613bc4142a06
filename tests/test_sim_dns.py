"""SimConsulDNS through real UDP queries (dnspython), including its fault modes."""

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest


def ask(sim, name, rdtype="SRV", timeout=2.0):
    query = dns.message.make_query(name, rdtype)
    return dns.query.udp(query, "127.0.0.1", port=sim.port, timeout=timeout)


def srv_targets(response):
    return sorted(rd.target.to_text() for rrset in response.answer for rd in rrset)


def additional(response):
    return {(r.name.to_text(), dns.rdatatype.to_text(r.rdtype)) for r in response.additional}


@pytest.fixture
def catalog(sim_dns):
    sim_dns.register("nomad-client", "pi-01", "192.168.1.21", 4646)
    sim_dns.register("nomad-client", "pi-02", "192.168.1.22", 4646, tags=("http", "rpc"))
    return sim_dns


BOTH = ["pi-01.node.dc1.consul.", "pi-02.node.dc1.consul."]


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
    ],
)
def test_every_service_form_answers_srv_for_all_instances(catalog, name):
    response = ask(catalog, name)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert srv_targets(response) == BOTH
    assert all(rrset.ttl == 0 for rrset in response.answer)
    assert {rd.port for rd in response.answer[0]} == {4646}


def test_tag_selects_instances(catalog):
    assert srv_targets(ask(catalog, "rpc.nomad-client.service.consul")) == BOTH[1:]


def test_additional_section_has_target_a_and_txt(catalog):
    response = ask(catalog, "http.nomad-client.service.consul")
    assert ("pi-01.node.dc1.consul.", "A") in additional(response)
    assert ("pi-02.node.dc1.consul.", "TXT") in additional(response)


def test_addr_target_names_the_hex_ip(sim_dns):
    sim_dns.register("nomad-client", "pi-01", "192.168.1.21", 4646, addr_target=True)
    response = ask(sim_dns, "_nomad-client._http.service.consul")
    assert srv_targets(response) == ["c0a80115.addr.dc1.consul."]
    assert additional(response) == {("c0a80115.addr.dc1.consul.", "A")}


@pytest.mark.parametrize(
    "name", ["pi-01.node.consul", "pi-01.node.dc1.consul", "c0a80115.addr.dc1.consul"]
)
def test_node_and_addr_names_answer_a(catalog, name):
    [rrset] = ask(catalog, name, "A").answer
    assert [rd.address for rd in rrset] == ["192.168.1.21"]


def test_unknown_name_is_nxdomain_with_soa(catalog):
    response = ask(catalog, "nope.service.consul")
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert dns.rdatatype.to_text(response.authority[0].rdtype) == "SOA"


def test_other_datacenter_is_nxdomain(catalog):
    assert ask(catalog, "nomad-client.service.dc2.consul").rcode() == dns.rcode.NXDOMAIN


def test_name_outside_the_domain_is_refused(catalog):
    assert ask(catalog, "example.com", "A").rcode() == dns.rcode.REFUSED


def test_srv_answers_are_limited_like_consul_udp(sim_dns):
    for i in range(5):
        sim_dns.register("nomad-client", f"pi-0{i}", f"10.0.0.{i + 1}", 4646)
    assert len(srv_targets(ask(sim_dns, "nomad-client.service.consul"))) == 3


def test_deregister_removes_the_instance(catalog):
    catalog.deregister("nomad-client", "pi-02")
    assert srv_targets(ask(catalog, "nomad-client.service.consul")) == BOTH[:1]


def test_omit_additional_leaves_targets_to_a_queries(catalog):
    catalog.omit_additional = True
    response = ask(catalog, "nomad-client.service.consul")
    assert srv_targets(response) == BOTH and response.additional == []


@pytest.mark.parametrize(
    ("mode", "rcode"),
    [("servfail", dns.rcode.SERVFAIL), ("refused", dns.rcode.REFUSED), ("nxdomain", 3)],
)
def test_fault_modes_answer_with_their_rcode(catalog, mode, rcode):
    catalog.mode = mode
    assert ask(catalog, "nomad-client.service.consul").rcode() == rcode


def test_drop_mode_never_answers(catalog):
    catalog.mode = "drop"
    with pytest.raises(dns.exception.Timeout):
        ask(catalog, "nomad-client.service.consul", timeout=0.3)


def test_query_log_records_name_and_type(catalog):
    ask(catalog, "Pi-01.node.consul", "A")
    assert catalog.query_log == [("pi-01.node.consul.", "A")]


def test_cluster_advertises_every_node_at_its_own_client_agent(sim_cluster):
    sim_cluster.add_node("pi-03")
    response = ask(sim_cluster.dns, "http.nomad-client.service.consul")
    agents = {sim_cluster.agent(name).port for name in ("pi-01", "pi-02", "pi-03")}
    assert {rd.port for rd in response.answer[0]} == agents
    assert len(srv_targets(response)) == 3

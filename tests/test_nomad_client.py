"""The Nomad client against the simulated Nomad HTTP API on loopback."""

import socket
import time

import pytest

from blinkt_agent.nomad import (
    AccessDenied,
    BadResponse,
    NomadClient,
    NotFound,
    ServerError,
    Unreachable,
)
from blinkt_agent.sim.nomad import SimNomad

ALL = {"agent:read", "node:read", "namespace:read-job"}


@pytest.fixture
def nomad():
    with SimNomad() as sim:
        sim.add_node("pi-01")
        yield sim


@pytest.fixture
def client(nomad):
    return NomadClient(nomad.url)


def test_local_node_id_comes_from_agent_self(nomad, client):
    assert client.local_node_id() == nomad.local_node_id


def test_node_lookup_by_name(nomad, client):
    other = nomad.add_node("pi-02")
    assert client.node_id_by_name("pi-02") == other


def test_node_lookup_by_unknown_name_says_so(client):
    with pytest.raises(NotFound, match="no Nomad node is named 'pi-99'"):
        client.node_id_by_name("pi-99")


def test_node_lookup_with_two_nodes_of_one_name_is_an_error(nomad, client):
    nomad.add_node("twin")
    nomad.add_node("twin")
    with pytest.raises(NotFound, match="2 Nomad nodes are named 'twin'"):
        client.node_id_by_name("twin")


def test_first_allocations_query_does_not_block(nomad, client):
    node = nomad.local_node_id
    nomad.add_alloc(node, "web", client_status="running")
    started = time.monotonic()
    allocations, index = client.node_allocations(node, 0, wait=5)
    assert time.monotonic() - started < 1
    assert [a["JobID"] for a in allocations] == ["web"]
    assert index == nomad.index


def test_blocking_query_returns_when_something_changes(nomad, client):
    node = nomad.local_node_id
    _, index = client.node_allocations(node, 0, wait=5)
    import threading

    threading.Timer(0.3, lambda: nomad.add_alloc(node, "late")).start()
    started = time.monotonic()
    allocations, new_index = client.node_allocations(node, index, wait=5)
    assert 0.2 < time.monotonic() - started < 3
    assert new_index > index
    assert [a["JobID"] for a in allocations] == ["late"]
    _, _, query, _ = nomad.request_log[-1]
    assert query["index"] == str(index) and query["wait"] == "5000ms"


def test_blocking_query_times_out_with_the_same_index(nomad, client):
    node = nomad.local_node_id
    _, index = client.node_allocations(node, 0, wait=1)
    started = time.monotonic()
    _, again = client.node_allocations(node, index, wait=1)
    assert 1 <= time.monotonic() - started < 1 + 1 / 16 + 0.5
    assert again == index


def test_token_is_sent_as_x_nomad_token(nomad):
    nomad_acl = SimNomad(acl_tokens={"s3cr3t": ALL}).start()
    try:
        nomad_acl.add_node("pi-01")
        NomadClient(nomad_acl.url, token="s3cr3t").local_node_id()
        assert nomad_acl.request_log[-1].headers.get("X-Nomad-Token") == "s3cr3t"
    finally:
        nomad_acl.stop()


@pytest.mark.parametrize(
    ("capabilities", "call", "needed"),
    [
        ({"node:read"}, "local_node_id", "agent:read"),
        ({"agent:read"}, "node", "node:read"),
    ],
)
def test_403_names_the_missing_capability_and_never_the_token(capabilities, call, needed):
    with SimNomad(acl_tokens={"t0k3n-value": capabilities}) as sim:
        node = sim.add_node("pi-01")
        client = NomadClient(sim.url, token="t0k3n-value")
        with pytest.raises(AccessDenied) as info:
            client.local_node_id() if call == "local_node_id" else client.node(node)
    assert needed in str(info.value)
    assert "t0k3n-value" not in str(info.value)
    assert info.value.exit_code == 77


def test_unknown_node_is_not_found(client):
    with pytest.raises(NotFound, match="not found"):
        client.node("00000000-0000-0000-0000-000000000000")


def test_server_errors_are_typed(nomad, client):
    nomad.fail_next(500, body="rpc error: No cluster leader")
    with pytest.raises(ServerError, match=r"HTTP 500.*No cluster leader"):
        client.local_node_id()


def test_malformed_json_is_a_bad_response(nomad, client):
    nomad.malformed_next()
    with pytest.raises(BadResponse, match="malformed JSON"):
        client.node_allocations(nomad.local_node_id, 0, wait=1)


def test_connection_refused_is_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unreachable, match="connection refused"):
        NomadClient(f"http://127.0.0.1:{port}").local_node_id()


def test_hung_response_hits_the_read_timeout(nomad):
    import blinkt_agent.nomad as nomad_module

    nomad.hang_next(3)
    client = NomadClient(nomad.url)
    old = nomad_module.READ_SLACK
    nomad_module.READ_SLACK = 0.5
    try:
        with pytest.raises(Unreachable, match="read timeout"):
            client.local_node_id()
    finally:
        nomad_module.READ_SLACK = old


def test_tls_to_a_plain_http_server_fails_cleanly(nomad):
    with pytest.raises(Unreachable, match="TLS error"):
        NomadClient(f"https://{nomad.address}").local_node_id()

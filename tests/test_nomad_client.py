"""The Nomad client against the simulated Nomad HTTP API on loopback."""

import re
import socket
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blinkt_agent.errors import (
    AccessDenied,
    AmbiguousNode,
    BadResponse,
    NodeUnknown,
    ServerError,
    Unreachable,
)
from blinkt_agent.outside import dig
from blinkt_agent.sim.nomad import SimNomad
from blinkt_agent.sim.nomad.acl import parse_policy
from blinkt_agent.sources.nomad.client import (
    ACL_POLICY,
    ACL_POLICY_LINE,
    READ_JOB_RULE,
    NomadClient,
    hidden_allocations,
    pick_node,
)

ROOT = Path(__file__).resolve().parents[1]

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
    with pytest.raises(NodeUnknown, match="no Nomad node is named 'pi-99'"):
        client.node_id_by_name("pi-99")


def test_node_lookup_with_two_live_nodes_of_one_name_is_an_error(nomad, client):
    nomad.add_node("twin")
    nomad.add_node("twin")
    with pytest.raises(AmbiguousNode, match="2 live Nomad nodes are named 'twin'"):
        client.node_id_by_name("twin")


def test_node_lookup_follows_a_reimaged_pi_past_its_down_twin(nomad, client):
    old = nomad.add_node("pi-02")
    new = nomad.reimage(old)  # the old registration stays listed, down
    assert {n["ID"]: n["Status"] for n in nomad_nodes(client, "pi-02")} == {
        old: "down",
        new: "ready",
    }
    assert client.node_id_by_name("pi-02") == new


def test_node_lookup_of_a_name_whose_registrations_are_all_down_takes_the_newest(nomad, client):
    first = nomad.add_node("pi-03")
    second = nomad.reimage(first)
    nomad.node_down(second)
    assert client.node_id_by_name("pi-03") == second


def nomad_nodes(client, name):
    nodes, _ = client.get("/v1/nodes", params={"filter": f'Name == "{name}"'})
    return nodes


def stub(node_id, status, create_index, name="pi-01"):
    return {"ID": node_id, "Name": name, "Status": status, "CreateIndex": create_index}


@pytest.mark.parametrize(
    ("stubs", "chosen"),
    [
        ([stub("a", "down", 9), stub("b", "ready", 5)], "b"),  # ready beats a newer down
        ([stub("a", "initializing", 9), stub("b", "ready", 5)], "b"),
        ([stub("a", "disconnected", 9), stub("b", "initializing", 5)], "b"),
        ([stub("a", "down", 5), stub("b", "down", 9), stub("c", "down", 7)], "b"),
        ([stub("a", "down", 5), stub("b", "down", None)], "a"),  # no CreateIndex: oldest
        ([stub("a", "future-status", 5), stub("b", "down", 9)], "a"),  # unknown: live
        ([stub("a", "ready", 5), stub("b", "ready", 6, name="pi-02")], "a"),
        ([stub("a", "ready", 5), "junk", None, {"Name": 3}], "a"),
    ],
)
def test_pick_node_prefers_live_registrations_then_the_newest(stubs, chosen):
    assert pick_node("pi-01", stubs)["ID"] == chosen


@pytest.mark.parametrize(
    "stubs",
    [
        [stub("a", "ready", 5), stub("b", "ready", 9), stub("c", "down", 11)],
        [stub("a", "disconnected", 5), stub("b", "disconnected", 9)],
        [stub("a", "initializing", 5), stub("b", "initializing", 9)],
    ],
)
def test_pick_node_refuses_several_equally_live_registrations(stubs):
    with pytest.raises(AmbiguousNode, match=r"2 live Nomad nodes are named 'pi-01' \(a \w+, b"):
        pick_node("pi-01", stubs)


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "ID": st.text(max_size=3),
                "Name": st.sampled_from(["pi-01", "pi-02"]),
                "Status": st.sampled_from(["ready", "initializing", "disconnected", "down", 7]),
                "CreateIndex": st.one_of(st.integers(), st.none(), st.text(max_size=2)),
            }
        )
        | st.none()
        | st.integers(),
        max_size=6,
    )
)
def test_pick_node_answers_or_says_why_on_any_list(stubs):
    try:
        chosen = pick_node("pi-01", stubs)
    except NodeUnknown as err:  # AmbiguousNode is one too
        assert "pi-01" in str(err) and "\n" not in str(err)
        return
    assert chosen["Name"] == "pi-01"
    named = [s for s in stubs if isinstance(s, dict) and s["Name"] == "pi-01"]
    live = [s for s in named if s["Status"] != "down"]
    assert (chosen["Status"] != "down") == bool(live)


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
    threading.Timer(0.3, lambda: nomad.add_alloc(node, "late")).start()
    started = time.monotonic()
    allocations, new_index = client.node_allocations(node, index, wait=5)
    assert 0.2 < time.monotonic() - started < 3
    assert new_index > index
    assert [a["JobID"] for a in allocations] == ["late"]
    query = nomad.request_log[-1].query
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
    ("capabilities", "call", "needed", "rule"),
    [
        ({"node:read"}, "local_node_id", "agent:read", 'agent { policy = "read" }'),
        ({"agent:read"}, "node", "node:read", 'node { policy = "read" }'),
        ({"agent:read"}, "allocations", "node:read", 'node { policy = "read" }'),
    ],
)
def test_403_quotes_nomad_and_names_the_missing_rule_but_never_the_token(
    capabilities, call, needed, rule
):
    with SimNomad(acl_tokens={"t0k3n-value": capabilities}) as sim:
        node = sim.add_node("pi-01")
        client = NomadClient(sim.url, token="t0k3n-value")
        with pytest.raises(AccessDenied) as info:
            if call == "local_node_id":
                client.local_node_id()
            elif call == "node":
                client.node(node)
            else:
                client.node_allocations(node, 0, 1)
    message = str(info.value)
    assert '403 "Permission denied"' in message
    assert f"needs {needed}: {rule}" in message
    assert " ".join(ACL_POLICY.split()) in message  # the whole policy, ready to paste
    assert "\n" not in message and "t0k3n-value" not in message
    assert info.value.exit_code == 77


def test_403_token_not_found_says_the_token_is_unknown():
    with SimNomad(acl_tokens={}) as sim:
        sim.store.acl.legacy_token_not_found = True
        sim.add_node("pi-01")
        with pytest.raises(AccessDenied, match=r'403 "ACL token not found".*does not know'):
            NomadClient(sim.url, token="00000000-0000-0000-0000-000000000000").local_node_id()


def test_the_documented_policy_is_valid_and_enough():
    policy = parse_policy(ACL_POLICY)
    assert (policy.agent, policy.node) == ("read", "read")
    assert policy.namespaces == [("*", frozenset({"read-job"}))]
    with SimNomad(acl_tokens={"tok": ACL_POLICY}) as sim:
        node = sim.add_node("pi-01")
        sim.add_alloc(node, "a", namespace="default")
        sim.add_alloc(node, "b", namespace="team-b")
        client = NomadClient(sim.url, token="tok")
        assert client.local_node_id() == node
        allocations, _ = client.node_allocations(node, 0, 1)
        assert len(allocations) == 2 and client.node(node)["ID"] == node


def commented_block(text):
    """The HCL between the policy markers of a config file, with its comment marks removed."""
    match = re.search(r"# BEGIN blinkt-agent ACL policy\n(.*?)# END blinkt-agent ACL", text, re.S)
    assert match, "no ACL policy block"
    return "".join(re.sub(r"^#( |$)", "", line) for line in match[1].splitlines(True))


@pytest.mark.parametrize("path", ["etc/config.toml", "roles/blinkt_agent/defaults/main.yml"])
def test_config_and_role_quote_the_policy_exactly(path):
    assert commented_block((ROOT / path).read_text()) == ACL_POLICY


def test_the_readme_gives_the_policy_as_a_block_to_paste():
    finding = re.search(
        r"^## Finding Nomad\n(.*?)(?=^## )", (ROOT / "README.md").read_text(), re.M | re.S
    )
    assert finding, "README.md has no '## Finding Nomad' section"
    # An indented code block runs on over blank lines (CommonMark), up to unindented text.
    block = re.search(r"^    agent \{\n(?:(?:    .*)?\n)*", finding[1], re.M)
    assert block, "no policy block in README.md's Finding Nomad"
    text = re.sub(r"^    ", "", block[0].rstrip("\n") + "\n", flags=re.M)
    assert text == ACL_POLICY


def test_the_read_job_rule_named_in_messages_is_the_policys():
    assert READ_JOB_RULE in ACL_POLICY_LINE
    assert parse_policy(READ_JOB_RULE).namespaces == [("*", frozenset({"read-job"}))]


# -- allocations hidden by the token (read-job) -----------------------------------------


def test_hidden_allocations_are_told_by_the_own_clients_count():
    tokens = {"weak": {"agent:read", "node:read", "namespace:default:read-job"}}
    with SimNomad(acl_tokens=tokens) as sim:
        node = sim.add_node("pi-01", port=0)
        sim.add_alloc(node, "web", client_status="running")
        sim.add_alloc(node, "db", client_status="running", namespace="team-b")
        client = NomadClient(sim.agent_for(node).url, token="weak")
        allocations, _ = client.node_allocations(node, 0, 1)
        assert [dig(a, "JobID") for a in allocations] == ["web"]
        assert hidden_allocations(client.agent_self(), node, allocations) == 1


def test_hidden_allocations_is_zero_for_another_nodes_agent_or_a_full_answer():
    with SimNomad() as sim:
        mine = sim.add_node("pi-01", port=0)
        other = sim.add_node("pi-02", port=0)
        sim.add_alloc(mine, "web")
        client = NomadClient(sim.agent_for(other).url)
        allocations, _ = client.node_allocations(mine, 0, 1)
        assert hidden_allocations(client.agent_self(), mine, allocations) == 0
        own = NomadClient(sim.agent_for(mine).url)
        assert hidden_allocations(own.agent_self(), mine, allocations) == 0


def self_doc(node_id, count):
    return {"stats": {"client": {"node_id": node_id, "num_allocations": count}}}


@pytest.mark.parametrize(
    ("doc", "allocations", "hidden"),
    [
        (self_doc("n1", "3"), [{}, {}], 1),
        (self_doc("n1", "1"), [{}, {}], 0),  # the client dropped a stopped one already
        (self_doc("n2", "5"), [], 0),  # another node's client
        (self_doc("n1", "x"), [], 0),
        (self_doc("n1", None), [], 0),
        (self_doc("n1", True), [], 0),
        ({}, [], 0),
        (None, None, 0),
    ],
)
def test_hidden_allocations_cases(doc, allocations, hidden):
    assert hidden_allocations(doc, "n1", allocations) == hidden


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(json_values, st.text(max_size=5), json_values)
def test_hidden_allocations_never_raises_on_any_json(doc, node_id, allocations):
    assert hidden_allocations(doc, node_id, allocations) >= 0


def test_unknown_node_is_not_found(client):
    with pytest.raises(NodeUnknown, match="not found"):
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
    import blinkt_agent.sources.nomad.client as nomad_module

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


# -- nomad.wait: no longer than Nomad blocks -------------------------------------------


def test_nomad_wait_is_capped_at_nomads_maximum_everywhere():
    from blinkt_agent import config
    from blinkt_agent.errors import ConfigError
    from blinkt_agent.sim.nomad.api import MAX_BLOCKING_S
    from blinkt_agent.sources.nomad.client import NOMAD_MAX_WAIT

    assert NOMAD_MAX_WAIT == MAX_BLOCKING_S == 300
    assert config.override(config.defaults(), {"nomad.wait": 300.0})["nomad.wait"] == 300
    with pytest.raises(ConfigError, match=r"nomad.wait .*between 1 and 300"):
        config.override(config.defaults(), {"nomad.wait": 301.0})
    validate = (ROOT / "roles/blinkt_agent/tasks/validate.yml").read_text()
    assert "1 <= blinkt_agent_nomad_wait | float <= 300 }}" in validate
    assert "(1..300" in (ROOT / "roles/blinkt_agent/meta/argument_specs.yml").read_text()
    assert "#wait = 300" in (ROOT / "etc/config.toml").read_text()

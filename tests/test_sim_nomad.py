"""SimNomad through real HTTP, pinned to what hashicorp/nomad does (docs/CONFORMANCE.md).

Agents and shared state, ACLs and their 403 bodies, node life cycle, allocation JSON,
compression, blocking queries and their headers, faults, the control API, the process.
"""

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib

import pytest
import requests

from blinkt_agent.sim import SimCluster, SimNomad
from blinkt_agent.sim.cluster import loopback_hosts
from blinkt_agent.sim.nomad import Task, parse_duration
from blinkt_agent.sim.nomad.api import GO_BUFFER, encoding_for, time_to_block
from blinkt_agent.sources.nomad.client import ACL_POLICY

TOKEN = "s3cr3t"
UNKNOWN_UUID = "00000000-1111-2222-3333-444444444444"


def get(sim, path, token=None, headers=None, **params):
    headers = {**(headers or {}), **({"X-Nomad-Token": token} if token else {})}
    return requests.get(sim.url + path, params=params, headers=headers, timeout=5)


def index_of(response):
    return int(response.headers["X-Nomad-Index"])


def later(seconds, fn, *args):
    timer = threading.Timer(seconds, fn, args)
    timer.start()
    return timer


@pytest.fixture
def node(sim_nomad):
    return sim_nomad.add_node("pi-01", cpu=6000, memory_mb=8000, reserved_cpu=100)


# -- agents: one per Pi, one shared server state ----------------------------------------


@pytest.fixture
def three_pis():
    with SimNomad() as sim:
        ids = {
            name: sim.add_node(name, host=f"127.0.1.{i}", port=0)
            for i, name in enumerate(("pi-01", "pi-02", "pi-03"), start=1)
        }
        yield sim, ids


def test_every_pi_is_its_own_client_agent_on_its_own_address(three_pis):
    sim, ids = three_pis
    for i, (name, node_id) in enumerate(ids.items(), start=1):
        agent = sim.agent_for(node_id)
        assert agent.host == f"127.0.1.{i}" and agent.port != sim.port
        body = get(agent, "/v1/agent/self").json()
        assert body["stats"]["client"]["node_id"] == node_id
        assert body["config"]["Client"]["Enabled"] and not body["config"]["Server"]["Enabled"]
        # A client-only agent has no serf member: Nomad returns a zero one.
        assert (body["member"]["Name"], body["member"]["Status"]) == ("", "none")
        assert "nomad" not in body["stats"]  # no server stats on a client
        node = get(agent, f"/v1/node/{node_id}").json()
        assert (node["Name"], node["HTTPAddr"]) == (name, agent.address)


def test_config_node_name_is_empty_unless_the_agent_config_sets_it(sim_nomad):
    plain = sim_nomad.add_node("pi-01", port=0)
    named = sim_nomad.add_node("pi-02", port=0, name_in_config=True)
    assert get(sim_nomad.agent_for(plain), "/v1/agent/self").json()["config"]["NodeName"] == ""
    assert get(sim_nomad.agent_for(named), "/v1/agent/self").json()["config"]["NodeName"] == "pi-02"


def test_all_agents_read_the_same_server_state(three_pis):
    sim, ids = three_pis
    sim.add_alloc(ids["pi-02"], "web")
    answers = [get(sim.agent_for(i), f"/v1/node/{ids['pi-02']}/allocations") for i in ids.values()]
    assert {index_of(r) for r in answers} == {sim.index}
    assert all([a["JobID"] for a in r.json()] == ["web"] for r in answers)


def test_num_allocations_counts_what_the_client_runs_in_every_namespace(three_pis):
    sim, ids = three_pis
    node = ids["pi-01"]
    sim.add_alloc(node, "web")
    sim.add_alloc(node, "secret", namespace="team-b", client_status="complete")
    gone = sim.add_alloc(node, "old", client_status="complete")
    sim.add_alloc(ids["pi-02"], "elsewhere")

    def count():
        body = get(sim.agent_for(node), "/v1/agent/self").json()
        return int(body["stats"]["client"]["num_allocations"])

    assert count() == 3
    sim.store.client_gc_alloc(gone)  # the client destroys its runner; servers still list it
    assert count() == 2 and len(sim.allocs(node)) == 3


def test_server_agent_serves_its_local_node_like_a_dev_agent(sim_nomad, node):
    sim_nomad.add_node("pi-02")
    body = get(sim_nomad, "/v1/agent/self").json()
    assert body["stats"]["client"]["node_id"] == node
    assert body["stats"]["nomad"]["leader"] == "true"
    assert body["member"]["Name"] == "pi-01.global" and body["member"]["Status"] == "alive"
    assert body["config"]["Version"]["Version"] == "2.0.5"


def test_local_flag_overrides_first_node(sim_nomad, node):
    other = sim_nomad.add_node("pi-02", local=True)
    assert get(sim_nomad, "/v1/agent/self").json()["stats"]["client"]["node_id"] == other


def test_status_leader_is_the_leaders_rpc_address(sim_nomad):
    assert get(sim_nomad, "/v1/status/leader").json() == "127.0.0.1:4647"


# -- nodes ------------------------------------------------------------------------------


def test_node_read_has_resources_and_query_meta_headers(sim_nomad, node):
    response = get(sim_nomad, f"/v1/node/{node}")
    body = response.json()
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Nomad-KnownLeader"] == "true"
    assert response.headers["X-Nomad-LastContact"] == "0"
    assert index_of(response) == body["ModifyIndex"]
    assert body["Name"] == "pi-01" and body["Status"] == "ready"
    assert body["StatusDescription"] == ""
    assert body["NodeResources"]["Cpu"]["CpuShares"] == 6000
    assert body["NodeResources"]["Memory"]["MemoryMB"] == 8000
    assert body["ReservedResources"]["Cpu"]["CpuShares"] == 100
    assert body["HTTPAddr"] == sim_nomad.address


def test_registration_is_two_writes_initializing_then_ready(sim_nomad):
    before = sim_nomad.index
    node = sim_nomad.add_node("pi-01")
    body = get(sim_nomad, f"/v1/node/{node}").json()
    assert (body["CreateIndex"], body["ModifyIndex"]) == (before + 1, before + 2)
    assert [e["Message"] for e in body["Events"]] == ["Node registered"]


def test_unknown_node_is_404_node_not_found_with_the_query_headers(sim_nomad):
    response = get(sim_nomad, "/v1/node/00000000-0000-0000-0000-000000000000")
    assert (response.status_code, response.text) == (404, "node not found")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "X-Nomad-Index" in response.headers  # setMeta ran before the 404


def test_unknown_node_allocations_is_an_empty_list(sim_nomad):
    response = get(sim_nomad, "/v1/node/nope/allocations")
    assert (response.status_code, response.json()) == (200, [])
    assert index_of(response) >= 1


def test_missed_heartbeats_take_the_node_down_and_its_allocations_lost(sim_nomad, node):
    alloc = sim_nomad.add_alloc(node, "web", client_status="running")
    sim_nomad.node_down(node)
    body = get(sim_nomad, f"/v1/node/{node}").json()
    assert body["Status"] == "down" and body["Events"][-1]["Message"] == "Node heartbeat missed"
    [lost] = get(sim_nomad, f"/v1/node/{node}/allocations").json()
    assert lost["ID"] == alloc
    assert (lost["ClientStatus"], lost["DesiredStatus"]) == ("lost", "stop")
    assert lost["DesiredDescription"] == "alloc is lost since its node is down"
    sim_nomad.node_up(node)
    body = get(sim_nomad, f"/v1/node/{node}").json()
    assert body["Status"] == "ready"
    assert body["Events"][-1]["Message"] == "Node reregistered by heartbeat"


def test_a_reimaged_pi_registers_a_new_id_and_the_old_one_stays_down(three_pis):
    sim, ids = three_pis
    old = ids["pi-02"]
    agent = sim.agent_for(old)
    new = sim.reimage(old)
    assert new != old and sim.agent_for(new) is agent
    assert get(agent, "/v1/agent/self").json()["stats"]["client"]["node_id"] == new
    twins = get(agent, "/v1/nodes", filter='Name == "pi-02"').json()
    assert {(n["ID"], n["Status"]) for n in twins} == {(old, "down"), (new, "ready")}
    assert sim.node_id("pi-02") == new
    # The old ID still answers, and its allocations call is 200 [] like any ID.
    assert get(agent, f"/v1/node/{old}").json()["Status"] == "down"
    assert get(agent, f"/v1/node/{old}/allocations").json() == []


def test_a_reimaged_pi_is_registered_before_its_old_id_misses_its_heartbeats(three_pis):
    """In time order: the wiped client registers at once; the servers mark the old ID
    down (and its allocations lost) only after its heartbeat TTL."""
    sim, ids = three_pis
    old = ids["pi-02"]
    sim.add_alloc(old, "web", client_status="running")
    agent = sim.agent_for(old)
    new = control(sim, "POST", "nodes/pi-02/reimage", old_down=False).json()["id"]
    assert get(agent, "/v1/agent/self").json()["stats"]["client"]["node_id"] == new
    twins = get(agent, "/v1/nodes", filter='Name == "pi-02"').json()
    assert {(n["ID"], n["Status"]) for n in twins} == {(old, "ready"), (new, "ready")}
    assert get(agent, f"/v1/node/{old}/allocations").json()[0]["ClientStatus"] == "running"
    sim.node_down(old)
    assert get(agent, f"/v1/node/{old}/allocations").json()[0]["ClientStatus"] == "lost"


def test_control_api_lists_each_agents_requests(three_pis):
    sim, ids = three_pis
    get(sim.agent_for(ids["pi-02"]), f"/v1/node/{ids['pi-02']}/allocations", wait="1s")
    logs = {a["address"]: a for a in control(sim, "GET", "requests").json()["agents"]}
    pi02 = logs[sim.agent_for(ids["pi-02"]).address]
    assert pi02["node_id"] == ids["pi-02"]
    assert pi02["requests"] == [
        {"method": "GET", "path": f"/v1/node/{ids['pi-02']}/allocations", "query": {"wait": "1s"}}
    ]
    assert logs[sim.agent_for(ids["pi-03"]).address]["requests"] == []


def test_node_gc_removes_old_down_nodes_whose_allocations_all_ended():
    clock = [1_000_000.0]
    with SimNomad(clock=lambda: clock[0]) as sim:
        a, b = sim.add_node("pi-01"), sim.add_node("pi-02")
        running = sim.add_alloc(b, "web", client_status="running")
        sim.node_down(a)
        sim.node_down(b, lost=False)
        assert sim.gc_nodes() == []  # not a day old yet
        clock[0] += 24 * 3600
        assert sim.gc_nodes() == [a]  # b still has a non-terminal allocation
        sim.update_alloc(running, client_status="lost")
        assert sim.gc_nodes() == [b]
        assert get(sim, "/v1/nodes").json() == []


def test_drain_sets_drain_and_eligibility_like_nomad(sim_nomad, node):
    sim_nomad.store.set_drain(node, True)
    [stub] = get(sim_nomad, "/v1/nodes").json()
    assert (stub["Drain"], stub["SchedulingEligibility"]) == (True, "ineligible")
    assert get(sim_nomad, f"/v1/node/{node}").json()["DrainStrategy"]["DrainSpec"]
    sim_nomad.store.set_drain(node, False)
    [stub] = get(sim_nomad, "/v1/nodes").json()
    assert (stub["Drain"], stub["SchedulingEligibility"]) == (False, "ineligible")
    assert stub["LastDrain"]["Status"] == "canceled"


def test_nodes_list_supports_prefix_and_name_filter(sim_nomad, node):
    other = sim_nomad.add_node("pi-02")
    by_prefix = get(sim_nomad, "/v1/nodes", prefix=other[:6]).json()
    by_name = get(sim_nomad, "/v1/nodes", filter='Name == "pi-02"').json()
    assert [n["ID"] for n in by_prefix] == [other] == [n["ID"] for n in by_name]
    assert len(get(sim_nomad, "/v1/nodes").json()) == 2
    assert "NodeResources" in get(sim_nomad, "/v1/nodes", resources="true").json()[0]


def test_unsupported_filter_is_400_from_the_paginator(sim_nomad):
    response = get(sim_nomad, "/v1/nodes", filter="Name matches pi")
    assert response.status_code == 400
    assert response.text.startswith(
        "failed to create result paginator: failed to read filter expression"
    )


def test_unknown_path_is_an_empty_404_and_wrong_method_405(sim_nomad, node):
    response = get(sim_nomad, "/v1/nope", headers={"Accept-Encoding": "identity"})
    assert (response.status_code, response.content) == (404, b"")
    response = requests.put(f"{sim_nomad.url}/v1/node/{node}", timeout=5)
    assert (response.status_code, response.text) == (405, "Invalid method")


# -- allocations ------------------------------------------------------------------------


def test_allocations_are_full_objects_in_the_new_resources_shape(sim_nomad, node):
    alloc = sim_nomad.add_alloc(node, "web", "front", cpu=250, memory_mb=128, mbits=10)
    [body] = get(sim_nomad, f"/v1/node/{node}/allocations").json()
    assert body["ID"] == alloc and body["Name"] == "web.front[0]"
    assert (body["JobID"], body["TaskGroup"], body["NodeName"]) == ("web", "front", "pi-01")
    assert (body["ClientStatus"], body["DesiredStatus"]) == ("pending", "run")
    task = body["AllocatedResources"]["Tasks"]["front"]
    assert task["Cpu"] == {"CpuShares": 250, "ReservedCores": None}
    assert task["Memory"]["MemoryMB"] == 128
    assert task["Networks"][0]["MBits"] == 10
    assert body["AllocatedResources"]["TaskLifecycles"] == {"front": None}
    assert body["AllocatedResources"]["Shared"]["DiskMB"] == 300
    assert body["TaskStates"]["front"]["State"] == "pending"
    # Allocation's `_struct` omitempty tag: empty top-level fields are not sent.
    assert "Resources" not in body and "DesiredDescription" not in body


def test_multi_task_allocations_carry_lifecycles_and_reserved_cores(sim_nomad, node):
    tasks = [
        Task("init", cpu=1000, hook="prestart"),
        Task("proxy", cpu=100, hook="prestart", sidecar=True),
        Task("app", cpu=1500, cores=(0, 1)),
        Task("warm", cpu=50, hook="poststart"),
        Task("flush", cpu=50, hook="poststop"),
    ]
    sim_nomad.add_alloc(node, "web", tasks=tasks, client_status="running", ports={"http": 25000})
    [body] = get(sim_nomad, f"/v1/node/{node}/allocations").json()
    resources = body["AllocatedResources"]
    assert resources["TaskLifecycles"] == {
        "init": {"Hook": "prestart", "Sidecar": False},
        "proxy": {"Hook": "prestart", "Sidecar": True},
        "app": None,
        "warm": {"Hook": "poststart", "Sidecar": False},
        "flush": {"Hook": "poststop", "Sidecar": False},
    }
    assert resources["Tasks"]["app"]["Cpu"] == {"CpuShares": 1500, "ReservedCores": [0, 1]}
    assert resources["Shared"]["Ports"][0]["Value"] == 25000
    states = {name: state["State"] for name, state in body["TaskStates"].items()}
    assert states == {
        "init": "dead", "proxy": "running", "app": "running", "warm": "running",
        "flush": "pending",
    }  # fmt: skip


@pytest.mark.parametrize(("shape", "new", "old"), [("old", False, True), ("both", True, True)])
def test_resources_shape_is_selectable(shape, new, old):
    with SimNomad(resources_shape=shape) as sim:
        node = sim.add_node("pi-01")
        sim.add_alloc(node, "web", cpu=300)
        [body] = get(sim, f"/v1/node/{node}/allocations").json()
        assert ("AllocatedResources" in body, "Resources" in body) == (new, old)
        if old:
            assert body["Resources"]["CPU"] == 300
            assert body["TaskResources"]["web"]["CPU"] == 300
            assert get(sim, f"/v1/node/{node}").json()["Resources"]["CPU"] == 4000


def test_update_moves_modify_index_and_time(sim_nomad, node):
    alloc = sim_nomad.add_alloc(node, "web")
    [before] = sim_nomad.allocs(node)
    time.sleep(0.01)
    sim_nomad.update_alloc(alloc, client_status="running", desired_status="stop")
    [after] = sim_nomad.allocs(node)
    assert after["ModifyIndex"] > before["ModifyIndex"] == before["CreateIndex"]
    assert after["AllocModifyIndex"] == after["ModifyIndex"]
    assert after["ModifyTime"] > before["ModifyTime"] == after["CreateTime"]
    assert after["TaskStates"]["web"]["State"] == "running"


def test_allocation_names_count_up_per_job_group(sim_nomad, node):
    for _ in range(3):
        sim_nomad.add_alloc(node, "web")
    assert [a["Name"] for a in sim_nomad.allocs(node)] == [f"web.web[{i}]" for i in range(3)]


# -- compression (gorilla/handlers CompressHandler) ------------------------------------


def raw_get(sim, path, accept_encoding):
    """The bytes on the wire: urllib3 without decoding."""
    response = requests.get(
        sim.url + path, headers={"Accept-Encoding": accept_encoding}, stream=True, timeout=5
    )
    return response, response.raw.read(decode_content=False)


def test_gzip_when_the_client_asks_and_always_vary(sim_nomad, node):
    for _ in range(30):
        sim_nomad.add_alloc(node, "web", client_status="running")
    path = f"/v1/node/{node}/allocations"
    zipped, wire = raw_get(sim_nomad, path, "gzip, deflate")
    plain, body = raw_get(sim_nomad, path, "identity")
    assert zipped.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    assert zipped.headers["Vary"] == plain.headers["Vary"] == "Accept-Encoding"
    assert json.loads(gzip.decompress(wire)) == json.loads(body)
    assert len(wire) < len(body) / 5


def test_deflate_is_raw_deflate_and_q_values_are_not_parsed(sim_nomad, node):
    response, wire = raw_get(sim_nomad, f"/v1/node/{node}", "deflate")
    assert response.headers["Content-Encoding"] == "deflate"
    assert json.loads(zlib.decompress(wire, -15))["ID"] == node
    assert encoding_for("gzip;q=0, identity") is None
    assert encoding_for("br, deflate, gzip") == "deflate"


def test_errors_are_compressed_too(sim_nomad):
    response, wire = raw_get(sim_nomad, "/v1/node/x", "gzip")
    assert response.status_code == 404
    assert gzip.decompress(wire) == b"node not found"


def test_small_answers_have_a_length_big_ones_are_chunked(sim_nomad, node):
    small, _ = raw_get(sim_nomad, "/v1/status/leader", "identity")
    assert small.headers["Content-Length"] and "Transfer-Encoding" not in small.headers
    for _ in range(5):
        sim_nomad.add_alloc(node, "web")
    big, body = raw_get(sim_nomad, f"/v1/node/{node}/allocations", "identity")
    assert len(body) > GO_BUFFER
    assert big.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in big.headers


# -- blocking queries -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "wait", "blocks"),
    [(0, 60, 0), (5, 0, 300), (5, 60, 60), (5, 600, 300), (5, -1, 300)],
)
def test_time_to_block_defaults_and_caps_at_300_s(index, wait, blocks):
    assert time_to_block(index, wait) == blocks


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("250ms", 0.25), ("1m30s", 90)])
def test_parse_duration_reads_go_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("params", "message"), [({"wait": "5"}, "Invalid wait time"),
                                                 ({"index": "-1"}, "Invalid index")])  # fmt: skip
def test_bad_wait_or_index_is_400_like_go(sim_nomad, node, params, message):
    response = get(sim_nomad, f"/v1/node/{node}", **params)
    assert (response.status_code, response.text) == (400, message)


def test_blocking_query_with_stale_index_returns_at_once(sim_nomad, node):
    sim_nomad.add_alloc(node, "web")
    started = time.monotonic()
    response = get(sim_nomad, f"/v1/node/{node}/allocations", index=1, wait="5s")
    assert response.status_code == 200 and time.monotonic() - started < 1


def test_blocking_query_wakes_on_a_mutation(sim_nomad, node):
    alloc = sim_nomad.add_alloc(node, "web")
    first = get(sim_nomad, f"/v1/node/{node}/allocations")
    later(0.2, sim_nomad.update_alloc, alloc, "running")
    started = time.monotonic()
    second = get(sim_nomad, f"/v1/node/{node}/allocations", index=index_of(first), wait="5s")
    assert 0.15 < time.monotonic() - started < 2
    assert index_of(second) > index_of(first)
    assert second.json()[0]["ClientStatus"] == "running"


def test_blocking_query_ignores_other_nodes_and_times_out_at_wait_plus_jitter(sim_nomad, node):
    other = sim_nomad.add_node("pi-02")
    sim_nomad.add_alloc(node, "web")
    first = get(sim_nomad, f"/v1/node/{node}/allocations")
    later(0.1, sim_nomad.add_alloc, other, "web")
    started = time.monotonic()
    second = get(sim_nomad, f"/v1/node/{node}/allocations", index=index_of(first), wait="1s")
    assert 1.0 <= time.monotonic() - started < 1.0 + 1 / 16 + 0.5
    assert index_of(second) == index_of(first)


def test_an_empty_nodes_query_answers_the_stale_table_index_at_its_deadline(sim_nomad, node):
    """The watch set covers the node's own allocations: a write elsewhere moves the allocs
    table index but does not wake the query, which then answers what it read first."""
    other = sim_nomad.add_node("pi-02")
    first = get(sim_nomad, f"/v1/node/{node}/allocations")
    later(0.1, sim_nomad.add_alloc, other, "web")
    started = time.monotonic()
    second = get(sim_nomad, f"/v1/node/{node}/allocations", index=index_of(first), wait="700ms")
    assert time.monotonic() - started >= 0.7
    assert index_of(second) == index_of(first)
    third = get(sim_nomad, f"/v1/node/{node}/allocations", index=index_of(first), wait="5s")
    assert index_of(third) > index_of(first)  # now the table index has passed: at once


def test_gc_of_an_older_allocation_is_seen_only_at_the_deadline(sim_nomad, node):
    """GetAllocs' index is the highest ModifyIndex among the node's allocations: removing
    an older one does not move it, so the query wakes, re-runs, and waits on."""
    gone = sim_nomad.add_alloc(node, "gone")
    keep = sim_nomad.add_alloc(node, "keep")
    first = get(sim_nomad, f"/v1/node/{node}/allocations")
    later(0.1, sim_nomad.remove_alloc, gone)
    started = time.monotonic()
    second = get(sim_nomad, f"/v1/node/{node}/allocations", index=index_of(first), wait="500ms")
    assert time.monotonic() - started >= 0.5
    assert index_of(second) == index_of(first)
    assert [a["ID"] for a in second.json()] == [keep]  # the re-run's result


def test_gc_of_the_newest_allocation_moves_the_index_back(sim_nomad, node):
    keep = sim_nomad.add_alloc(node, "keep")
    gone = sim_nomad.add_alloc(node, "gone")
    first = get(sim_nomad, f"/v1/node/{node}/allocations")
    sim_nomad.remove_alloc(gone)
    second = get(sim_nomad, f"/v1/node/{node}/allocations", index=index_of(first), wait="300ms")
    assert index_of(second) < index_of(first)
    assert [a["ID"] for a in second.json()] == [keep]


def test_index_going_backwards_is_reported_after_the_wait(sim_nomad, node):
    sim_nomad.add_alloc(node, "web")
    first = get(sim_nomad, "/v1/nodes")
    sim_nomad.reset_index(1)
    second = get(sim_nomad, "/v1/nodes", index=index_of(first), wait="300ms")
    assert index_of(second) < index_of(first)


@pytest.mark.parametrize(("mode", "header"), [("absent", None), ("zero", "0")])
def test_a_proxy_can_strip_or_zero_the_index(sim_nomad, node, mode, header):
    sim_nomad.set_proxy(index_header=mode)
    response = get(sim_nomad, f"/v1/node/{node}/allocations")
    assert response.headers.get("X-Nomad-Index") == header
    assert response.headers["X-Nomad-KnownLeader"] == "true"


def test_a_server_that_does_not_block_answers_at_once(sim_nomad, node):
    first = get(sim_nomad, f"/v1/node/{node}/allocations")
    sim_nomad.set_proxy(blocking=False)
    started = time.monotonic()
    get(sim_nomad, f"/v1/node/{node}/allocations", index=index_of(first), wait="5s")
    assert time.monotonic() - started < 1


# -- ACLs -------------------------------------------------------------------------------


@pytest.fixture
def acl_sim():
    tokens = {
        TOKEN: {"agent:read", "node:read", "namespace:default:read-job"},
        "agent-only": {"agent:read"},
        "node-only": {"node:read"},
    }
    with SimNomad(acl_tokens=tokens) as sim:
        node = sim.add_node("pi-01", port=0)
        sim.add_alloc(node, "web")
        sim.add_alloc(node, "secret", namespace="team-b")
        yield sim, node


def test_acl_no_or_weak_token_is_permission_denied(acl_sim):
    sim, node = acl_sim
    client = sim.agent_for(node)
    for agent in (sim.agent, client):
        response = get(agent, "/v1/agent/self")
        assert (response.status_code, response.text) == (403, "Permission denied")
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert get(client, f"/v1/node/{node}", token="agent-only").status_code == 403
    assert get(client, "/v1/agent/self", token="agent-only").status_code == 200


def test_an_unknown_token_is_permission_denied_since_nomad_1_5(acl_sim):
    sim, node = acl_sim
    client = sim.agent_for(node)
    for path in ("/v1/agent/self", f"/v1/node/{node}/allocations", "/v1/nodes"):
        response = get(client, path, token=UNKNOWN_UUID)
        assert (response.status_code, response.text) == (403, "Permission denied")
    sim.store.acl.legacy_token_not_found = True
    assert get(client, "/v1/nodes", token=UNKNOWN_UUID).text == "ACL token not found"


def test_a_token_that_is_no_uuid_fails_agent_self_with_a_500(acl_sim):
    sim, node = acl_sim
    response = get(sim.agent_for(node), "/v1/agent/self", token="not-a-uuid")
    assert response.status_code == 500
    assert response.text == (
        "failed to resolve ACL token: rpc error: failed to parse signed token: "
        "go-jose/go-jose: compact JWS format must have three parts"
    )
    assert get(sim.agent_for(node), "/v1/nodes", token="not-a-uuid").status_code == 403


def test_an_expired_token(acl_sim):
    sim, node = acl_sim
    sim.add_policy("agent", 'agent { policy = "read" }')
    expired = sim.add_token(["agent"], expired=True)
    response = get(sim.agent_for(node), "/v1/agent/self", token=expired)
    assert (response.status_code, response.text) == (
        500,
        "failed to resolve ACL token: rpc error: ACL token expired",
    )
    assert get(sim.agent_for(node), "/v1/nodes", token=expired).text == "Permission denied"


def test_allocations_need_node_read_and_are_filtered_by_read_job(acl_sim):
    sim, node = acl_sim
    path = f"/v1/node/{node}/allocations"
    assert get(sim, path, token="agent-only").status_code == 403
    none = get(sim, path, token="node-only")
    assert (none.status_code, none.json()) == (200, [])
    some = get(sim, path, token=TOKEN)
    assert [a["JobID"] for a in some.json()] == ["web"]
    # The index still covers the allocations left out (Node.GetAllocs).
    assert index_of(none) == index_of(some) == sim.index
    assert sim.request_log[-1].headers["X-Nomad-Token"] == TOKEN


def test_the_documented_policy_shows_every_namespace(acl_sim):
    sim, node = acl_sim
    sim.add_policy("blinkt", ACL_POLICY)
    token = sim.add_token(["blinkt"])
    client = sim.agent_for(node)
    assert get(client, "/v1/agent/self", token=token).ok
    jobs = {a["JobID"] for a in get(client, f"/v1/node/{node}/allocations", token=token).json()}
    assert jobs == {"web", "secret"}


def test_namespace_globs_take_the_closest_match_and_deny_wins(acl_sim):
    sim, node = acl_sim
    sim.add_alloc(node, "third", namespace="team-a")
    sim.add_policy(
        "mixed",
        """
        node { policy = "read" }
        namespace "*" { policy = "read" }   # read-job everywhere ...
        namespace "team-*" { policy = "deny" }  # ... but a closer glob denies
        namespace "team-a" { capabilities = ["read-job"] }  # a concrete name wins
        """,
    )
    token = sim.add_token(["mixed"])
    jobs = {a["JobID"] for a in get(sim, f"/v1/node/{node}/allocations", token=token).json()}
    assert jobs == {"web", "third"}


def test_unknown_node_allocations_are_200_with_node_read(acl_sim):
    sim, _ = acl_sim
    response = get(sim, "/v1/node/nope/allocations", token="node-only")
    assert (response.status_code, response.json()) == (200, [])


def test_management_token_reads_everything():
    with SimNomad(acl_tokens={"root": "management"}) as sim:
        node = sim.add_node("pi-01")
        sim.add_alloc(node, "x", namespace="anywhere")
        assert len(get(sim, f"/v1/node/{node}/allocations", token="root").json()) == 1


# -- faults -----------------------------------------------------------------------------


def test_fail_next_answers_errors_then_recovers(sim_nomad):
    sim_nomad.fail_next(503, count=2, body="no cluster leader")
    assert [get(sim_nomad, "/v1/status/leader").status_code for _ in range(3)] == [503, 503, 200]


def test_malformed_next_truncates_the_json(sim_nomad, node):
    sim_nomad.malformed_next()
    response = get(sim_nomad, f"/v1/node/{node}")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)


def test_hang_next_delays_the_answer(sim_nomad):
    sim_nomad.hang_next(0.5)
    started = time.monotonic()
    assert get(sim_nomad, "/v1/status/leader").status_code == 200
    assert time.monotonic() - started >= 0.5


def test_outage_refuses_connections_then_returns_on_the_same_port(sim_nomad, node):
    session = requests.Session()
    assert session.get(sim_nomad.url + "/v1/status/leader", timeout=5).ok
    port = sim_nomad.port
    sim_nomad.set_outage(True)
    with pytest.raises(requests.ConnectionError):
        session.get(sim_nomad.url + "/v1/status/leader", timeout=5)
    sim_nomad.set_outage(False)
    assert sim_nomad.port == port
    assert session.get(sim_nomad.url + "/v1/status/leader", timeout=5).ok


def test_outage_cuts_a_blocked_query(sim_nomad, node):
    first = get(sim_nomad, f"/v1/node/{node}/allocations")
    later(0.2, sim_nomad.set_outage, True)
    with pytest.raises(requests.ConnectionError):
        get(sim_nomad, f"/v1/node/{node}/allocations", index=index_of(first), wait="5s")


def test_one_client_agent_down_leaves_the_others_up(three_pis):
    sim, ids = three_pis
    sim.agent_for(ids["pi-02"]).set_outage(True)
    with pytest.raises(requests.ConnectionError):
        get(sim.agent_for(ids["pi-02"]), "/v1/agent/self")
    assert get(sim.agent_for(ids["pi-03"]), f"/v1/node/{ids['pi-02']}").ok


def test_request_log_records_method_path_query_and_time(sim_nomad, node):
    get(sim_nomad, f"/v1/node/{node}/allocations", index=7, wait="1ms")
    entry = sim_nomad.request_log[-1]
    assert (entry.method, entry.path) == ("GET", f"/v1/node/{node}/allocations")
    assert entry.query == {"index": "7", "wait": "1ms"}
    assert entry.at <= time.monotonic()


# -- control API ------------------------------------------------------------------------


def control(sim, method, path, **body):
    response = requests.request(method, f"{sim.url}/_sim/{path}", json=body, timeout=5)
    return response


def test_control_api_drives_the_cluster(sim_nomad, node):
    new_node = control(sim_nomad, "POST", "nodes", name="pi-02").json()["id"]
    alloc = control(sim_nomad, "POST", "allocations", node="pi-02", job="api", group="api")
    alloc = alloc.json()["id"]
    control(sim_nomad, "POST", f"allocations/{alloc}", client_status="running")
    assert sim_nomad.allocs(new_node)[0]["ClientStatus"] == "running"
    assert control(sim_nomad, "DELETE", f"allocations/{alloc}").ok
    state = control(sim_nomad, "GET", "state").json()
    assert [n["name"] for n in state["nodes"]] == ["pi-01", "pi-02"]
    assert state["allocations"] == []


def test_control_api_node_life_cycle_acl_and_proxy(sim_nomad, node):
    made = control(sim_nomad, "POST", "nodes", name="pi-02", host="127.0.1.2", port=0).json()
    assert made["address"].startswith("127.0.1.2:")
    new = control(sim_nomad, "POST", "nodes/pi-02/reimage").json()["id"]
    assert sim_nomad.node_id("pi-02") == new != made["id"]
    control(sim_nomad, "POST", f"nodes/{new}/down")
    assert get(sim_nomad, f"/v1/node/{new}").json()["Status"] == "down"
    control(sim_nomad, "POST", "nodes/pi-02/up")
    control(sim_nomad, "POST", "nodes/pi-02/drain", enable=True)
    assert get(sim_nomad, f"/v1/node/{new}").json()["SchedulingEligibility"] == "ineligible"
    assert control(sim_nomad, "POST", "gc", threshold_s=0).json() == {"removed": [made["id"]]}
    control(sim_nomad, "POST", "acl/policies", name="p", rules=ACL_POLICY)
    secret = control(sim_nomad, "POST", "acl/tokens", policies=["p"]).json()["secret"]
    assert get(sim_nomad, "/v1/agent/self").status_code == 403
    assert get(sim_nomad, "/v1/agent/self", token=secret).ok
    control(sim_nomad, "POST", "proxy", index_header="absent", agent="pi-02")
    stripped = get(sim_nomad.agent_for(new), "/v1/nodes", token=secret)
    assert "X-Nomad-Index" not in stripped.headers
    assert "X-Nomad-Index" in get(sim_nomad, "/v1/nodes", token=secret).headers


def test_control_api_rejects_bad_calls(sim_nomad):
    assert control(sim_nomad, "POST", "allocations", job="x").status_code == 400
    assert control(sim_nomad, "DELETE", "allocations/nope").status_code == 404
    assert control(sim_nomad, "POST", "outage", down=True).status_code == 400
    bad = control(sim_nomad, "POST", "acl/policies", name="p", rules='agent { policy = "x" }')
    assert bad.status_code == 400 and "Invalid agent policy" in bad.text


def test_control_api_outage_ends_by_itself(sim_nomad):
    control(sim_nomad, "POST", "outage", down=True, seconds=0.3)
    with pytest.raises(requests.ConnectionError):
        get(sim_nomad, "/v1/status/leader")
    time.sleep(0.5)
    assert get(sim_nomad, "/v1/status/leader").ok


# -- SimCluster -------------------------------------------------------------------------


def test_cluster_advertises_every_pi_at_its_own_agent():
    import dns.message
    import dns.query

    with SimCluster(nodes=("pi-01", "pi-02")) as cluster:
        query = dns.message.make_query("http.nomad-client.service.consul.", "SRV")
        host, port = cluster.dns.address.split(":")
        answer = dns.query.udp(query, host, port=int(port), timeout=2)
        ports = sorted(r.port for rrset in answer.answer for r in rrset)
        assert ports == sorted(cluster.agent(n).port for n in ("pi-01", "pi-02"))
        assert cluster.nomad.port not in ports  # the server agent is no Pi's client
        assert cluster.local_node_id == cluster.node_ids["pi-01"]


def test_twelve_pis_on_their_own_loopback_addresses_each_answer_for_themselves():
    names = [f"pi-{i:02d}" for i in range(1, 13)]
    with SimCluster(names, node_hosts=loopback_hosts(names, first=41)) as cluster:
        for i, name in enumerate(names, start=41):
            agent = cluster.agent(name)
            assert agent.host == f"127.0.1.{i}"
            body = get(agent, "/v1/agent/self").json()
            assert body["stats"]["client"]["node_id"] == cluster.node_ids[name]
        assert all(len(cluster.agent(n).request_log) == 1 for n in names)
        assert len(cluster.nomad.request_log) == 12  # every agent's requests, merged


def test_a_nomad_wide_outage_takes_every_agent_away(three_pis):
    sim, ids = three_pis
    sim.set_outage(True)
    for node_id in ids.values():
        with pytest.raises(requests.ConnectionError):
            get(sim.agent_for(node_id), "/v1/agent/self")
    sim.set_outage(False)
    assert all(get(sim.agent_for(node_id), "/v1/agent/self").ok for node_id in ids.values())


# -- standalone process -----------------------------------------------------------------


@pytest.mark.slow
def test_standalone_process_serves_until_sigterm():
    with socket.socket() as s:
        s.bind(("127.0.1.7", 0))
        agent_port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "blinkt_agent.sim", "--nomad-port", "0", "--dns-port", "0",
         "--node", "pi-01=127.0.1.7", "--node", "pi-02", "--agent-port", str(agent_port),
         "--allocs", "3", "--token", TOKEN],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        assert line.startswith("sim: nomad http://127.0.0.1:") and "nodes=pi-01,pi-02" in line
        assert f"agents=pi-01@127.0.1.7:{agent_port}," in line
        url = line.split()[2]
        state = requests.get(url + "/_sim/state", timeout=5).json()
        assert len(state["allocations"]) == 3
        pi01 = f"http://127.0.1.7:{agent_port}"
        headers = {"X-Nomad-Token": TOKEN}
        self_ = requests.get(pi01 + "/v1/agent/self", headers=headers, timeout=5).json()
        node_id = self_["stats"]["client"]["node_id"]
        allocs = requests.get(f"{pi01}/v1/node/{node_id}/allocations", headers=headers, timeout=5)
        assert len(allocs.json()) == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()

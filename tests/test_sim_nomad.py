"""SimNomad through real HTTP: shapes, blocking queries, ACLs, faults, outage, control API."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from blinkt_agent.sim import SimNomad
from blinkt_agent.sim.nomad import parse_duration

TOKEN = "s3cr3t"


def get(sim, path, token=None, **params):
    headers = {"X-Nomad-Token": token} if token else {}
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


def test_agent_self_names_the_local_node(sim_nomad, node):
    sim_nomad.add_node("pi-02")
    body = get(sim_nomad, "/v1/agent/self").json()
    assert body["stats"]["client"]["node_id"] == node
    assert body["config"]["NodeName"] == "pi-01"
    assert body["member"]["Name"] == "pi-01.global"


def test_local_flag_overrides_first_node(sim_nomad, node):
    other = sim_nomad.add_node("pi-02", local=True)
    assert get(sim_nomad, "/v1/agent/self").json()["stats"]["client"]["node_id"] == other


def test_node_read_has_resources_and_query_meta_headers(sim_nomad, node):
    response = get(sim_nomad, f"/v1/node/{node}")
    body = response.json()
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Nomad-KnownLeader"] == "true"
    assert index_of(response) == body["ModifyIndex"]
    assert body["Name"] == "pi-01" and body["Status"] == "ready"
    assert body["NodeResources"]["Cpu"]["CpuShares"] == 6000
    assert body["NodeResources"]["Memory"]["MemoryMB"] == 8000
    assert body["ReservedResources"]["Cpu"]["CpuShares"] == 100
    assert body["HTTPAddr"] == sim_nomad.address


def test_unknown_node_is_404_node_not_found(sim_nomad):
    response = get(sim_nomad, "/v1/node/00000000-0000-0000-0000-000000000000")
    assert (response.status_code, response.text) == (404, "node not found")


def test_unknown_node_allocations_is_an_empty_list(sim_nomad):
    response = get(sim_nomad, "/v1/node/nope/allocations")
    assert (response.status_code, response.json()) == (200, [])
    assert index_of(response) >= 1


def test_allocations_are_full_objects_in_the_new_resources_shape(sim_nomad, node):
    alloc = sim_nomad.add_alloc(node, "web", "front", cpu=250, memory_mb=128, mbits=10)
    [body] = get(sim_nomad, f"/v1/node/{node}/allocations").json()
    assert body["ID"] == alloc and body["Name"] == "web.front[0]"
    assert (body["JobID"], body["TaskGroup"], body["NodeName"]) == ("web", "front", "pi-01")
    assert (body["ClientStatus"], body["DesiredStatus"]) == ("pending", "run")
    task = body["AllocatedResources"]["Tasks"]["front"]
    assert task["Cpu"]["CpuShares"] == 250 and task["Memory"]["MemoryMB"] == 128
    assert task["Networks"][0]["MBits"] == 10
    assert body["AllocatedResources"]["Shared"]["DiskMB"] == 300
    assert "Resources" not in body and body["TaskStates"]["front"]["State"] == "pending"


@pytest.mark.parametrize(("shape", "new", "old"), [("old", False, True), ("both", True, True)])
def test_resources_shape_is_selectable(shape, new, old):
    with SimNomad(resources_shape=shape) as sim:
        node = sim.add_node("pi-01")
        sim.add_alloc(node, "web", cpu=300)
        [body] = get(sim, f"/v1/node/{node}/allocations").json()
        assert ("AllocatedResources" in body, "Resources" in body) == (new, old)
        if old:
            assert body["Resources"]["CPU"] == 300
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


def test_nodes_list_supports_prefix_and_name_filter(sim_nomad, node):
    other = sim_nomad.add_node("pi-02")
    by_prefix = get(sim_nomad, "/v1/nodes", prefix=other[:6]).json()
    by_name = get(sim_nomad, "/v1/nodes", filter='Name == "pi-02"').json()
    assert [n["ID"] for n in by_prefix] == [other] == [n["ID"] for n in by_name]
    assert len(get(sim_nomad, "/v1/nodes").json()) == 2


def test_unsupported_filter_is_400(sim_nomad):
    response = get(sim_nomad, "/v1/nodes", filter="Name matches pi")
    assert response.status_code == 400
    assert response.text.startswith("failed to read filter expression")


def test_unknown_path_is_404_and_wrong_method_405(sim_nomad, node):
    assert get(sim_nomad, "/v1/nope").status_code == 404
    response = requests.put(f"{sim_nomad.url}/v1/node/{node}", timeout=5)
    assert (response.status_code, response.text) == (405, "Invalid method")


def test_status_leader_is_a_json_string(sim_nomad):
    assert get(sim_nomad, "/v1/status/leader").json() == "127.0.0.1:4647"


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("250ms", 0.25), ("1m30s", 90)])
def test_parse_duration_reads_go_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_wait_without_unit_is_rejected_like_go(sim_nomad, node):
    response = get(sim_nomad, f"/v1/node/{node}", index=1, wait="5")
    assert (response.status_code, response.text) == (400, "Invalid wait time")


# -- blocking queries ------------------------------------------------------------------


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


def test_blocking_query_ignores_other_nodes_and_times_out_at_wait(sim_nomad, node):
    other = sim_nomad.add_node("pi-02")
    sim_nomad.add_alloc(node, "web")  # else the node's index is the whole allocs table's
    first = get(sim_nomad, f"/v1/node/{node}/allocations")
    later(0.1, sim_nomad.add_alloc, other, "web")
    started = time.monotonic()
    second = get(sim_nomad, f"/v1/node/{node}/allocations", index=index_of(first), wait="1s")
    assert 1.0 <= time.monotonic() - started < 1.0 + 1 / 16 + 0.5
    assert index_of(second) == index_of(first)


def test_index_going_backwards_is_reported_after_the_wait(sim_nomad, node):
    sim_nomad.add_alloc(node, "web")
    first = get(sim_nomad, "/v1/nodes")
    sim_nomad.reset_index(1)
    second = get(sim_nomad, "/v1/nodes", index=index_of(first), wait="300ms")
    assert index_of(second) < index_of(first)


# -- ACLs ------------------------------------------------------------------------------


@pytest.fixture
def acl_sim():
    tokens = {
        TOKEN: {"agent:read", "node:read", "namespace:default:read-job"},
        "agent-only": {"agent:read"},
    }
    with SimNomad(acl_tokens=tokens) as sim:
        node = sim.add_node("pi-01")
        sim.add_alloc(node, "web")
        sim.add_alloc(node, "secret", namespace="team-b")
        yield sim, node


def test_acl_denies_missing_unknown_and_insufficient_tokens(acl_sim):
    sim, node = acl_sim
    assert (get(sim, "/v1/agent/self").status_code, get(sim, "/v1/agent/self").text) == (
        403,
        "Permission denied",
    )
    assert get(sim, "/v1/agent/self", token="wrong").text == "ACL token not found"
    assert get(sim, f"/v1/node/{node}", token="agent-only").status_code == 403
    assert get(sim, "/v1/agent/self", token="agent-only").status_code == 200


def test_acl_filters_allocations_of_unreadable_namespaces(acl_sim):
    sim, node = acl_sim
    response = get(sim, f"/v1/node/{node}/allocations", token=TOKEN)
    assert [a["JobID"] for a in response.json()] == ["web"]
    assert sim.request_log[-1].headers["X-Nomad-Token"] == TOKEN


# -- faults ----------------------------------------------------------------------------


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


def test_request_log_records_method_path_and_query(sim_nomad, node):
    get(sim_nomad, f"/v1/node/{node}/allocations", index=7, wait="1ms")
    entry = sim_nomad.request_log[-1]
    assert (entry.method, entry.path) == ("GET", f"/v1/node/{node}/allocations")
    assert entry.query == {"index": "7", "wait": "1ms"}


# -- control API -----------------------------------------------------------------------


def test_control_api_drives_the_cluster(sim_nomad, node):
    url = sim_nomad.url + "/_sim"
    new_node = requests.post(f"{url}/nodes", json={"name": "pi-02"}, timeout=5).json()["id"]
    alloc = requests.post(
        f"{url}/allocations", json={"node": "pi-02", "job": "api", "group": "api"}, timeout=5
    ).json()["id"]
    requests.post(f"{url}/allocations/{alloc}", json={"client_status": "running"}, timeout=5)
    assert sim_nomad.allocs(new_node)[0]["ClientStatus"] == "running"
    assert requests.delete(f"{url}/allocations/{alloc}", timeout=5).ok
    state = requests.get(f"{url}/state", timeout=5).json()
    assert [n["name"] for n in state["nodes"]] == ["pi-01", "pi-02"]
    assert state["allocations"] == []


def test_control_api_rejects_bad_calls(sim_nomad):
    url = sim_nomad.url + "/_sim"
    assert requests.post(f"{url}/allocations", json={"job": "x"}, timeout=5).status_code == 400
    assert requests.delete(f"{url}/allocations/nope", timeout=5).status_code == 404
    assert requests.post(f"{url}/outage", json={"down": True}, timeout=5).status_code == 400


def test_control_api_outage_ends_by_itself(sim_nomad):
    requests.post(f"{sim_nomad.url}/_sim/outage", json={"down": True, "seconds": 0.3}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        get(sim_nomad, "/v1/status/leader")
    time.sleep(0.5)
    assert get(sim_nomad, "/v1/status/leader").ok


# -- standalone process ----------------------------------------------------------------


@pytest.mark.slow
def test_standalone_process_serves_until_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "blinkt_agent.sim", "--nomad-port", "0", "--dns-port", "0",
         "--node", "pi-01", "--node", "pi-02", "--allocs", "3", "--token", TOKEN],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line.startswith("sim: nomad http://127.0.0.1:") and "nodes=pi-01,pi-02" in line
        url = line.split()[2]
        state = requests.get(url + "/_sim/state", timeout=5).json()
        assert len(state["allocations"]) == 3
        self_ = requests.get(url + "/v1/agent/self", headers={"X-Nomad-Token": TOKEN}, timeout=5)
        assert self_.json()["config"]["NodeName"] == "pi-01"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()

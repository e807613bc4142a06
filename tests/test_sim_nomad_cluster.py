"""SimNomad's cluster-wide reads through real HTTP, pinned to hashicorp/nomad.

`GET /v1/allocations` (command/agent/alloc_endpoint.go AllocsRequest, nomad/alloc_endpoint.go
List) and `GET /v1/nodes` (nomad/node_endpoint.go List) with blocking queries: the stubs,
the table indexes they answer, what wakes them, ACL filtering per namespace, node drain
and eligibility as the stubs show them. docs/CONFORMANCE.md cites these tests.
"""

import threading
import time

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from blinkt_agent.sim import SimNomad
from blinkt_agent.sim.nomad.api import _create_index_token, paginate
from blinkt_agent.sources.nomad.client import ACL_POLICY

# structs.AllocListStub, field for field in its order (AllocatedResources only on request).
STUB_FIELDS = [
    "ID",
    "EvalID",
    "Name",
    "Namespace",
    "NodeID",
    "NodeName",
    "JobID",
    "JobType",
    "JobVersion",
    "TaskGroup",
    "DesiredStatus",
    "DesiredDescription",
    "ClientStatus",
    "ClientDescription",
    "DesiredTransition",
    "TaskStates",
    "DeploymentStatus",
    "FollowupEvalID",
    "NextAllocation",
    "RescheduleTracker",
    "PreemptedAllocations",
    "PreemptedByAllocation",
    "CreateIndex",
    "ModifyIndex",
    "CreateTime",
    "ModifyTime",
]


def get(agent, path, token=None, **params):
    headers = {"X-Nomad-Token": token} if token else {}
    return requests.get(agent.url + path, params=params, headers=headers, timeout=10)


def allocations(agent, token=None, **params):
    return get(agent, "/v1/allocations", token, **params)


def index_of(response):
    return int(response.headers["X-Nomad-Index"])


def later(seconds, fn, *args, **kwargs):
    timer = threading.Timer(seconds, fn, args, kwargs)
    timer.start()
    return timer


def blocked(agent, path, first, wait, token=None, **params):
    """(answer, seconds) of a blocking query from the first answer's index."""
    started = time.monotonic()
    params.update(index=index_of(first), wait=wait)
    response = get(agent, path, token, **params)
    return response, time.monotonic() - started


@pytest.fixture
def cluster():
    """Three Pis with their own client agents; allocations in two namespaces."""
    with SimNomad() as sim:
        ids = {
            name: sim.add_node(name, host=f"127.0.1.{i}", port=0)
            for i, name in enumerate(("pi-01", "pi-02", "pi-03"), start=1)
        }
        allocs = {
            "web": sim.add_alloc(ids["pi-01"], "web", client_status="running"),
            "api": sim.add_alloc(ids["pi-02"], "api", client_status="pending"),
            "secret": sim.add_alloc(ids["pi-03"], "secret", namespace="team-b"),
        }
        yield sim, ids, allocs


# -- GET /v1/allocations: the stubs ----------------------------------------------------


def test_allocation_stubs_carry_every_field_in_creation_order(cluster):
    sim, ids, allocs = cluster
    sim.update_alloc(allocs["web"], desired_status="stop")
    response = allocations(sim.agent_for(ids["pi-02"]), namespace="*")
    stubs = response.json()
    assert [s["ID"] for s in stubs] == [allocs["web"], allocs["api"], allocs["secret"]]
    assert all(list(s) == STUB_FIELDS for s in stubs)  # no AllocatedResources by default
    web = stubs[0]
    assert (web["NodeID"], web["NodeName"], web["Namespace"]) == (ids["pi-01"], "pi-01", "default")
    assert (web["ClientStatus"], web["DesiredStatus"]) == ("running", "stop")
    assert web["DesiredDescription"] == "alloc is being stopped"
    assert web["ModifyIndex"] > web["CreateIndex"] and web["ModifyTime"] >= web["CreateTime"]
    assert (web["JobType"], web["JobVersion"], web["FollowupEvalID"]) == ("service", 0, "")
    assert set(web["DesiredTransition"]) == {
        "Migrate",
        "Reschedule",
        "ForceReschedule",
        "NoShutdownDelay",
        "MigrateDisablePlacement",
    }
    assert web["TaskStates"]["web"]["State"] == "running"
    assert stubs[2]["NodeName"] == "pi-03" and stubs[2]["Namespace"] == "team-b"


def test_resources_and_task_states_pick_fields_and_parse_like_go(cluster):
    sim, _, _ = cluster
    [with_resources, *_] = allocations(sim, namespace="*", resources="1").json()
    assert with_resources["AllocatedResources"]["Tasks"]["web"]["Cpu"]["CpuShares"] == 500
    assert list(with_resources).index("AllocatedResources") == STUB_FIELDS.index("TaskGroup") + 1
    [no_states, *_] = allocations(sim, namespace="*", task_states="F").json()
    assert "TaskStates" in no_states and no_states["TaskStates"] is None
    bad = allocations(sim, resources="yes")
    assert (bad.status_code, bad.text) == (
        500,
        'Failed to parse value of "resources" (yes) as a bool: '
        'strconv.ParseBool: parsing "yes": invalid syntax',
    )


def test_pre_0_9_allocations_have_no_allocated_resources_even_when_asked():
    with SimNomad(resources_shape="old") as sim:
        sim.add_alloc(sim.add_node("pi-01"), "web")
        [stub] = allocations(sim, resources="true").json()
        assert "AllocatedResources" not in stub and "Resources" not in stub


def test_without_a_namespace_only_default_is_listed(cluster):
    sim, _, allocs = cluster
    assert [s["ID"] for s in allocations(sim).json()] == [allocs["web"], allocs["api"]]
    assert [s["ID"] for s in allocations(sim, namespace="team-b").json()] == [allocs["secret"]]
    assert allocations(sim, namespace="nowhere").json() == []


def test_node_name_stays_on_the_allocation_when_the_node_is_purged(cluster):
    sim, ids, allocs = cluster
    sim.remove_node(ids["pi-02"])
    stub = next(s for s in allocations(sim).json() if s["ID"] == allocs["api"])
    assert (stub["NodeID"], stub["NodeName"]) == (ids["pi-02"], "pi-02")


# -- GET /v1/allocations: index and blocking -------------------------------------------


def test_the_index_is_the_allocs_table_index_not_the_newest_modify_index(cluster):
    """Unlike a node's allocations (highest ModifyIndex), GC of the newest allocation moves
    the list's index forward, and an answer with nothing in it has the table index too."""
    sim, _, _ = cluster
    newest = sim.add_alloc(sim.node_id("pi-01"), "newest", namespace="team-b")
    before = allocations(sim, namespace="*")
    sim.remove_alloc(newest)
    after = allocations(sim, namespace="*")
    assert index_of(after) == sim.index > index_of(before)
    assert index_of(allocations(sim, namespace="nowhere")) == sim.index


def test_a_blocked_cluster_query_wakes_on_a_change_on_another_node(cluster):
    sim, ids, allocs = cluster
    pi01 = sim.agent_for(ids["pi-01"])
    first = allocations(pi01, namespace="*")
    later(0.2, sim.update_alloc, allocs["secret"], "failed")
    second, took = blocked(pi01, "/v1/allocations", first, "5s", namespace="*")
    assert 0.15 < took < 4
    assert index_of(second) > index_of(first)
    secret = next(s for s in second.json() if s["ID"] == allocs["secret"])
    assert (secret["NodeName"], secret["ClientStatus"]) == ("pi-03", "failed")


def test_a_blocked_cluster_query_wakes_for_a_new_allocation_and_a_gc(cluster):
    sim, ids, allocs = cluster
    first = allocations(sim, namespace="*")
    later(0.1, sim.add_alloc, ids["pi-02"], "batch", namespace="team-c")
    second, took = blocked(sim, "/v1/allocations", first, "5s", namespace="*")
    assert took < 4 and [s["Namespace"] for s in second.json()][-1] == "team-c"
    later(0.1, sim.remove_alloc, allocs["web"])
    third, took = blocked(sim, "/v1/allocations", second, "5s", namespace="*")
    assert took < 4 and allocs["web"] not in {s["ID"] for s in third.json()}


def test_a_namespace_query_sleeps_through_writes_elsewhere(cluster):
    """The namespace's index prefix is all it watches: a write in another namespace moves
    the allocs table index but does not wake it; at the deadline it answers what it read
    first, and the next query, already behind the table index, answers at once."""
    sim, ids, _ = cluster
    first = allocations(sim)
    later(0.1, sim.add_alloc, ids["pi-03"], "more", namespace="team-b")
    second, took = blocked(sim, "/v1/allocations", first, "600ms")
    assert took >= 0.6 and index_of(second) == index_of(first)
    third, took = blocked(sim, "/v1/allocations", second, "5s")
    assert took < 1 and index_of(third) == sim.index > index_of(first)
    assert third.json() == first.json()


def test_a_query_of_an_empty_namespace_watches_the_radix_node_it_stops_at(cluster):
    """No allocations in "team-c": SeekPrefixWatch stops in the subtree it shares "team-"
    with team-b, so a team-b write wakes it and a default one does not; a namespace that
    shares no first byte with any watches the whole index."""
    sim, _, allocs = cluster
    first = allocations(sim, namespace="team-c")
    later(0.1, sim.update_alloc, allocs["web"], "complete")
    second, took = blocked(sim, "/v1/allocations", first, "500ms", namespace="team-c")
    assert took >= 0.5 and index_of(second) == index_of(first)
    first = allocations(sim, namespace="team-c")
    later(0.1, sim.update_alloc, allocs["secret"], "running")
    third, took = blocked(sim, "/v1/allocations", first, "5s", namespace="team-c")
    assert took < 4 and index_of(third) > index_of(first) and third.json() == []
    later(0.1, sim.update_alloc, allocs["api"], "running")
    fourth, took = blocked(sim, "/v1/allocations", third, "5s", namespace="ops")
    assert took < 4 and index_of(fourth) > index_of(third)


# -- GET /v1/allocations: ACLs ---------------------------------------------------------


@pytest.fixture
def acl_cluster(cluster):
    sim, ids, allocs = cluster
    sim.add_policy("nodes", 'node { policy = "read" }')
    sim.add_policy("default-jobs", 'namespace "default" { capabilities = ["read-job"] }')
    sim.add_policy("ghost-jobs", 'namespace "ghost" { policy = "read" }')
    sim.add_policy("blinkt", ACL_POLICY)
    tokens = {
        name: sim.add_token(policies)
        for name, policies in {
            "node-only": ["nodes"],
            "default": ["nodes", "default-jobs"],
            "ghost": ["ghost-jobs"],
            "blinkt": ["blinkt"],
        }.items()
    }
    return sim, ids, allocs, tokens


def test_node_read_without_read_job_is_refused_in_every_namespace(acl_cluster):
    sim, _, _, tokens = acl_cluster
    for namespace in ("*", "default", None):
        params = {"namespace": namespace} if namespace else {}
        response = allocations(sim, tokens["node-only"], **params)
        assert (response.status_code, response.text) == (403, "Permission denied")
    assert get(sim, "/v1/nodes", tokens["node-only"]).ok
    assert allocations(sim, namespace="*").status_code == 403  # anonymous
    assert allocations(sim, "00000000-1111-2222-3333-444444444444").status_code == 403


def test_all_namespaces_leaves_out_those_without_read_job(acl_cluster):
    sim, _, allocs, tokens = acl_cluster
    some = allocations(sim, tokens["default"], namespace="*")
    assert [s["ID"] for s in some.json()] == [allocs["web"], allocs["api"]]
    assert index_of(some) == sim.index  # the table index still covers team-b
    refused = allocations(sim, tokens["default"], namespace="team-b")
    assert (refused.status_code, refused.text) == (403, "Permission denied")
    every = allocations(sim, tokens["blinkt"], namespace="*").json()
    assert {s["Namespace"] for s in every} == {"default", "team-b"}


def test_read_job_only_in_a_namespace_that_does_not_exist_is_an_empty_200(acl_cluster):
    """allowedNSes finds no existing namespace: [] before the paginator (and its filter) runs."""
    sim, _, _, tokens = acl_cluster
    response = allocations(sim, tokens["ghost"], namespace="*", filter="nonsense ~ 1")
    assert (response.status_code, response.json()) == (200, [])
    assert index_of(response) == sim.index
    sim.add_namespace("ghost")
    sim.add_alloc(sim.node_id("pi-01"), "haunt", namespace="ghost")
    [stub] = allocations(sim, tokens["ghost"], namespace="*").json()
    assert stub["JobID"] == "haunt"


def test_a_hidden_namespaces_write_wakes_the_query_with_the_same_list(acl_cluster):
    sim, _, allocs, tokens = acl_cluster
    first = allocations(sim, tokens["default"], namespace="*")
    later(0.1, sim.update_alloc, allocs["secret"], "running")
    second, took = blocked(sim, "/v1/allocations", first, "5s", tokens["default"], namespace="*")
    assert took < 4
    assert index_of(second) > index_of(first) and second.json() == first.json()


# -- GET /v1/allocations: pagination and filter, only when asked ------------------------


def test_pages_follow_the_next_token_and_reverse_turns_the_order(cluster):
    sim, _, allocs = cluster
    order = [allocs["web"], allocs["api"], allocs["secret"]]
    whole = allocations(sim, namespace="*")
    assert "X-Nomad-NextToken" not in whole.headers
    first = allocations(sim, namespace="*", per_page=2)
    assert [s["ID"] for s in first.json()] == order[:2]
    third = whole.json()[2]
    assert first.headers["X-Nomad-NextToken"] == f"{third['CreateIndex']}.{third['ID']}"
    rest = allocations(
        sim, namespace="*", per_page=2, next_token=first.headers["X-Nomad-NextToken"]
    )
    assert [s["ID"] for s in rest.json()] == order[2:] and "X-Nomad-NextToken" not in rest.headers
    newest_first = allocations(sim, namespace="*", reverse="true").json()
    assert [s["ID"] for s in newest_first] == order[::-1]


def test_filter_and_bad_pagination_like_nomad(cluster):
    sim, _, allocs = cluster
    running = allocations(sim, namespace="*", filter='ClientStatus == "running"').json()
    assert [s["ID"] for s in running] == [allocs["web"]]
    bad = allocations(sim, per_page="two")
    assert (bad.status_code, bad.text) == (
        400,
        "Expect a number for `per_page` query string parameter",
    )
    unsupported = allocations(sim, namespace="*", filter='JobType == "service"')
    assert unsupported.status_code == 400
    assert unsupported.text.startswith("failed to create result paginator: ")
    assert allocations(sim, prefix="ab").status_code == 400  # not in the simulator


@given(
    creates=st.lists(st.integers(1, 40), min_size=0, max_size=12),
    per_page=st.integers(1, 5),
    reverse=st.booleans(),
)
def test_walking_the_pages_yields_every_stub_once_in_order(creates, per_page, reverse):
    stubs = [{"CreateIndex": c, "ID": f"{i:08x}-0000"} for i, c in enumerate(creates)]
    stubs.sort(key=lambda s: (s["CreateIndex"], s["ID"]), reverse=reverse)
    walked, token = [], ""
    for _ in range(len(stubs) + 1):
        target = token

        def token_of(stub, target=target):
            return _create_index_token(stub, target)

        page, token = paginate(stubs, token_of, per_page, target, reverse, bool)
        assert len(page) <= per_page
        walked += page
        if not token:
            break
    assert walked == stubs


# -- GET /v1/nodes: order, drain, eligibility, index -----------------------------------


def test_nodes_are_listed_by_id_with_the_nodes_table_index(cluster):
    sim, ids, _ = cluster
    response = get(sim, "/v1/nodes")
    assert [n["ID"] for n in response.json()] == sorted(ids.values())
    assert index_of(response) == max(n["ModifyIndex"] for n in response.json())


def test_a_drain_wakes_the_node_list_and_answers_the_nodes_table_index(cluster):
    sim, ids, _ = cluster
    pi03 = sim.agent_for(ids["pi-03"])
    first = get(pi03, "/v1/nodes")
    alloc_index = index_of(allocations(sim, namespace="*"))
    later(0.2, sim.drain, ids["pi-02"])
    second, took = blocked(pi03, "/v1/nodes", first, "5s")
    assert 0.15 < took < 4
    stub = next(n for n in second.json() if n["ID"] == ids["pi-02"])
    assert index_of(second) == stub["ModifyIndex"] == sim.index
    assert (stub["Status"], stub["Drain"], stub["SchedulingEligibility"]) == (
        "ready",
        True,
        "ineligible",
    )
    assert stub["LastDrain"]["Status"] == "draining"
    assert "." not in stub["LastDrain"]["StartedAt"]  # time.Unix(updatedAt, 0): whole seconds
    # A drain is a nodes write only: the allocation list's index stays.
    assert index_of(allocations(sim, namespace="*")) == alloc_index
    assert get(sim, f"/v1/node/{ids['pi-02']}").json()["Drain"] is True


def test_an_allocation_write_does_not_wake_the_node_list(cluster):
    sim, _, allocs = cluster
    first = get(sim, "/v1/nodes")
    later(0.1, sim.update_alloc, allocs["api"], "running")
    second, took = blocked(sim, "/v1/nodes", first, "500ms")
    assert took >= 0.5 and index_of(second) == index_of(first)


def test_a_finished_drain_leaves_the_node_ineligible(cluster):
    sim, ids, _ = cluster
    node = ids["pi-02"]
    sim.drain(node)
    started = get(sim, f"/v1/node/{node}").json()["LastDrain"]["StartedAt"]
    sim.drain_complete(node)
    stub = next(n for n in get(sim, "/v1/nodes").json() if n["ID"] == node)
    assert (stub["Drain"], stub["SchedulingEligibility"]) == (False, "ineligible")
    assert (stub["LastDrain"]["Status"], stub["LastDrain"]["StartedAt"]) == ("complete", started)
    events = get(sim, f"/v1/node/{node}").json()["Events"]
    assert [(e["Subsystem"], e["Message"]) for e in events[-2:]] == [
        ("Drain", "Node drain strategy set"),
        ("Drain", "Node drain complete"),
    ]
    with pytest.raises(ValueError, match="not draining"):
        sim.drain_complete(node)


def test_eligibility_cannot_return_while_draining_and_no_change_is_no_write(cluster):
    sim, ids, _ = cluster
    node = ids["pi-01"]
    before = sim.index
    sim.set_eligibility(node, True)  # already eligible: Nomad returns without a raft write
    assert sim.index == before
    sim.set_eligibility(node, False)
    stub = next(n for n in get(sim, "/v1/nodes").json() if n["ID"] == node)
    assert (stub["Drain"], stub["SchedulingEligibility"], stub["LastDrain"]) == (
        False,
        "ineligible",
        None,
    )
    sim.drain(node)
    with pytest.raises(ValueError, match="while it is draining"):
        sim.set_eligibility(node, True)
    sim.drain(node, False, mark_eligible=True)
    assert get(sim, f"/v1/node/{node}").json()["SchedulingEligibility"] == "eligible"


def test_a_node_going_down_shows_in_both_lists(cluster):
    sim, ids, allocs = cluster
    nodes, allocs_first = get(sim, "/v1/nodes"), allocations(sim, namespace="*")
    later(0.1, sim.node_down, ids["pi-01"])
    after_nodes, _ = blocked(sim, "/v1/nodes", nodes, "5s")
    # node_down writes both tables under one lock: once a query wakes, both have landed.
    after_allocs, _ = blocked(sim, "/v1/allocations", allocs_first, "5s", namespace="*")
    down = next(n for n in get(sim, "/v1/nodes").json() if n["ID"] == ids["pi-01"])
    web = next(s for s in allocations(sim, namespace="*").json() if s["ID"] == allocs["web"])
    assert index_of(after_nodes) > index_of(nodes) and down["Status"] == "down"
    assert index_of(after_allocs) > index_of(allocs_first)
    assert (web["ClientStatus"], web["DesiredStatus"]) == ("lost", "stop")


def test_node_list_fields_parse_like_go(cluster):
    sim, _, _ = cluster
    [stub, *_] = get(sim, "/v1/nodes", resources="1", os="true").json()
    assert "NodeResources" in stub and stub["Attributes"] == {"os.name": "debian"}
    assert "Attributes" not in get(sim, "/v1/nodes").json()[0]
    bad = get(sim, "/v1/nodes", os="yes")
    assert (bad.status_code, bad.text) == (
        400,
        'Failed to parse node list fields: Failed to parse value of "os" (yes) as a bool: '
        'strconv.ParseBool: parsing "yes": invalid syntax',
    )


# -- the control API -------------------------------------------------------------------


def control(sim, method, path, **body):
    return requests.request(method, f"{sim.url}/_sim/{path}", json=body, timeout=5)


def test_control_api_drains_and_sets_eligibility(cluster):
    sim, ids, _ = cluster
    assert control(sim, "POST", "nodes/pi-02/drain", enable=True).ok
    refused = control(sim, "POST", "nodes/pi-02/eligibility", eligible=True)
    assert refused.status_code == 400 and "while it is draining" in refused.text
    assert control(sim, "POST", "nodes/pi-02/drain_complete").ok
    assert control(sim, "POST", "nodes/pi-02/drain_complete").status_code == 400
    assert control(sim, "POST", "namespaces", name="ops").ok
    state = control(sim, "GET", "state").json()
    pi02 = next(n for n in state["nodes"] if n["name"] == "pi-02")
    assert (pi02["drain"], pi02["eligibility"]) == (False, "ineligible")
    assert state["namespaces"] == ["default", "ops", "team-b"]
    assert [s["NodeName"] for s in sim.alloc_stubs()] == ["pi-01", "pi-02", "pi-03"]
    assert ids["pi-02"] == pi02["id"]

"""Nomad's documented response shapes go through our parsing without surprises.

The fixtures in tests/fixtures/nomad_api are our own, written in the shapes of
Nomad's API documentation and its api/ types (see the README there); they
always run, with nothing read from outside the repository.
"""

import json
from pathlib import Path

import pytest

from blinkt_agent import mapping
from blinkt_agent.frame import BLINKT
from blinkt_agent.outside import dig
from blinkt_agent.sim import SimNomad
from blinkt_agent.sources.nomad.normalise import node_of, workloads_of

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nomad_api"
NS = 1_000_000_000
PALETTE = mapping.Palette.default()


def sample(name):
    return json.loads((FIXTURES / name).read_text())


def colours(frame):
    return [(p.r, p.g, p.b) if not p.is_off else None for p in frame]


def test_every_fixture_is_listed_in_the_readme():
    readme = (FIXTURES / "README.md").read_text()
    files = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert len(files) == 9
    for name in files:
        assert f"`{name}`" in readme


def test_agent_self_of_a_client_has_the_local_node_id_where_we_read_it():
    self_ = sample("agent_self_client.json")
    node_id = dig(self_, "stats", "client", "node_id")
    assert node_id == sample("node_read.json")["ID"]
    assert self_["member"]["Name"] == ""  # no server: the zero serf member


def test_agent_self_of_a_server_has_no_client_node():
    """Such a Pi's agent looks its own node up by name instead (GET /v1/nodes?filter=)."""
    assert dig(sample("agent_self_server.json"), "stats", "client", "node_id") is None


def test_nodes_list_is_a_list_of_stubs_with_name_and_id():
    stubs = sample("nodes_list.json")
    assert all(isinstance(n["ID"], str) and isinstance(n["Name"], str) for n in stubs)
    assert "NodeResources" not in stubs[0]  # only with ?resources=true


def test_cluster_allocation_stubs_name_their_nodes_in_creation_order():
    stubs = sample("allocations_list_all_namespaces.json")
    nodes = {n["ID"]: n["Name"] for n in sample("nodes_list.json")}
    assert all(nodes[s["NodeID"]] == s["NodeName"] for s in stubs)
    assert [s["CreateIndex"] for s in stubs] == sorted(s["CreateIndex"] for s in stubs)
    assert {s["Namespace"] for s in stubs} == {"default", "team-b"}
    assert all("AllocatedResources" not in s for s in stubs)  # only with ?resources=true


def test_the_nomad_simulator_sends_the_cluster_stubs_field_for_field():
    """The same fields in the same order, down to task states and task events."""
    [reference, *_] = sample("allocations_list_all_namespaces.json")
    with SimNomad() as sim:
        sim.add_alloc(sim.add_node("pi-01"), "web", client_status="failed")
        [stub] = sim.alloc_stubs()
    assert list(stub) == list(reference)
    assert list(stub["DesiredTransition"]) == list(reference["DesiredTransition"])
    [state], [ref_state] = stub["TaskStates"].values(), reference["TaskStates"].values()
    assert list(state) == list(ref_state)
    assert {tuple(e) for e in state["Events"]} == {tuple(e) for e in ref_state["Events"]}


def _now_after_failure(allocations, seconds):
    failed = next(a for a in allocations if a["ClientStatus"] == "failed")
    return failed["ModifyTime"] + seconds * NS


def test_node_allocations_map_to_one_led_each_oldest_first():
    allocations = sample("node_allocations.json")
    now = _now_after_failure(allocations, 10)
    frame = mapping.allocations_frame(workloads_of(allocations), now, PALETTE, 300, 0.5)
    assert len(frame) == BLINKT.size
    # By CreateIndex: metrics (lost), web, api, cache (stopping), web (pending), report
    # (failed); backup is complete and not shown.
    assert colours(frame) == [
        PALETTE.lost,
        PALETTE.running,
        PALETTE.running,
        PALETTE.stopping,
        PALETTE.pending,
        PALETTE.failed,
        None,
        None,
    ]
    assert mapping.summarize(workloads_of(allocations), now, 300) == {
        "pending": 1,
        "running": 2,
        "stopping": 1,
        "failed": 1,
        "lost": 1,
        "unknown": 0,
    }


def test_failed_and_lost_allocations_drop_after_linger_by_modify_time():
    allocations = sample("node_allocations.json")
    now = _now_after_failure(allocations, 10)  # the lost one ended 65 s before
    assert mapping.summarize(workloads_of(allocations), now, 30)["lost"] == 0
    assert mapping.summarize(workloads_of(allocations), now, 30)["failed"] == 1
    assert mapping.summarize(workloads_of(allocations), now + 30 * NS, 30)["failed"] == 0


@pytest.mark.parametrize(
    ("resource", "used", "capacity"),
    [
        # Live allocations (running, pending, stopping): web, api, cache, web.
        ("cpu", 500 + 300 + 200 + 500, 7200 - 400),
        ("memory", 256 + 128 + 512 + 256, 7812 - 512),
        ("disk", 4 * 300, 51200 - 1024),
        # eth0 is listed for IPv4 and IPv6: one device, 1000 MBits.
        ("network", 10 + 10, 1000),
    ],
)
def test_allocated_resources_against_node_resources_minus_reserved(resource, used, capacity):
    node, allocations = sample("node_read.json"), sample("node_allocations.json")
    assert resource_usage(node, allocations, resource) == (used, capacity)


def test_allocation_list_stubs_with_resources_count_only_live_allocations():
    stubs = sample("allocations_list_resources.json")
    assert resource_usage(sample("node_read.json"), stubs, "memory") == (1152, 7300)


def test_nomad_0_8_shapes_node_resources_and_allocation_resources():
    node, allocations = sample("node_read_legacy.json"), sample("node_allocations_legacy.json")
    assert "NodeResources" not in node and "AllocatedResources" not in allocations[0]
    assert resource_usage(node, allocations, "cpu") == (500, 4800 - 200)
    assert resource_usage(node, allocations, "memory") == (256, 3906 - 256)
    assert resource_usage(node, allocations, "network") == (10, 1000)
    frame = mapping.allocations_frame(workloads_of(allocations), 0, PALETTE, 300, 0.5)
    assert colours(frame)[:2] == [PALETTE.running, None]


def resource_usage(node, allocs, resource):
    """Nomad's node and allocations through the normaliser, then the neutral usage."""
    return mapping.resource_usage(node_of("pi-01", node, allocs, with_capacity=True), resource)

"""Nomad's own documented sample responses go through our parsing without surprises.

The samples live beside the checkout in ../shared/reference/nomad-api (copied from
Nomad's API docs); they are reference data, not fixtures, so this test only runs
where that folder exists.
"""

import json
from pathlib import Path

import pytest

from blinkt_agent import mapping
from blinkt_agent.frame import NUM_PIXELS
from blinkt_agent.outside import dig

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "reference" / "nomad-api"

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"{SAMPLES} is not here")


def sample(name):
    return json.loads((SAMPLES / name).read_text())


def test_agent_self_sample_has_the_local_node_id_where_we_read_it():
    assert dig(sample("agent_self.json"), "stats", "client", "node_id")


def test_node_allocations_sample_maps_to_one_running_led():
    allocations = sample("node_allocations.json")
    frame = mapping.allocations_frame(allocations, 0, mapping.Palette.default(), 300, 0.5)
    assert len(frame) == NUM_PIXELS
    assert (frame[0].r, frame[0].g, frame[0].b) == mapping.Palette.default().running
    assert mapping.summarize(allocations, 0, 300)["running"] == 1


def test_node_sample_and_old_resources_shape_give_a_cpu_share():
    node = sample("node_read.json")
    used, capacity = mapping.resource_usage(node, sample("node_allocations.json"), "cpu")
    assert capacity == node["NodeResources"]["Cpu"]["CpuShares"]
    assert used == 100  # Resources.CPU of the one running allocation


def test_allocated_resources_shape_counts_only_live_allocations():
    stubs = sample("allocations_list_resources.json")
    live = [a for a in stubs if a["ClientStatus"] in ("pending", "running")]
    used, _ = mapping.resource_usage(
        {"NodeResources": {"Memory": {"MemoryMB": 8192}}}, stubs, "memory"
    )
    expected = sum(
        task["Memory"]["MemoryMB"]
        for a in live
        for task in a["AllocatedResources"]["Tasks"].values()
    )
    assert used == expected > 0


def test_nodes_list_sample_is_a_list_of_stubs_with_name_and_id():
    stubs = sample("nodes_list.json")
    assert all(isinstance(n["ID"], str) and isinstance(n["Name"], str) for n in stubs)

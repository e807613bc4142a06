"""Resource bars: capacity, usage in both Nomad shapes, the bar and its edge cases."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blinkt_agent.frame import NUM_PIXELS, OFF, Pixel
from blinkt_agent.mapping import (
    BAR_COLOURS,
    NO_CAPACITY_LEDS,
    OVERLOAD_COLOUR,
    RESOURCES,
    resource_frame,
    resource_usage,
)


def new_node(cpu=0, memory=0, disk=0, mbits=0, reserved_cpu=0, reserved_memory=0):
    """Node in the NodeResources/ReservedResources shape (Nomad 0.9+)."""
    return {
        "NodeResources": {
            "Cpu": {"CpuShares": cpu},
            "Memory": {"MemoryMB": memory},
            "Disk": {"DiskMB": disk},
            "Networks": [{"Device": "eth0", "MBits": mbits}],
        },
        "ReservedResources": {
            "Cpu": {"CpuShares": reserved_cpu},
            "Memory": {"MemoryMB": reserved_memory},
            "Disk": {"DiskMB": 0},
            "Networks": {"ReservedHostPorts": "22"},
        },
    }


def old_node(cpu=0, memory=0, disk=0, mbits=0, reserved_cpu=0):
    """Node in the flat Resources/Reserved shape of older Nomad."""
    return {
        "Resources": {
            "CPU": cpu,
            "MemoryMB": memory,
            "DiskMB": disk,
            "Networks": [{"Device": "eth0", "MBits": mbits}],
        },
        "Reserved": {"CPU": reserved_cpu, "MemoryMB": 0, "DiskMB": 0, "Networks": None},
    }


def new_alloc(cpu=0, memory=0, disk=0, mbits=0, client="running", desired="run"):
    """Allocation with AllocatedResources: two tasks share the amounts."""
    task = {"Cpu": {"CpuShares": cpu / 2}, "Memory": {"MemoryMB": memory / 2}, "Networks": None}
    return {
        "ClientStatus": client,
        "DesiredStatus": desired,
        "AllocatedResources": {
            "Tasks": {"web": task, "sidecar": task},
            "Shared": {"DiskMB": disk, "Networks": [{"Mode": "host", "MBits": mbits}]},
        },
    }


def old_alloc(cpu=0, memory=0, disk=0, mbits=0, client="running", desired="run"):
    return {
        "ClientStatus": client,
        "DesiredStatus": desired,
        "Resources": {
            "CPU": cpu,
            "MemoryMB": memory,
            "DiskMB": disk,
            "Networks": [{"Device": "eth0", "MBits": mbits}],
        },
    }


def brightness_sum(frame):
    return sum(pixel.brightness for pixel in frame)


# --- usage ---------------------------------------------------------------------------


def test_usage_sums_tasks_of_allocated_resources():
    allocs = [new_alloc(cpu=500, memory=256), new_alloc(cpu=100, memory=64)]
    assert resource_usage(new_node(cpu=4000), allocs, "cpu") == (600, 4000)
    assert resource_usage(new_node(memory=1024), allocs, "memory") == (320, 1024)


def test_usage_reads_the_old_resources_shape():
    allocs = [old_alloc(disk=300, mbits=10), old_alloc(disk=200, mbits=5)]
    assert resource_usage(old_node(disk=1000), allocs, "disk") == (500, 1000)
    assert resource_usage(old_node(mbits=100), allocs, "network") == (15, 100)


def test_network_usage_adds_task_and_shared_networks():
    alloc = new_alloc(mbits=20)
    alloc["AllocatedResources"]["Tasks"]["web"] = {"Networks": [{"MBits": 30}]}
    assert resource_usage(new_node(mbits=1000), [alloc], "network") == (50, 1000)


def test_capacity_excludes_what_the_node_reserves():
    assert resource_usage(new_node(cpu=4000, reserved_cpu=1000), [], "cpu") == (0, 3000)
    assert resource_usage(old_node(cpu=4000, reserved_cpu=500), [], "cpu") == (0, 3500)


def test_network_capacity_counts_each_device_once():
    node = new_node()
    node["NodeResources"]["Networks"] = [
        {"Device": "eth0", "IP": "10.0.0.2", "MBits": 1000},
        {"Device": "eth0", "IP": "fe80::2", "MBits": 1000},
        {"Device": "wlan0", "MBits": 100},
    ]
    assert resource_usage(node, [], "network") == (0, 1100)


@pytest.mark.parametrize("client", ["complete", "failed", "lost"])
def test_ended_allocations_free_their_resources(client):
    assert resource_usage(new_node(cpu=1000), [new_alloc(cpu=400, client=client)], "cpu") == (
        0,
        1000,
    )


def test_stopping_allocation_still_holds_its_resources():
    stopping = new_alloc(cpu=400, desired="stop")
    assert resource_usage(new_node(cpu=1000), [stopping], "cpu") == (400, 1000)


def test_missing_fields_count_as_zero():
    allocs = [{"ClientStatus": "running"}, {"AllocatedResources": {"Tasks": {"t": None}}}, 7]
    assert resource_usage(new_node(cpu=1000), allocs, "cpu") == (0, 1000)


@pytest.mark.parametrize("node", [{}, new_node(), old_node(cpu=100, reserved_cpu=200), None])
def test_no_capacity_gives_no_usage(node):
    assert resource_usage(node, [new_alloc(cpu=10)], "cpu") is None


def test_unknown_resource_is_rejected():
    with pytest.raises(ValueError, match="gpu"):
        resource_usage(new_node(cpu=1), [], "gpu")


# --- the bar -------------------------------------------------------------------------


def test_half_the_capacity_lights_the_first_four_leds():
    shown = resource_frame(new_node(memory=800), [new_alloc(memory=400)], "memory", 0.5)
    assert shown == tuple(Pixel(*BAR_COLOURS[led], 0.5) for led in range(4)) + (OFF,) * 4


def test_last_led_shows_the_used_part_of_its_step():
    shown = resource_frame(new_node(cpu=800), [new_alloc(cpu=250)], "cpu", 0.8)
    assert [pixel.brightness for pixel in shown[:4]] == pytest.approx([0.8, 0.8, 0.4, 0])


def test_bar_runs_from_green_through_amber_to_red():
    assert BAR_COLOURS[0] == (0, 255, 0)
    assert BAR_COLOURS[-1] == (255, 0, 0)
    reds = [colour[0] for colour in BAR_COLOURS]
    greens = [colour[1] for colour in BAR_COLOURS]
    assert reds == sorted(reds) and greens == sorted(greens, reverse=True)


def test_over_capacity_lights_every_led_red():
    shown = resource_frame(new_node(cpu=100), [new_alloc(cpu=150)], "cpu", 0.3)
    assert shown == (Pixel(*OVERLOAD_COLOUR, 0.3),) * NUM_PIXELS


def test_no_capacity_shows_its_own_pattern():
    shown = resource_frame({}, [], "disk", 0.3)
    assert [led for led, pixel in enumerate(shown) if not pixel.is_off] == list(NO_CAPACITY_LEDS)


# --- properties ----------------------------------------------------------------------

json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
amounts = st.integers(0, 10_000)
resources = st.sampled_from(RESOURCES)


@given(json_junk, st.lists(json_junk, max_size=5) | json_junk, resources, st.floats(0, 1))
def test_any_json_gives_eight_pixels(node, allocs, resource, brightness):
    assert len(resource_frame(node, allocs, resource, brightness)) == NUM_PIXELS


@given(st.integers(1, 10_000), amounts, amounts, resources)
def test_bar_grows_with_usage(capacity, used, more, resource):
    node = new_node(cpu=capacity, memory=capacity, disk=capacity, mbits=capacity)
    smaller = resource_frame(node, [new_alloc(used, used, used, used)], resource, 1.0)
    bigger = resource_frame(
        node, [new_alloc(used, used, used, used), old_alloc(more, more, more, more)], resource, 1.0
    )
    if used + more <= capacity:
        assert brightness_sum(smaller) <= brightness_sum(bigger)
    else:
        assert bigger == (Pixel(*OVERLOAD_COLOUR, 1.0),) * NUM_PIXELS


@given(st.integers(1, 10_000), st.floats(0, 1), resources, st.floats(0.01, 1))
def test_bar_lights_exactly_the_used_share_of_eight_leds(capacity, share, resource, brightness):
    used = capacity * share
    node = new_node(cpu=capacity, memory=capacity, disk=capacity, mbits=capacity)
    shown = resource_frame(node, [old_alloc(used, used, used, used)], resource, brightness)
    assert brightness_sum(shown) / brightness == pytest.approx(share * NUM_PIXELS, abs=1e-6)


@given(amounts, amounts, amounts, amounts, amounts)
def test_both_nomad_shapes_give_the_same_usage(capacity, cpu, memory, disk, mbits):
    new = new_node(capacity, capacity, capacity, capacity), [new_alloc(cpu, memory, disk, mbits)]
    old = old_node(capacity, capacity, capacity, capacity), [old_alloc(cpu, memory, disk, mbits)]
    for resource in RESOURCES:
        assert resource_usage(*new, resource) == resource_usage(*old, resource)

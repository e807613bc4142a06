"""Resource bars: capacity, usage as Nomad's scheduler counts it (task lifecycles,
reserved cores, both resource shapes), the bar and its edge cases."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blinkt_agent import mapping
from blinkt_agent.frame import BLINKT, OFF, Pixel
from blinkt_agent.layout import OVERLOAD_COLOUR
from blinkt_agent.layout.strip import bar_colours, no_capacity_leds
from blinkt_agent.sim.nomad import SimNomad, Task
from blinkt_agent.sim.nomad.documents import allocated_resources
from blinkt_agent.sim.nomad.state import Alloc
from blinkt_agent.snapshot import RESOURCES
from blinkt_agent.sources.nomad.normalise import allocation_usage, node_of

BAR_COLOURS = bar_colours(BLINKT.size)
NO_CAPACITY_LEDS = no_capacity_leds(BLINKT.size)


def resource_usage(node, allocs, resource):
    """Nomad's node and allocations through the normaliser, then the neutral usage."""
    return mapping.resource_usage(node_of("pi-01", node, allocs, with_capacity=True), resource)


def resource_frame(node, allocs, resource, brightness):
    return mapping.resource_frame(
        node_of("pi-01", node, allocs, with_capacity=True), resource, brightness
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
    """A pre-0.9 allocation: Resources (the whole group), TaskResources, SharedResources."""
    network = [{"Device": "eth0", "MBits": mbits}]
    return {
        "ClientStatus": client,
        "DesiredStatus": desired,
        "Resources": {"CPU": cpu, "MemoryMB": memory, "DiskMB": disk, "Networks": network},
        "TaskResources": {"web": {"CPU": cpu, "MemoryMB": memory, "Networks": network}},
        "SharedResources": {"DiskMB": disk},
    }


def lifecycle_alloc(*tasks, ports=None):
    """AllocatedResources as the simulator renders them (Nomad's shape) for these tasks."""
    alloc = Alloc(
        id="a", eval_id="e", node_id="n", namespace="default", job="j", group="g", slot=0,
        tasks=[Task.of(t) for t in tasks], disk_mb=0, shared_mbits=0, ports=ports or {},
        client_status="running", desired_status="run", create_index=1, modify_index=1,
        alloc_modify_index=1, create_time=0, modify_time=0,
    )  # fmt: skip
    return {"ClientStatus": "running", "AllocatedResources": allocated_resources(alloc, "10.0.0.2")}


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


def test_old_shape_without_resources_sums_task_and_shared_resources():
    alloc = old_alloc(cpu=300, memory=100, disk=50)
    alloc["Resources"] = None  # Allocation.ComparableResources' upgrade path
    alloc["TaskResources"]["log"] = {"CPU": 100, "MemoryMB": 20}
    assert allocation_usage(alloc) | {"network": 0} == {
        "cpu": 400, "memory": 120, "disk": 50, "network": 0,
    }  # fmt: skip


def test_old_shape_network_is_each_tasks_first_network():
    alloc = old_alloc()
    alloc["TaskResources"]["web"]["Networks"] = [{"MBits": 10}, {"MBits": 99}]
    alloc["TaskResources"]["log"] = {"Networks": [{"MBits": 5}]}
    assert allocation_usage(alloc)["network"] == 15


# --- task lifecycles (AllocatedResources.Comparable) ----------------------------------


def test_an_init_task_counts_as_its_own_phase_not_on_top_of_the_app():
    alloc = lifecycle_alloc(
        {"name": "init", "cpu": 1000, "memory_mb": 64, "hook": "prestart"},
        {"name": "app", "cpu": 500, "memory_mb": 256},
    )
    assert resource_usage(new_node(cpu=4000), [alloc], "cpu") == (1000, 4000)
    assert resource_usage(new_node(memory=4096), [alloc], "memory") == (256, 4096)


def test_a_prestart_sidecar_counts_in_both_the_prestart_and_the_main_phase():
    alloc = lifecycle_alloc(
        {"name": "init", "cpu": 700, "hook": "prestart"},
        {"name": "proxy", "cpu": 200, "hook": "prestart", "sidecar": True},
        {"name": "app", "cpu": 600},
    )
    # prestart: 700 + 200; main: 600 + 200
    assert allocation_usage(alloc)["cpu"] == 900


def test_poststart_runs_with_main_and_poststop_alone():
    alloc = lifecycle_alloc(
        {"name": "app", "cpu": 300, "memory_mb": 100},
        {"name": "warm", "cpu": 100, "memory_mb": 50, "hook": "poststart"},
        {"name": "flush", "cpu": 350, "memory_mb": 10, "hook": "poststop"},
    )
    assert allocation_usage(alloc)["cpu"] == 400  # main (300 + 100) beats poststop (350)
    assert allocation_usage(alloc)["memory"] == 150


def test_reserved_cores_cpu_is_added_on_top_of_the_phases():
    alloc = lifecycle_alloc(
        {"name": "pinned", "cpu": 3000, "cores": (0, 1), "hook": "prestart"},
        {"name": "init", "cpu": 800, "hook": "prestart"},
        {"name": "app", "cpu": 500},
    )
    assert allocation_usage(alloc)["cpu"] == 3000 + 800


def test_a_task_with_an_unknown_hook_counts_nowhere():
    alloc = lifecycle_alloc({"name": "app", "cpu": 500}, {"name": "odd", "cpu": 900})
    alloc["AllocatedResources"]["TaskLifecycles"]["odd"] = {"Hook": "sometime", "Sidecar": False}
    assert allocation_usage(alloc)["cpu"] == 500


def test_allocated_ports_mean_no_bandwidth_is_reserved():
    alloc = lifecycle_alloc({"name": "app", "mbits": 30}, ports={"http": 8080})
    assert allocation_usage(alloc)["network"] == 0
    alloc["AllocatedResources"]["Shared"]["Ports"] = None
    assert allocation_usage(alloc)["network"] == 30


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
    assert shown == (Pixel(*OVERLOAD_COLOUR, 0.3),) * BLINKT.size


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
    assert len(resource_frame(node, allocs, resource, brightness)) == BLINKT.size


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
        assert bigger == (Pixel(*OVERLOAD_COLOUR, 1.0),) * BLINKT.size


@given(st.integers(1, 10_000), st.floats(0, 1), resources, st.floats(0.01, 1))
def test_bar_lights_exactly_the_used_share_of_eight_leds(capacity, share, resource, brightness):
    used = capacity * share
    node = new_node(cpu=capacity, memory=capacity, disk=capacity, mbits=capacity)
    shown = resource_frame(node, [old_alloc(used, used, used, used)], resource, brightness)
    assert brightness_sum(shown) / brightness == pytest.approx(share * BLINKT.size, abs=1e-6)


hooks = st.sampled_from([None, "prestart", "poststart", "poststop"])
tasks: st.SearchStrategy[list[dict[str, object]]] = st.lists(
    st.builds(
        dict,
        cpu=st.integers(0, 5000),
        memory_mb=st.integers(0, 8192),
        hook=hooks,
        sidecar=st.booleans(),
        cores=st.sampled_from([(), (0,), (1, 2)]),
    ),
    min_size=1,
    max_size=8,
)


def phase_peak(task_specs, amount):
    """Reference: the allocation's tasks run in three phases; what a phase holds is the sum
    of the tasks alive in it, and the allocation needs its busiest phase. Pinned (reserved
    core) CPU is held throughout."""
    alive = {
        None: ("main",),
        "poststart": ("main",),
        "poststop": ("poststop",),
    }
    pinned = sum(t["cpu"] for t in task_specs if amount == "cpu" and t["cores"])
    phases = {"prestart": 0, "main": 0, "poststop": 0}
    for t in task_specs:
        value = 0 if amount == "cpu" and t["cores"] else t[amount]
        if t["hook"] == "prestart":
            spans = ("prestart", "main") if t["sidecar"] else ("prestart",)
        else:
            spans = alive[t["hook"]]
        for phase in spans:
            phases[phase] += value
    return pinned + max(phases.values())


def named(task_specs):
    return [{**t, "name": f"t{i}"} for i, t in enumerate(task_specs)]


@given(tasks)
def test_usage_is_the_busiest_lifecycle_phase(task_specs):
    usage = allocation_usage(lifecycle_alloc(*named(task_specs)))
    assert usage["cpu"] == phase_peak(task_specs, "cpu")
    assert usage["memory"] == phase_peak(task_specs, "memory_mb")


@given(tasks, st.randoms())
def test_usage_does_not_depend_on_task_order(task_specs, rng):
    shuffled = named(task_specs)
    rng.shuffle(shuffled)
    assert allocation_usage(lifecycle_alloc(*named(task_specs))) == allocation_usage(
        lifecycle_alloc(*shuffled)
    )


@given(tasks)
def test_usage_is_at_most_the_sum_and_at_least_any_main_task(task_specs):
    usage = allocation_usage(lifecycle_alloc(*named(task_specs)))
    assert usage["memory"] <= sum(t["memory_mb"] for t in task_specs)
    mains = [t["memory_mb"] for t in task_specs if t["hook"] in (None, "poststart")]
    assert usage["memory"] >= max(mains, default=0)


@given(tasks)
def test_without_lifecycles_usage_is_the_plain_sum(task_specs):
    plain = [{**t, "hook": None} for t in task_specs]
    usage = allocation_usage(lifecycle_alloc(*named(plain)))
    assert usage["cpu"] == sum(t["cpu"] for t in plain)
    assert usage["memory"] == sum(t["memory_mb"] for t in plain)


@given(amounts, amounts, amounts, amounts, amounts)
def test_both_nomad_shapes_give_the_same_usage(capacity, cpu, memory, disk, mbits):
    new = new_node(capacity, capacity, capacity, capacity), [new_alloc(cpu, memory, disk, mbits)]
    old = old_node(capacity, capacity, capacity, capacity), [old_alloc(cpu, memory, disk, mbits)]
    for resource in RESOURCES:
        assert resource_usage(*new, resource) == resource_usage(*old, resource)


def test_the_bar_follows_the_scheduler_through_the_simulated_api():
    """End to end over HTTP: the sim's allocation JSON, read by the mapping."""
    import requests

    with SimNomad() as sim:
        node = sim.add_node("pi-01", cpu=2000)
        tasks = [Task("init", cpu=1000, hook="prestart"), Task("app", cpu=500)]
        sim.add_alloc(node, "web", tasks=tasks, client_status="running")
        allocs = requests.get(f"{sim.url}/v1/node/{node}/allocations", timeout=5).json()
        node_doc = requests.get(f"{sim.url}/v1/node/{node}", timeout=5).json()
    assert resource_usage(node_doc, allocs, "cpu") == (1000, 2000)

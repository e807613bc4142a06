"""From Nomad's JSON to the neutral model (blinkt_agent.snapshot): pure, no I/O, no clock.

Everything here reads JSON that came from outside, so no field is trusted: a missing
key, a wrong type or a junk list entry never raises; it makes the allocation "unknown"
or counts as 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from blinkt_agent.outside import as_list, dig
from blinkt_agent.snapshot import RESOURCES, Node, Workload

TERMINAL_CLIENT_STATUSES = ("complete", "failed", "lost")


def state_of(alloc: object) -> str | None:
    """The state an allocation is shown in, or None when it is not shown (complete).

    Nomad's ClientStatus says what the allocation is doing, DesiredStatus what the
    scheduler wants: running/pending that should stop or be evicted is "stopping".
    """
    if not isinstance(alloc, Mapping):
        return "unknown"
    client, desired = alloc.get("ClientStatus"), alloc.get("DesiredStatus")
    if client in ("pending", "running"):
        if desired == "run":
            return str(client)
        return "stopping" if desired in ("stop", "evict") else "unknown"
    if client == "complete":
        return None
    if client in ("failed", "lost"):
        return str(client)
    return "unknown"


def workload_of(alloc: object, with_usage: bool = True) -> Workload | None:
    """One allocation as a Workload; None for a complete one (not shown, holds nothing).

    A failed or lost allocation ended at its ModifyTime (ns since the epoch); without one
    it is shown for as long as Nomad lists it. Only an allocation whose ClientStatus is
    not terminal holds resources (see allocation_usage); with_usage False leaves them out
    (the views that draw no bar need none: reading them is most of the work).
    """
    state = state_of(alloc)
    if state is None:
        return None
    ended = None
    if state in ("failed", "lost"):
        ended = _timestamp(dig(alloc, "ModifyTime"))
    holds: dict[str, float] = {}
    holding = (
        isinstance(alloc, Mapping) and alloc.get("ClientStatus") not in TERMINAL_CLIENT_STATUSES
    )
    if with_usage and holding:
        holds = allocation_usage(alloc)
    alloc_id, name = dig(alloc, "ID"), dig(alloc, "Name")
    index = dig(alloc, "CreateIndex")
    return Workload(
        id=alloc_id if isinstance(alloc_id, str) else "",
        name=name if isinstance(name, str) else "",
        state=state,
        order=index if isinstance(index, int) and not isinstance(index, bool) else None,
        ended_ns=ended,
        holds=holds,
    )


def workloads_of(allocs: object, with_usage: bool = True) -> tuple[Workload, ...]:
    shown = (workload_of(alloc, with_usage) for alloc in as_list(allocs))
    return tuple(w for w in shown if w is not None)


# Nomad's node statuses (nomad/structs/structs.go NodeStatus*) as the cluster view shows them:
# initializing is a client registering, not yet taking work; disconnected missed its
# heartbeats but may come back (its allocations turn "unknown"), down is gone.
_NODE_STATES = {"ready": "ready", "down": "down", "disconnected": "down", "initializing": "unknown"}


def node_state(node: object) -> str:
    """ready, cordoned (draining or ineligible: Node.Stub's Drain and SchedulingEligibility),
    down, or unknown."""
    state = _NODE_STATES.get(str(dig(node, "Status")), "unknown")
    if state == "ready" and (
        dig(node, "Drain") is True or dig(node, "SchedulingEligibility") == "ineligible"
    ):
        return "cordoned"
    return state


def node_of(
    name: str, node: object, allocs: object, with_capacity: bool = False, node_id: str = ""
) -> Node:
    """The node `name` (its JSON may be None when not read) with its allocations."""
    capacity = node_capacity(node) if with_capacity and node is not None else None
    state = node_state(node) if node is not None else "ready"
    return Node(
        name=name,
        id=node_id,
        state=state,
        workloads=workloads_of(allocs, with_usage=with_capacity),
        capacity=capacity,
    )


# --- what an allocation holds, as Nomad's scheduler counts it --------------------------------


def allocation_usage(alloc: object) -> dict[str, float]:
    """What Nomad's scheduler counts one allocation as using, per resource.

    cpu, memory, disk: AllocatedResources.Comparable() (nomad/structs/structs.go).
    Tasks run in phases, so per dimension Nomad takes the largest of the prestart
    set (init tasks and prestart sidecars), the main set (main tasks, sidecars,
    poststart tasks) and the poststop set - not their sum. CPU of tasks with
    reserved cores (Cpu.ReservedCores) is not fungible: it is added on top. A
    task whose lifecycle hook Nomad does not know counts nowhere. Allocations
    without AllocatedResources (pre-0.9) count their Resources, else their
    TaskResources plus SharedResources (the old upgrade path).
    network: what the scheduler's NetworkIndex.AddAllocs reserves (Comparable
    leaves bandwidth to it): the group's shared networks plus each task's first
    network, nothing when the group has allocated ports (Shared.Ports), and
    TaskResources' first networks for a pre-0.9 allocation.
    Units: MHz (cpu), MB (memory, disk), MBits (network).
    """
    allocated = dig(alloc, "AllocatedResources")
    if isinstance(allocated, Mapping):
        cpu, memory = _comparable_cpu_memory(allocated)
        return {
            "cpu": cpu,
            "memory": memory,
            "disk": _amount(allocated, ("Shared", "DiskMB")),
            "network": _reserved_mbits(allocated),
        }
    resources = dig(alloc, "Resources")
    old_tasks = dig(alloc, "TaskResources")
    old_tasks = [t for t in old_tasks.values()] if isinstance(old_tasks, Mapping) else []
    parts: list[object]
    if isinstance(resources, Mapping):
        parts = [resources]
    else:
        parts = [dig(alloc, "SharedResources"), *old_tasks]
    return {
        "cpu": sum(_number(dig(part, "CPU")) for part in parts),
        "memory": sum(_number(dig(part, "MemoryMB")) for part in parts),
        "disk": sum(_number(dig(part, "DiskMB")) for part in parts),
        "network": sum(_first_mbits(dig(task, "Networks")) for task in old_tasks),
    }


_PHASES = {  # lifecycle (hook, sidecar) -> the phase sets the task counts in
    None: ("main",),
    ("prestart", True): ("prestart", "main"),
    ("prestart", False): ("prestart",),
    ("poststart", True): ("main",),
    ("poststart", False): ("main",),
    ("poststop", True): ("poststop",),
    ("poststop", False): ("poststop",),
}


def _comparable_cpu_memory(allocated: Mapping[str, object]) -> tuple[float, float]:
    """(cpu, memory) as AllocatedResources.Comparable() flattens them."""
    tasks = dig(allocated, "Tasks")
    lifecycles = dig(allocated, "TaskLifecycles")
    pinned_cpu = 0.0
    phases = {"prestart": [0.0, 0.0], "main": [0.0, 0.0], "poststop": [0.0, 0.0]}
    for name, task in tasks.items() if isinstance(tasks, Mapping) else ():
        cpu = _amount(task, ("Cpu", "CpuShares"))
        memory = _amount(task, ("Memory", "MemoryMB"))
        if as_list(dig(task, "Cpu", "ReservedCores")):
            pinned_cpu, cpu = pinned_cpu + cpu, 0.0
        lifecycle = lifecycles.get(name) if isinstance(lifecycles, Mapping) else None
        key = None  # no lifecycle block: a main task
        if isinstance(lifecycle, Mapping):
            hook = lifecycle.get("Hook")
            key = (hook if isinstance(hook, str) else "", lifecycle.get("Sidecar") is True)
        for phase in _PHASES.get(key, ()):
            phases[phase][0] += cpu
            phases[phase][1] += memory
    return (
        pinned_cpu + max(cpu for cpu, _ in phases.values()),
        max(memory for _, memory in phases.values()),
    )


def _reserved_mbits(allocated: Mapping[str, object]) -> float:
    if as_list(dig(allocated, "Shared", "Ports")):
        return 0.0  # ports are reserved as such; no bandwidth is
    tasks = dig(allocated, "Tasks")
    tasks = list(tasks.values()) if isinstance(tasks, Mapping) else []
    shared = _mbits(dig(allocated, "Shared", "Networks"))
    return shared + sum(_first_mbits(dig(task, "Networks")) for task in tasks)


def _first_mbits(networks: object) -> float:
    networks = as_list(networks)
    return _number(dig(networks[0], "MBits")) if networks else 0.0


# --- what a node offers ------------------------------------------------------------------------

# Where each shape keeps an amount; the old (pre-0.9) shape is flat.
_NODE_PATHS = {
    "cpu": ("Cpu", "CpuShares"),
    "memory": ("Memory", "MemoryMB"),
    "disk": ("Disk", "DiskMB"),
}
_OLD_KEYS = {"cpu": "CPU", "memory": "MemoryMB", "disk": "DiskMB"}


def node_capacity(node: object) -> dict[str, float]:
    """What the node offers to allocations, per resource: NodeResources minus
    ReservedResources (or the old Resources minus Reserved), 0 when it reports none
    (nomad/structs/funcs.go AllocsFit: available.Subtract)."""
    return {resource: _capacity(node, resource) for resource in RESOURCES}


def _capacity(node: object, resource: str) -> float:
    if isinstance(dig(node, "NodeResources"), Mapping):
        total, reserved = dig(node, "NodeResources"), dig(node, "ReservedResources")
        if resource == "network":
            # ReservedResources.Networks only reserves ports, never bandwidth.
            return _device_mbits(dig(total, "Networks"))
        return max(
            0.0, _amount(total, _NODE_PATHS[resource]) - _amount(reserved, _NODE_PATHS[resource])
        )
    total, reserved = dig(node, "Resources"), dig(node, "Reserved")
    if resource == "network":
        return max(0.0, _device_mbits(dig(total, "Networks")) - _mbits(dig(reserved, "Networks")))
    key = _OLD_KEYS[resource]
    return max(0.0, _number(dig(total, key)) - _number(dig(reserved, key)))


def _device_mbits(networks: object) -> float:
    """Node bandwidth: one MBits per device, as Nomad's network index counts it.

    A device is listed once per address (e.g. IPv4 and IPv6), so summing
    every entry would count its bandwidth twice.
    """
    per_device = {}
    for network in as_list(networks):
        if isinstance(network, Mapping):
            device = network.get("Device")
            per_device[device if isinstance(device, str) else ""] = _number(network.get("MBits"))
    return sum(per_device.values())


def _mbits(networks: object) -> float:
    return sum(_number(dig(network, "MBits")) for network in as_list(networks))


# --- tolerant readers for outside JSON ---------------------------------------------------------


def _timestamp(value: object) -> int | None:
    """ns since the epoch, an int so that linger deadlines stay exact to the ns."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _finite(value)
    return math.floor(number) if number is not None else None


def _finite(value: object) -> float | None:
    """A JSON number as a finite float; None for anything else (bools included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range is junk, not a number
        return None
    return number if math.isfinite(number) else None


def _number(value: object) -> float:
    """An amount: a non-negative finite number; missing, junk or negative → 0."""
    number = _finite(value)
    return number if number is not None and number > 0 else 0.0


def _amount(obj: object, path: tuple[str, ...]) -> float:
    return _number(dig(obj, *path))

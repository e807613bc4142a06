"""From Nomad API data to a Blinkt! frame: pure functions, no I/O, no clock.

Everything here reads JSON that came from outside, so no field is trusted:
a missing key, a wrong type or a junk list entry never raises; it makes the
allocation "unknown" or counts as 0. Only the settings (palette, brightness,
resource and status names) are validated, because they are ours.
README.md's "What the LEDs mean" says what each colour and pattern means.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from blinkt_agent.errors import ConfigError
from blinkt_agent.frame import NUM_PIXELS, OFF, Frame, Pixel, make_frame
from blinkt_agent.outside import as_list, dig

STATES = ("pending", "running", "stopping", "failed", "lost", "unknown")
RESOURCES = ("cpu", "memory", "disk", "network")
STATUS_KINDS = ("no_data", "unreachable", "denied", "node_gone")

OVERFLOW_LED = NUM_PIXELS - 1  # with more than 8 allocations this LED says "and more"
TERMINAL_CLIENT_STATUSES = ("complete", "failed", "lost")

RGB = tuple[int, int, int]
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True, slots=True)
class Palette:
    """RGB (0..255 each) per allocation state, plus the overflow marker.

    The defaults are saturated primaries and secondaries: on an APA102 mixed
    pastel shades wash out to white, while these stay apart even at low
    brightness. Amber has little green because APA102 green is the brightest die.
    """

    pending: RGB = (0, 0, 255)  # blue
    running: RGB = (0, 255, 0)  # green
    stopping: RGB = (255, 100, 0)  # amber
    failed: RGB = (255, 0, 0)  # red
    lost: RGB = (255, 0, 255)  # magenta
    unknown: RGB = (255, 255, 255)  # white
    overflow: RGB = (0, 255, 255)  # cyan

    def __post_init__(self) -> None:
        for field in fields(self):
            colour = getattr(self, field.name)
            if not (
                isinstance(colour, tuple)
                and len(colour) == 3
                and all(isinstance(c, int) and 0 <= c <= 255 for c in colour)
            ):
                raise ConfigError(f"palette.{field.name} = {colour!r}: must be 3 integers 0..255")

    @classmethod
    def default(cls) -> Palette:
        return cls()

    @classmethod
    def from_hex(cls, mapping: Mapping[str, str]) -> Palette:
        """Palette from {"running": "#00ff00", ...}; states not given keep their default."""
        names = [field.name for field in fields(cls)]
        colours = {}
        for key, value in mapping.items():
            if key not in names:
                raise ConfigError(
                    f"palette.{key}: unknown state; expected one of {', '.join(names)}"
                )
            if not isinstance(value, str) or not _HEX_COLOUR.fullmatch(value):
                raise ConfigError(f'palette.{key} = {value!r}: expected a colour "#rrggbb"')
            colours[key] = (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))
        return cls(**colours)

    def colour(self, state: str) -> RGB:
        colour: RGB = getattr(self, state)
        return colour


# --- allocation states ---------------------------------------------------------------


def classify(alloc: object, now_ns: int, linger_s: float) -> str | None:
    """The state an allocation is shown in, or None when it is not shown.

    Nomad's ClientStatus says what the allocation is doing, DesiredStatus
    what the scheduler wants: running/pending that should stop or be evicted
    is "stopping". Complete allocations are not shown; failed and lost ones
    are shown for `linger_s` seconds after their ModifyTime (ns since the
    epoch), or indefinitely when ModifyTime is missing.
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
        modified = _timestamp(alloc.get("ModifyTime"))
        if modified is not None and now_ns >= _linger_end(modified, linger_s):
            return None
        return str(client)
    return "unknown"


def linger_ends(allocs: object, now_ns: int, linger_s: float) -> int | None:
    """The first ns after `now_ns` at which a shown failed or lost allocation drops out.

    The only way time alone changes what `allocations_frame` and `summarize`
    say; None when no shown allocation will ever drop out by itself.
    """
    ends = []
    for alloc in as_list(allocs):
        if isinstance(alloc, Mapping) and classify(alloc, now_ns, linger_s) in ("failed", "lost"):
            modified = _timestamp(alloc.get("ModifyTime"))
            if modified is not None:
                ends.append(_linger_end(modified, linger_s))
    return min(ends) if ends else None


def _linger_end(modified: int | float, linger_s: float) -> int:
    """The first whole ns at which more than `linger_s` has passed since `modified` (ns).

    One integer for classify and linger_ends, so that they agree to the ns.
    """
    span = linger_s * 1_000_000_000
    if isinstance(modified, int):
        return modified + math.floor(span) + 1  # exact: Nomad's ModifyTime is an int
    return math.floor(modified + span) + 1


def visible_allocations(allocs: object, now_ns: int, linger_s: float) -> list[tuple[object, str]]:
    """(alloc, state) for every shown allocation, oldest first.

    Sorted by CreateIndex then ID so that LEDs keep their place as
    allocations come and go; entries without a usable CreateIndex go last.
    """
    shown = []
    for alloc in as_list(allocs):
        state = classify(alloc, now_ns, linger_s)
        if state is not None:
            shown.append((alloc, state))
    shown.sort(key=lambda pair: _age_key(pair[0]))
    return shown


def allocations_frame(
    allocs: object, now_ns: int, palette: Palette, linger_s: float, brightness: float
) -> Frame:
    """One LED per shown allocation from LED 0; unused LEDs off.

    More than 8: LEDs 0..6 show the 7 oldest and LED 7 shows the overflow
    colour, so that an allocation is never dropped silently.
    """
    states = [state for _, state in visible_allocations(allocs, now_ns, linger_s)]
    colours = [palette.colour(state) for state in states]
    if len(colours) > NUM_PIXELS:
        colours = [*colours[:OVERFLOW_LED], palette.overflow]
    return make_frame(Pixel(*colour, brightness) for colour in colours)


def summarize(allocs: object, now_ns: int, linger_s: float) -> dict[str, int]:
    """Number of shown allocations per state (every state present, 0 if none)."""
    counts = dict.fromkeys(STATES, 0)
    for _, state in visible_allocations(allocs, now_ns, linger_s):
        counts[state] += 1
    return counts


def describe_counts(counts: Mapping[str, int]) -> str:
    """Text like "5 allocations (4 running, 1 pending)": states by count, most first."""
    present = sorted(
        (state for state in STATES if counts.get(state, 0) > 0),
        key=lambda state: -counts[state],
    )
    total = sum(counts[state] for state in present)
    noun = "allocation" if total == 1 else "allocations"
    if not present:
        return f"no {noun}"
    details = ", ".join(f"{counts[state]} {state}" for state in present)
    return f"{total} {noun} ({details})"


# --- resource bars -------------------------------------------------------------------

BAR_GREEN, BAR_AMBER, BAR_RED = (0, 255, 0), (255, 100, 0), (255, 0, 0)
OVERLOAD_COLOUR = BAR_RED
NO_CAPACITY_COLOUR = (255, 255, 255)
NO_CAPACITY_LEDS = (1, 6)


def _blend(a: RGB, b: RGB, t: float) -> RGB:
    red, green, blue = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return (red, green, blue)


def _bar_colour(led: int) -> RGB:
    position = led / (NUM_PIXELS - 1)
    if position <= 0.5:
        return _blend(BAR_GREEN, BAR_AMBER, position * 2)
    return _blend(BAR_AMBER, BAR_RED, position * 2 - 1)


BAR_COLOURS = tuple(_bar_colour(led) for led in range(NUM_PIXELS))

# Where each shape keeps an amount; the old (pre-0.9) shape is flat.
_NODE_PATHS = {
    "cpu": ("Cpu", "CpuShares"),
    "memory": ("Memory", "MemoryMB"),
    "disk": ("Disk", "DiskMB"),
}
_OLD_KEYS = {"cpu": "CPU", "memory": "MemoryMB", "disk": "DiskMB"}


def resource_usage(node: object, allocs: object, resource: str) -> tuple[float, float] | None:
    """(used, capacity) of `resource`, or None when the node reports no capacity.

    Capacity is what the node offers to allocations: NodeResources minus
    ReservedResources (or the old Resources minus Reserved). Used is what
    Nomad's scheduler counts (see allocation_usage) over the allocations
    that still hold their resources: every allocation whose ClientStatus is
    not terminal (complete, failed, lost), whatever its DesiredStatus, because
    a stopping allocation keeps its resources until the client reports it
    stopped (structs.AllocsFit skips ClientTerminalStatus). Units: MHz (cpu),
    MB (memory, disk), MBits (network).
    """
    _check_resource(resource)
    capacity = _node_capacity(node, resource)
    if capacity <= 0:
        return None
    used = sum(
        allocation_usage(alloc)[resource]
        for alloc in as_list(allocs)
        if isinstance(alloc, Mapping) and alloc.get("ClientStatus") not in TERMINAL_CLIENT_STATUSES
    )
    return used, capacity


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


def resource_frame(node: object, allocs: object, resource: str, brightness: float) -> Frame:
    """A bar of the share of capacity in use, from LED 0, coloured green → amber → red.

    Each LED is 1/8 of the capacity; the last lit LED is dimmed to the part
    of its step that is used, so the bar moves finer than in eighths. Over
    100%: all 8 LEDs red. No capacity: the no-capacity pattern (LEDs 1 and 6 white).
    """
    usage = resource_usage(node, allocs, resource)
    if usage is None:
        return make_frame(
            Pixel(*NO_CAPACITY_COLOUR, brightness) if led in NO_CAPACITY_LEDS else OFF
            for led in range(NUM_PIXELS)
        )
    used, capacity = usage
    if used > capacity:
        return make_frame([Pixel(*OVERLOAD_COLOUR, brightness)] * NUM_PIXELS)
    steps = used / capacity * NUM_PIXELS
    return make_frame(
        Pixel(*BAR_COLOURS[led], brightness * min(1.0, steps - led)) if steps > led else OFF
        for led in range(NUM_PIXELS)
    )


def _check_resource(resource: str) -> None:
    if resource not in RESOURCES:
        raise ConfigError(f"mode = {resource!r}: expected one of {', '.join(RESOURCES)}")


def _node_capacity(node: object, resource: str) -> float:
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


# --- status patterns -----------------------------------------------------------------

# Never one unbroken run of lit LEDs from LED 0, so never mistaken for allocations or a bar.
STATUS_PATTERNS: dict[str, tuple[RGB, tuple[int, ...]]] = {
    "no_data": ((0, 0, 255), (0, 7)),  # blue, both ends: started, waiting for Nomad
    "unreachable": ((255, 100, 0), (0, 2, 4, 6)),  # amber, even LEDs: Nomad unreachable
    "denied": ((255, 0, 0), (1, 3, 5, 7)),  # red, odd LEDs: ACL token refused (403)
    "node_gone": ((255, 0, 255), (3, 4)),  # magenta, middle pair: node not found (404)
}


def status_frame(kind: str, brightness: float) -> Frame:
    """The static pattern for an agent condition that has no allocations to show."""
    if kind not in STATUS_PATTERNS:
        raise ValueError(f"status {kind!r}: expected one of {', '.join(STATUS_KINDS)}")
    colour, leds = STATUS_PATTERNS[kind]
    return make_frame(
        Pixel(*colour, brightness) if led in leds else OFF for led in range(NUM_PIXELS)
    )


# --- tolerant readers for outside JSON -----------------------------------------------


def _timestamp(value: object) -> int | float | None:
    """ns since the epoch, kept an int so that comparisons stay exact to the ns."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _finite(value)


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


def _age_key(alloc: object) -> tuple[int, int, str]:
    index = dig(alloc, "CreateIndex")
    alloc_id = dig(alloc, "ID")
    alloc_id = alloc_id if isinstance(alloc_id, str) else ""
    if isinstance(index, int) and not isinstance(index, bool):
        return (0, index, alloc_id)
    return (1, 0, alloc_id)

"""From the neutral model (blinkt_agent.snapshot) to a frame: pure, no I/O, no clock.

Sources have already turned their API's JSON into Workloads and Nodes; here they become
looks (a palette key and a share of the brightness), which a layout
(blinkt_agent.layout) places on the display's shape. Only the settings (palette,
brightness, resource and status names) are validated, because they are ours. README.md's
"What the LEDs mean" says what each colour and pattern means.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields

from blinkt_agent.errors import ConfigError
from blinkt_agent.frame import BLINKT, Frame, Shape
from blinkt_agent.layout import STATUS_KINDS as STATUS_KINDS
from blinkt_agent.layout import Column, Look, layout_for
from blinkt_agent.snapshot import RESOURCES, STATES, Node, Workload

RGB = tuple[int, int, int]
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True, slots=True)
class Palette:
    """RGB (0..255 each) per workload state, the overflow marker and a cordoned node.

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
    cordoned: RGB = (255, 255, 0)  # yellow: a node taking no new work (nodes mode)

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


PALETTE_KEYS = tuple(field.name for field in fields(Palette))


# --- which workloads are shown ---------------------------------------------------------------


def shows(workload: Workload, now_ns: int, linger_s: float) -> bool:
    """Every workload is shown, except a failed or lost one whose end is more than
    `linger_s` seconds ago (one without an end time stays)."""
    if workload.state not in ("failed", "lost") or workload.ended_ns is None:
        return True
    return now_ns < _linger_end(workload.ended_ns, linger_s)


def linger_ends(workloads: Iterable[Workload], now_ns: int, linger_s: float) -> int | None:
    """The first ns after `now_ns` at which a shown failed or lost workload drops out.

    The only way time alone changes what the frames and `summarize` say; None when no
    shown workload will ever drop out by itself.
    """
    ends = [
        _linger_end(w.ended_ns, linger_s)
        for w in workloads
        if w.state in ("failed", "lost") and w.ended_ns is not None and shows(w, now_ns, linger_s)
    ]
    return min(ends) if ends else None


def _linger_end(ended_ns: int, linger_s: float) -> int:
    """The first whole ns at which more than `linger_s` has passed since `ended_ns`.

    One integer for `shows` and `linger_ends`, so that they agree to the ns.
    """
    return ended_ns + math.floor(linger_s * 1_000_000_000) + 1


def visible(workloads: Iterable[Workload], now_ns: int, linger_s: float) -> list[Workload]:
    """Every shown workload, oldest first.

    Sorted by `order` then id so that LEDs keep their place as workloads come and go;
    workloads without an order go last.
    """
    shown = [w for w in workloads if shows(w, now_ns, linger_s)]
    shown.sort(key=lambda w: (w.order is None, w.order or 0, w.id))
    return shown


def allocations_frame(
    workloads: Iterable[Workload],
    now_ns: int,
    palette: Palette,
    linger_s: float,
    brightness: float,
    hidden: bool = False,
    shape: Shape = BLINKT,
) -> Frame:
    """A look per shown workload, oldest first, laid out for `shape` (layout/); `hidden`:
    one more in the unknown colour after them, for workloads the credentials cannot read.

    On a Blinkt!: one LED each from LED 0, unused LEDs off; more than 8: LEDs 0..6 show
    the 7 oldest and LED 7 the overflow colour, so that a workload is never dropped
    silently.
    """
    looks = [Look(w.state) for w in visible(workloads, now_ns, linger_s)]
    if hidden:
        looks.append(Look("unknown"))
    return layout_for(shape).items(looks, shape, palette, brightness)


def summarize(workloads: Iterable[Workload], now_ns: int, linger_s: float) -> dict[str, int]:
    """Number of shown workloads per state (every state present, 0 if none)."""
    counts = dict.fromkeys(STATES, 0)
    for workload in visible(workloads, now_ns, linger_s):
        counts[workload.state] += 1
    return counts


def describe_counts(
    counts: Mapping[str, int], noun: str = "allocation", order: Sequence[str] = STATES
) -> str:
    """Text like "5 allocations (4 running, 1 pending)": states by count, most first."""
    present = sorted(
        (state for state in order if counts.get(state, 0) > 0),
        key=lambda state: -counts[state],
    )
    total = sum(counts[state] for state in present)
    nouns = noun if total == 1 else f"{noun}s"
    if not present:
        return f"no {nouns}"
    details = ", ".join(f"{counts[state]} {state}" for state in present)
    return f"{total} {nouns} ({details})"


# --- resource bars -------------------------------------------------------------------------------


def resource_usage(node: Node, resource: str) -> tuple[float, float] | None:
    """(used, capacity) of `resource`, or None when the node reports no capacity.

    Used is what the node's workloads hold (Workload.holds: the source counts only
    those that still hold their share, as its scheduler does); capacity is what the
    node offers them (Node.capacity).
    """
    _check_resource(resource)
    capacity = (node.capacity or {}).get(resource, 0.0)
    if not capacity > 0:
        return None
    return sum(w.holds.get(resource, 0.0) for w in node.workloads), capacity


def resource_frame(node: Node, resource: str, brightness: float, shape: Shape = BLINKT) -> Frame:
    """A bar of the share of capacity in use, laid out for `shape`.

    On a Blinkt!: from LED 0, green → amber → red, each LED 1/8 of the capacity, the
    last lit LED dimmed to the part of its step that is used. Over 100%: all LEDs red.
    No capacity: the no-capacity pattern (LEDs 1 and 6 white).
    """
    usage = resource_usage(node, resource)
    share = None if usage is None else usage[0] / usage[1]
    return layout_for(shape).bar(share, shape, brightness)


def _check_resource(resource: str) -> None:
    if resource not in RESOURCES:
        raise ConfigError(f"mode = {resource!r}: expected one of {', '.join(RESOURCES)}")


# --- the cluster at a glance (mode "nodes") ------------------------------------------------------

# Which workload state a node's LED shows when it runs several: the one that needs
# attention most. Failed, lost and unknown also outrank a cordoned node's own colour.
WORST_FIRST = ("failed", "lost", "unknown", "stopping", "pending", "running")
ATTENTION = ("failed", "lost", "unknown")
IDLE_SHARE = 0.25  # a ready node with nothing on it: the running colour, a quarter as bright


def node_look(node: Node, now_ns: int, linger_s: float) -> tuple[str, float]:
    """(palette key, share of the brightness) of a node's LED in the cluster view.

    down: the lost colour (its workloads are lost, or soon will be); unknown: the
    unknown colour; otherwise the worst shown workload state (WORST_FIRST), where
    failed, lost and unknown win over cordoned, cordoned wins over the rest, and a
    ready node with nothing on it is the running colour at a quarter brightness.
    """
    if node.state == "down":
        return "lost", 1.0
    if node.state == "unknown":
        return "unknown", 1.0
    states = {w.state for w in node.workloads if shows(w, now_ns, linger_s)}
    worst = next((state for state in WORST_FIRST if state in states), None)
    if worst in ATTENTION:
        return str(worst), 1.0
    if node.state == "cordoned":
        return "cordoned", 1.0
    if worst is not None:
        return worst, 1.0
    return "running", IDLE_SHARE


def nodes_in_order(nodes: Iterable[Node]) -> list[Node]:
    """By name, so that each node keeps its LED as others join and leave."""
    return sorted(nodes, key=lambda node: node.name)


def nodes_frame(
    nodes: Iterable[Node],
    now_ns: int,
    palette: Palette,
    linger_s: float,
    brightness: float,
    shape: Shape = BLINKT,
) -> Frame:
    """The cluster, one node after another by name (node_look), laid out for `shape`: on
    a strip one LED per node, more than fit: the last LED the overflow colour; on a
    matrix a column group per node with a pixel per workload. No nodes: all off."""
    columns = []
    for node in nodes_in_order(nodes):
        key, share = node_look(node, now_ns, linger_s)
        shown = tuple(Look(w.state) for w in visible(node.workloads, now_ns, linger_s))
        columns.append(Column(Look(key, share), shown))
    return layout_for(shape).cluster(columns, shape, palette, brightness)


def describe_nodes(nodes: Sequence[Node]) -> str:
    """Text like "5 nodes (4 ready, 1 down)"."""
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.state] = counts.get(node.state, 0) + 1
    return describe_counts(counts, "node", ("ready", "cordoned", "down", "unknown"))


# --- status patterns -----------------------------------------------------------------------------


def status_frame(kind: str, brightness: float, shape: Shape = BLINKT) -> Frame:
    """The static pattern for an agent condition that has no workloads to show."""
    if kind not in STATUS_KINDS:
        raise ValueError(f"status {kind!r}: expected one of {', '.join(STATUS_KINDS)}")
    return layout_for(shape).status(kind, shape, brightness)

"""What to show now: the frame and the STATUS line from what the source last said.

Pure: the service loop passes the clock readings in. Knows no source: the Look says what
the source is called ("Nomad") and what it runs ("allocation").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from blinkt_agent import mapping
from blinkt_agent.errors import AccessDenied, AgentError, NodeUnknown
from blinkt_agent.frame import BLINKT, Frame, Shape
from blinkt_agent.snapshot import Snapshot


@dataclass(frozen=True)
class Look:
    """The settings that shape a frame and a STATUS line (cheap to compare)."""

    mode: str = "allocations"
    brightness: float = 0.2
    linger: float = 300.0
    stale_after: float = 60.0
    palette: mapping.Palette = field(default_factory=mapping.Palette.default)
    label: str = "Nomad"  # the source, as the STATUS line names it
    noun: str = "allocation"  # what it runs on a node


@dataclass(frozen=True)
class View:
    snapshot: Snapshot | None = None
    problem: AgentError | None = None
    retry_in: float = 0.0
    lost_at: float | None = None  # monotonic time of the first problem since the last answer


def is_stale(view: View, look: Look, now: float) -> bool:
    """No data, or contact was lost `stale_after` seconds ago or longer (or at an unknown time)."""
    if view.snapshot is None:
        return True
    if view.lost_at is None:
        return view.problem is not None
    return now - view.lost_at >= look.stale_after


def next_change(view: View, look: Look, now: float, now_ns: int) -> float | None:
    """Seconds until `frame` or `status_line` may change by time alone; None: never.

    The service loop sleeps this long when nothing else happens, so it must
    never be late; it may be early (a wake-up that changes nothing). Two
    things age: the last data (it goes stale `stale_after` after contact was
    lost) and failed or lost workloads (they drop out `linger` after they ended).
    """
    if view.snapshot is None:
        return None
    waits = []
    if view.problem is not None and view.lost_at is not None and not is_stale(view, look, now):
        waits.append(view.lost_at + look.stale_after - now)
    workloads = (w for node in view.snapshot.nodes for w in node.workloads)
    ends = mapping.linger_ends(workloads, now_ns, look.linger)
    if ends is not None:
        waits.append((ends - now_ns) / 1e9)
    return min(waits, default=None)


def frame(view: View, look: Look, now: float, now_ns: int, shape: Shape = BLINKT) -> Frame:
    """What a display of `shape` shows now."""
    if isinstance(view.problem, AccessDenied):
        return mapping.status_frame("denied", look.brightness, shape)
    if isinstance(view.problem, NodeUnknown):
        return mapping.status_frame("node_gone", look.brightness, shape)
    if view.snapshot is None:
        kind = "unreachable" if view.problem else "no_data"
        return mapping.status_frame(kind, look.brightness, shape)
    if view.problem and is_stale(view, look, now):
        return mapping.status_frame("unreachable", look.brightness, shape)
    snap = view.snapshot
    if look.mode == "nodes":
        return mapping.nodes_frame(
            snap.nodes, now_ns, look.palette, look.linger, look.brightness, shape
        )
    if look.mode == "allocations":
        return mapping.allocations_frame(
            snap.node.workloads,
            now_ns,
            look.palette,
            look.linger,
            look.brightness,
            hidden=snap.hidden > 0,
            shape=shape,
        )
    if snap.node.capacity is None:  # not read for this view yet (the mode just changed)
        return mapping.status_frame("no_data", look.brightness, shape)
    return mapping.resource_frame(snap.node, look.mode, look.brightness, shape)


def status_line(view: View, look: Look, now: float, now_ns: int) -> str:
    """The human line for `systemctl status` (and our one log line per change)."""
    if view.problem is not None:
        retry = f", retry in {view.retry_in:.0f} s" if view.retry_in >= 1 else ""
        if isinstance(view.problem, AccessDenied):
            return f"access denied: {view.problem}{retry}"
        showing = ""
        if view.snapshot is not None and not is_stale(view, look, now):
            showing = " (showing last data)"
        return f"waiting for {look.label}: {view.problem}{retry}{showing}"
    if view.snapshot is None:
        return f"starting: looking for {look.label}"
    snap = view.snapshot
    via = f" ({snap.via})" if snap.via else ""
    if look.mode == "nodes":
        workloads = [w for node in snap.nodes for w in node.workloads]
        counts = mapping.summarize(workloads, now_ns, look.linger)
        what = mapping.describe_counts(counts, look.noun)
        return f"cluster: {mapping.describe_nodes(snap.nodes)}, {what} via {snap.address}{via}"
    node = snap.node
    counts = mapping.summarize(node.workloads, now_ns, look.linger)
    what = mapping.describe_counts(counts, look.noun)
    if snap.hidden:
        what = with_hidden(what, snap.hidden, sum(counts.values()), look.noun, snap.hidden_why)
    if look.mode != "allocations":
        usage = mapping.resource_usage(node, look.mode)
        if node.capacity is None:
            what += f", {look.mode}: reading the node's capacity"
        elif usage and usage[1] > 0:
            what += f", {look.mode} {100 * usage[0] / usage[1]:.0f}% allocated"
        else:
            what += f", {look.mode}: no capacity reported"
    return f"node {node.name}: {what} via {snap.address}{via}"


def with_hidden(what: str, hidden: int, readable: int, noun: str, why: str) -> str:
    """The counts, and what the credentials hide (instead of "no allocations")."""
    reason = f": {why}" if why else ""
    if readable:
        return f"{what}, {hidden} more hidden{reason}"
    return f"{hidden} {noun}{'' if hidden == 1 else 's'} hidden{reason}"

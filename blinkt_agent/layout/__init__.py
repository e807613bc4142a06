"""Where things go on a display of a given shape: pure, no I/O.

mapping.py decides *what* to show (a look per workload or node, a share of capacity,
a status); a layout decides *where*, for one kind of shape: a strip of N LEDs
(layout/strip.py), a WxH matrix (layout/matrix.py) or a traffic light's three lights
(layout/signal.py). README.md's "What the LEDs mean" shows each one's picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from blinkt_agent.frame import Frame, Shape

if TYPE_CHECKING:
    from blinkt_agent.mapping import Palette

STATUS_KINDS = ("no_data", "unreachable", "denied", "node_gone")


@dataclass(frozen=True, slots=True)
class Look:
    """How one thing looks: a palette key ("running", "overflow", …) and a share of
    the brightness (1.0 full; a ready, empty node is dimmer)."""

    key: str
    share: float = 1.0


@dataclass(frozen=True, slots=True)
class Column:
    """One node in the cluster view: its own look and a look per shown workload."""

    node: Look
    workloads: tuple[Look, ...]


class Layout(Protocol):
    """What each layout module offers (mypy checks the modules against it)."""

    def items(
        self, looks: Sequence[Look], shape: Shape, palette: Palette, brightness: float
    ) -> Frame:
        """A look per workload (allocations mode), oldest first."""

    def cluster(
        self, columns: Sequence[Column], shape: Shape, palette: Palette, brightness: float
    ) -> Frame:
        """The cluster (nodes mode), a column per node by name."""

    def bar(self, share: float | None, shape: Shape, brightness: float) -> Frame:
        """A share of capacity in use (None: no capacity reported; above 1: overloaded)."""

    def status(self, kind: str, shape: Shape, brightness: float) -> Frame:
        """The pattern of an agent condition (STATUS_KINDS)."""


def layout_for(shape: Shape) -> Layout:
    """The layout module of `shape.kind`."""
    from blinkt_agent.layout import matrix, signal, strip

    layouts: dict[str, Layout] = {"strip": strip, "matrix": matrix, "signal": signal}
    return layouts[shape.kind]


def overflowing(looks: Sequence[Look], room: int) -> list[Look]:
    """`looks` when they fit `room`; else the first room-1 and an overflow marker, so
    that nothing is dropped silently."""
    if len(looks) <= room:
        return list(looks)
    return [*looks[: room - 1], Look("overflow")]


def blend(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    red, green, blue = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return (red, green, blue)


BAR_GREEN, BAR_AMBER, BAR_RED = (0, 255, 0), (255, 100, 0), (255, 0, 0)
OVERLOAD_COLOUR = BAR_RED
NO_CAPACITY_COLOUR = (255, 255, 255)


def bar_colour(position: float) -> tuple[int, int, int]:
    """Green at 0.0, amber at 0.5, red at 1.0 along a bar."""
    if position <= 0.5:
        return blend(BAR_GREEN, BAR_AMBER, position * 2)
    return blend(BAR_AMBER, BAR_RED, position * 2 - 1)


__all__ = ["STATUS_KINDS", "Column", "Frame", "Layout", "Look", "layout_for", "overflowing"]

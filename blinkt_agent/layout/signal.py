"""A traffic light: red, amber and green lights, one picture for the whole node.

One light at a time says how the node is, worst first: red something failed or was
lost; amber something pending, stopping, unknown (or hidden), or the node cordoned;
green everything runs, or there is nothing to run. Two or three lights at once are
agent conditions: amber+green no data yet, red+amber the API unreachable, red+green
credentials refused, all three the node not found. A bar: green below half of the
capacity, amber to BAR_RED_AT, red above; no capacity reported: amber+green.
The lights are steady; the lights' own colours, not the palette, are shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from blinkt_agent.frame import OFF, Frame, Pixel, Shape, make_frame
from blinkt_agent.layout import Column, Look

if TYPE_CHECKING:
    from blinkt_agent.mapping import Palette

RED, AMBER, GREEN = 0, 1, 2  # the frame's pixel of each light (frame.SIGNAL)
LIGHT_COLOURS = ((255, 0, 0), (255, 100, 0), (0, 255, 0))
RED_KEYS = ("failed", "lost")
AMBER_KEYS = ("pending", "stopping", "unknown", "cordoned")
BAR_AMBER_AT = 0.5
BAR_RED_AT = 0.85
STATUS_LIGHTS = {
    "no_data": (AMBER, GREEN),
    "unreachable": (RED, AMBER),
    "denied": (RED, GREEN),
    "node_gone": (RED, AMBER, GREEN),
}


def lights(on: Sequence[int], shape: Shape, brightness: float) -> Frame:
    return make_frame(
        (
            Pixel(*LIGHT_COLOURS[light], brightness) if light in on else OFF
            for light in range(shape.size)
        ),
        shape,
    )


def worst(keys: set[str]) -> int:
    if keys & set(RED_KEYS):
        return RED
    if keys & set(AMBER_KEYS):
        return AMBER
    return GREEN


def items(looks: Sequence[Look], shape: Shape, palette: Palette, brightness: float) -> Frame:
    return lights((worst({look.key for look in looks}),), shape, brightness)


def cluster(columns: Sequence[Column], shape: Shape, palette: Palette, brightness: float) -> Frame:
    """The worst node look (a down node is lost: red)."""
    return items([column.node for column in columns], shape, palette, brightness)


def bar(share: float | None, shape: Shape, brightness: float) -> Frame:
    if share is None:
        return lights((AMBER, GREEN), shape, brightness)
    light = RED if share > BAR_RED_AT else AMBER if share >= BAR_AMBER_AT else GREEN
    return lights((light,), shape, brightness)


def status(kind: str, shape: Shape, brightness: float) -> Frame:
    return lights(STATUS_LIGHTS[kind], shape, brightness)

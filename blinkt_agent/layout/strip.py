"""A strip of N LEDs (Blinkt! 8, BlinkStick Nano 2 … Flex 32): one LED per thing, from LED 0.

Status patterns are never one unbroken run of lit LEDs from LED 0, so on a strip of
four or more they are never mistaken for workloads or a bar; on shorter strips their
colour tells them apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from blinkt_agent.frame import OFF, Frame, Pixel, Shape, make_frame
from blinkt_agent.layout import (
    NO_CAPACITY_COLOUR,
    OVERLOAD_COLOUR,
    Column,
    Look,
    bar_colour,
    overflowing,
)

if TYPE_CHECKING:
    from blinkt_agent.mapping import Palette

STATUS_COLOURS = {
    "no_data": (0, 0, 255),  # blue, both ends: started, no answer yet
    "unreachable": (255, 100, 0),  # amber, even LEDs: the API unreachable
    "denied": (255, 0, 0),  # red, odd LEDs: credentials refused (401/403)
    "node_gone": (255, 0, 255),  # magenta, the middle: node not found
}


def items(looks: Sequence[Look], shape: Shape, palette: Palette, brightness: float) -> Frame:
    """One LED per look from LED 0; more than fit: the last LED is the overflow marker."""
    return make_frame(
        (
            Pixel(*palette.colour(look.key), brightness * look.share)
            for look in overflowing(looks, shape.size)
        ),
        shape,
    )


def cluster(columns: Sequence[Column], shape: Shape, palette: Palette, brightness: float) -> Frame:
    """One LED per node (its look); a strip has no room for the workloads."""
    return items([column.node for column in columns], shape, palette, brightness)


def bar_colours(leds: int) -> tuple[tuple[int, int, int], ...]:
    if leds == 1:
        return (bar_colour(0.0),)
    return tuple(bar_colour(led / (leds - 1)) for led in range(leds))


def bar(share: float | None, shape: Shape, brightness: float) -> Frame:
    """A bar of `share` (used / capacity) from LED 0, green → amber → red.

    Each LED is 1/N of the capacity; the last lit LED is dimmed to the part of its
    step that is used. Over 100%: every LED red. None (no capacity): no_capacity_leds
    white.
    """
    leds = shape.size
    if share is None:
        lit = no_capacity_leds(leds)
        return make_frame(
            (Pixel(*NO_CAPACITY_COLOUR, brightness) if led in lit else OFF for led in range(leds)),
            shape,
        )
    if share > 1:
        return make_frame([Pixel(*OVERLOAD_COLOUR, brightness)] * leds, shape)
    steps = share * leds
    colours = bar_colours(leds)
    return make_frame(
        (
            Pixel(*colours[led], brightness * min(1.0, steps - led)) if steps > led else OFF
            for led in range(leds)
        ),
        shape,
    )


def no_capacity_leds(leds: int) -> tuple[int, ...]:
    """LEDs 1 and N-2 (a bar never lights those two alone); LED 0 on a strip under 4."""
    return (1, leds - 2) if leds >= 4 else (0,)


def status_leds(kind: str, leds: int) -> tuple[int, ...]:
    """Which LEDs a status pattern lights on a strip of `leds`."""
    if kind == "no_data":
        return tuple(sorted({0, leds - 1}))
    if kind == "unreachable":
        return tuple(range(0, leds, 2))
    if kind == "denied":
        return tuple(range(1, leds, 2)) or (0,)
    middle = leds // 2
    return (middle - 1, middle) if leds % 2 == 0 else (middle,)


def status(kind: str, shape: Shape, brightness: float) -> Frame:
    """The static pattern for an agent condition that has no workloads to show."""
    colour, lit = STATUS_COLOURS[kind], status_leds(kind, shape.size)
    return make_frame(
        (Pixel(*colour, brightness) if led in lit else OFF for led in range(shape.size)), shape
    )

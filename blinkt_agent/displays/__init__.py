"""Where frames go: the Blinkt! itself, a terminal, or JSON lines."""

from __future__ import annotations

from types import ModuleType
from typing import Protocol, TextIO

from blinkt_agent.displays.blinkt import CLOCK_PIN, DATA_PIN, BlinktDisplay
from blinkt_agent.displays.jsonlines import JsonDisplay
from blinkt_agent.displays.terminal import TerminalDisplay
from blinkt_agent.errors import ConfigError
from blinkt_agent.frame import Frame

DISPLAY_NAMES = ("blinkt", "terminal", "json")


class Display(Protocol):
    def show(self, frame: Frame) -> None:
        """Show `frame`; does nothing when it is the frame already shown."""

    def close(self) -> None:
        """LEDs dark, resources released; safe to call more than once."""


def make_display(
    name: str,
    *,
    data_pin: int = DATA_PIN,
    clock_pin: int = CLOCK_PIN,
    stream: TextIO | None = None,
    gpio: ModuleType | None = None,
) -> Display:
    """The display called `name` (see DISPLAY_NAMES); ConfigError for any other name."""
    if name == "blinkt":
        return BlinktDisplay(data_pin, clock_pin, gpio=gpio)
    if name == "terminal":
        return TerminalDisplay(stream)
    if name == "json":
        return JsonDisplay(stream)
    raise ConfigError(f"display = {name!r}: expected one of {', '.join(DISPLAY_NAMES)}")


__all__ = [
    "DISPLAY_NAMES",
    "BlinktDisplay",
    "Display",
    "JsonDisplay",
    "TerminalDisplay",
    "make_display",
]

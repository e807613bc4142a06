"""Where frames go: one module per display, one entry each in DISPLAYS.

The registry is the one place a display is named: config's choices and settings
sections, the CLI's help, the keys that make a reload reopen the display, the
package's Recommends and the role's argument_specs are read from it (or held equal to
it by tests). A display's module, and the library it drives, is imported only when it
is opened: `blinkt-agent once --display json` never imports RPi.GPIO or spidev.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from blinkt_agent.errors import ConfigError
from blinkt_agent.frame import BLINKT, SIGNAL, Frame, Shape

if TYPE_CHECKING:
    from blinkt_agent.config import Settings


class Display(Protocol):
    """What the agent and the commands ask of a display."""

    @property
    def shape(self) -> Shape:
        """What it draws; every frame shown has shape.size pixels."""

    def show(self, frame: Frame) -> None:
        """Show `frame`; does nothing when it is the frame already shown."""

    def clear(self) -> None:
        """All LEDs off, now."""

    def release(self) -> None:
        """Hand back the device (pins, USB, SPI) as it is; safe to call more than once."""


def close(display: Display) -> None:
    """LEDs dark, then the device released (even when clearing fails)."""
    try:
        display.clear()
    finally:
        display.release()


@dataclass(frozen=True)
class DisplayKind:
    """One display: its name, shape, settings section and how to open it.

    opener: "module:function" taking (settings, **overrides) and returning a Display.
    packages: the Debian packages it needs (the .deb Recommends them; the role installs
    them when it is chosen); groups: what the service's user must belong to.
    """

    name: str
    summary: str  # one line, for --help and the docs
    shape: Shape  # its own shape (a BlinkStick reports its own once opened)
    opener: str
    section: str = ""  # its settings section ("" = none)
    packages: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def hardware(self) -> bool:
        return self.name not in PREVIEWS

    def open(self, settings: Settings, **overrides: Any) -> Display:
        module, _, function = self.opener.partition(":")
        opener = cast("Callable[..., Display]", getattr(importlib.import_module(module), function))
        return opener(settings, **overrides)


_GPIO = ("python3-rpi-lgpio | python3-rpi.gpio",)

DISPLAYS: dict[str, DisplayKind] = {
    kind.name: kind
    for kind in (
        DisplayKind(
            "blinkt",
            "Pimoroni Blinkt!: 8 APA102 LEDs on two GPIO pins",
            BLINKT,
            "blinkt_agent.displays.blinkt:open_display",
            section="blinkt",
            packages=_GPIO,
            groups=("gpio",),
        ),
        DisplayKind(
            "traffic",
            "traffic light: red, amber, green LEDs on three GPIO pins",
            SIGNAL,
            "blinkt_agent.displays.traffic:open_display",
            section="traffic",
            packages=_GPIO,
            groups=("gpio",),
        ),
        DisplayKind(
            "blinkstick",
            "BlinkStick (Nano, Strip, Square, Flex) on USB",
            Shape.strip(8),
            "blinkt_agent.displays.blinkstick:open_display",
            section="blinkstick",
            packages=("python3-usb",),
            groups=("plugdev",),
        ),
        DisplayKind(
            "unicornhathd",
            "Pimoroni Unicorn HAT HD: 16x16 RGB LEDs on SPI",
            Shape.matrix(16, 16),
            "blinkt_agent.displays.unicornhathd:open_display",
            section="unicornhathd",
            packages=("python3-spidev",),
            groups=("spi",),
        ),
        DisplayKind(
            "unicornhatmini",
            "Pimoroni Unicorn HAT Mini: 17x7 RGB LEDs on SPI",
            Shape.matrix(17, 7),
            "blinkt_agent.displays.unicornhatmini:open_display",
            section="unicornhatmini",
            packages=("python3-spidev",),
            groups=("spi",),
        ),
        DisplayKind(
            "terminal",
            "a display drawn in the terminal (terminal.looks_like)",
            BLINKT,
            "blinkt_agent.displays.terminal:open_display",
            section="terminal",
        ),
        DisplayKind(
            "json",
            "frames as JSON lines on stdout (json.looks_like)",
            BLINKT,
            "blinkt_agent.displays.jsonlines:open_display",
            section="json",
        ),
    )
}
PREVIEWS = ("terminal", "json")  # draw another display's shape, without hardware
DISPLAY_NAMES = tuple(DISPLAYS)
HARDWARE_NAMES = tuple(name for name in DISPLAYS if name not in PREVIEWS)


def kind_of(name: str) -> DisplayKind:
    try:
        return DISPLAYS[name]
    except KeyError:
        raise ConfigError(
            f"display = {name!r}: expected one of {', '.join(DISPLAY_NAMES)}"
        ) from None


def open_display(settings: Settings, name: str | None = None, **overrides: Any) -> Display:
    """The display `name` (default: settings' `display`), opened: DisplayError (exit 74)
    when its library or device is missing or refused."""
    return kind_of(name or settings["display"]).open(settings, **overrides)


def reopen_keys(settings: Settings) -> tuple[str, ...]:
    """The settings whose change makes a reload close the display and open it again."""
    section = kind_of(settings["display"]).section
    return ("display", *(k for k in settings.values if section and k.startswith(section + ".")))


__all__ = [
    "DISPLAYS",
    "DISPLAY_NAMES",
    "HARDWARE_NAMES",
    "Display",
    "DisplayKind",
    "close",
    "kind_of",
    "open_display",
    "reopen_keys",
]

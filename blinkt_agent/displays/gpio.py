"""What the GPIO displays (the Blinkt!, the traffic light) share: RPi.GPIO, imported only
here and only when a display is opened without an injected module, the part of its API
they use, how they claim their pins, and their errors.

RPi.GPIO comes from python3-rpi.gpio, or python3-rpi-lgpio (any Pi, the only one that
works on a Raspberry Pi 5), which provides the same module. Errors are DisplayError
(exit 74) on one line, naming `display = <name>` and what to do: the package to install
or the group the user needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from blinkt_agent.errors import DisplayError

INSTALL_HINT = (
    "install python3-rpi-lgpio (Raspberry Pi 5) or python3-rpi.gpio: apt install python3-rpi-lgpio"
)
# RPi.GPIO: "No access to /dev/mem.  Try running as root!"; rpi-lgpio/lgpio:
# "can not open gpiochip"; plain EACCES from either.
_NO_ACCESS_WORDS = ("/dev/mem", "gpiomem", "gpiochip", "ermission")


class Gpio(Protocol):
    """What the GPIO displays use of RPi.GPIO (rpi-lgpio has the same API), in its types:
    mypy checks the real module against it (types-RPi.GPIO) where it is imported, and the
    test double in the tests."""

    @property
    def BCM(self) -> Literal[11]: ...
    @property
    def OUT(self) -> Literal[0]: ...
    @property
    def LOW(self) -> Literal[0]: ...
    @property
    def HIGH(self) -> Literal[1]: ...
    def setmode(self, mode: Literal[11], /) -> None: ...
    def setwarnings(self, gpio_warnings: bool, /) -> None: ...
    def setup(self, channel: list[int], direction: Literal[0], *, initial: int) -> None: ...
    def output(self, channel: int, value: Literal[0, 1], /) -> None: ...
    def cleanup(self, channel: list[int], /) -> None: ...


def import_rpi_gpio(display: str) -> Gpio:
    """The RPi.GPIO module, or DisplayError naming `display` and the package to install."""
    try:
        import RPi.GPIO as gpio
    except ImportError as err:
        raise DisplayError(f"display = {display}: RPi.GPIO not found; {INSTALL_HINT}") from err
    except RuntimeError as err:  # raised on import by both libraries when not on a Pi
        raise DisplayError(f"display = {display}: RPi.GPIO: {one_line(err)}") from err
    return gpio


def claim(gpio: Gpio, display: str, pins: Sequence[int]) -> None:
    """BCM numbering, `pins` as outputs driven LOW; DisplayError when that is refused."""
    try:
        gpio.setmode(gpio.BCM)
        gpio.setwarnings(False)
        gpio.setup(list(pins), gpio.OUT, initial=gpio.LOW)
    # rpi-lgpio lets lgpio.error, a bare Exception subclass, escape from setmode().
    except Exception as err:
        raise setup_error(err, display, pins) from err


def setup_error(err: Exception, display: str, pins: Sequence[int]) -> DisplayError:
    """Why `display` could not claim `pins`: no access (the group gpio and the unit's
    DeviceAllow=), or the library's own words."""
    text = one_line(err)
    if isinstance(err, PermissionError) or any(word in text for word in _NO_ACCESS_WORDS):
        return DisplayError(
            f"display = {display}: no access to /dev/gpiomem or /dev/gpiochip* ({text}); "
            "the user needs group gpio, and a systemd unit DeviceAllow= for the device"
        )
    return DisplayError(f"display = {display}: cannot set up GPIO pins {_and(pins)}: {text}")


def one_line(err: BaseException) -> str:
    return " ".join(str(err).splitlines()) or type(err).__name__


def _and(pins: Sequence[int]) -> str:
    """9, 10 and 11"""
    *head, last = (str(pin) for pin in pins)
    return f"{', '.join(head)} and {last}" if head else last

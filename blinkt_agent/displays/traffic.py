"""A traffic light: red, amber and green LEDs, each on its own GPIO pin (driven HIGH = lit).

Wired as on the Low Voltage Labs Pi-Traffic: BCM 9 red, 10 amber, 11 green (header pins
21, 19 and 23). A frame is frame.SIGNAL, three pixels: 0 red, 1 amber, 2 green; a light
is lit exactly when its pixel is not off (Pixel.is_off). The LEDs have their own colour
and no dimming, so a pixel's colour and brightness say only "on" (which colour stands for
what is the mapping's choice, not this module's).

RPi.GPIO is imported (through displays.gpio) only when no `gpio` module is injected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from blinkt_agent.displays.gpio import Gpio, claim, import_rpi_gpio, one_line
from blinkt_agent.errors import DisplayError
from blinkt_agent.frame import SIGNAL, Frame, Shape, check_frame, dark

if TYPE_CHECKING:
    from blinkt_agent.config import Settings

NAME = "traffic"
RED_PIN, AMBER_PIN, GREEN_PIN = 9, 10, 11  # BCM numbers, as on the Pi-Traffic


class TrafficDisplay:
    """Three lights on BCM `red_pin`, `amber_pin` and `green_pin`, all off when opened.

    `gpio` is an RPi.GPIO-compatible module; None imports RPi.GPIO. Raises DisplayError
    (exit 74) when the library is missing or the pins cannot be claimed, ValueError when
    two lights are given the same pin.
    """

    def __init__(
        self,
        red_pin: int = RED_PIN,
        amber_pin: int = AMBER_PIN,
        green_pin: int = GREEN_PIN,
        gpio: Gpio | None = None,
    ) -> None:
        self._pins = (red_pin, amber_pin, green_pin)
        if len(set(self._pins)) != len(self._pins):
            raise ValueError(f"{NAME}: red, amber and green need three pins, not {self._pins}")
        self._gpio = gpio if gpio is not None else import_rpi_gpio(NAME)
        claim(self._gpio, NAME, self._pins)
        # The levels as driven: setup() drove them LOW.
        self._levels: list[Literal[0, 1]] = [self._gpio.LOW] * len(self._pins)
        self._last: Frame | None = dark(SIGNAL)
        self._released = False

    @property
    def shape(self) -> Shape:
        return SIGNAL

    @property
    def pins(self) -> tuple[int, int, int]:
        """BCM pins of red, amber and green."""
        return self._pins

    def show(self, frame: Frame) -> None:
        """Light the lights whose pixels are on; nothing when `frame` is the one shown.

        Writes only the pins whose level changes: 0 to 3 GPIO writes a frame."""
        check_frame(frame, SIGNAL, NAME)
        if frame == self._last:
            return
        high, low = self._gpio.HIGH, self._gpio.LOW
        self._drive([low if pixel.is_off else high for pixel in frame], force=False)
        self._last = frame

    def clear(self) -> None:
        """All three lights off now (every pin written, whatever it was thought to be)."""
        self._drive([self._gpio.LOW] * len(self._pins), force=True)
        self._last = dark(SIGNAL)

    def release(self) -> None:
        """Hand our three pins (only those) back to RPi.GPIO as inputs; safe to call twice.

        A pin handed back is an input, which no longer drives its LED: while a light is
        lit (`once` leaves its frame shown) the pins stay outputs at their levels, as
        RPi.GPIO leaves them when a process ends without cleanup. displays.close() clears
        first, so the service always hands them back."""
        if self._released:
            return
        self._released = True
        if self._gpio.HIGH not in self._levels:
            self._gpio.cleanup(list(self._pins))

    def _drive(self, levels: list[Literal[0, 1]], *, force: bool) -> None:
        try:
            for i, (pin, level) in enumerate(zip(self._pins, levels, strict=True)):
                if force or level != self._levels[i]:
                    self._gpio.output(pin, level)
                    self._levels[i] = level
        except RuntimeError as err:  # RPi.GPIO's answer to a pin no longer set up
            self._last = None  # not shown: the same frame is tried again
            raise DisplayError(f"display = {NAME}: GPIO write failed: {one_line(err)}") from err


def open_display(settings: Settings, *, gpio: Gpio | None = None) -> TrafficDisplay:
    """The traffic light on the pins of settings' `traffic` section."""
    return TrafficDisplay(
        red_pin=settings["traffic.red_pin"],
        amber_pin=settings["traffic.amber_pin"],
        green_pin=settings["traffic.green_pin"],
        gpio=gpio,
    )

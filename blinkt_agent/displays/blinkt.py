"""The Pimoroni Blinkt!: 8 APA102 LEDs bit-banged over two GPIO pins with RPi.GPIO.

RPi.GPIO (python3-rpi.gpio, or python3-rpi-lgpio on a Raspberry Pi 5) is imported by
displays/gpio.py, only when a BlinktDisplay is made without an injected `gpio` module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blinkt_agent.displays.gpio import Gpio, claim, import_rpi_gpio
from blinkt_agent.errors import DisplayError
from blinkt_agent.frame import BLINKT, DARK, Frame, Shape, apa102_brightness, check_frame

if TYPE_CHECKING:
    from blinkt_agent.config import Settings

DATA_PIN = 23  # BCM numbers, as wired on the Blinkt!
CLOCK_PIN = 24
START_FRAME_BITS = 32  # 32 zero bits tell every LED that a new frame begins
# Each LED passes the stream on half a clock late (it re-sends on the falling
# edge), so the data for the last of n LEDs arrives n/2 clocks after the last
# word: an end frame of n/2 more clocks. pimoroni's driver sends 36.
END_FRAME_BITS = 36
LED_HEADER = 0b111_00000  # the first three bits of every LED word, then 5-bit brightness


def apa102_bits(frame: Frame) -> list[int]:
    """The bits to clock out for `frame`, MSB first: start frame, 8 LED words, end frame.

    Each LED word is 0b111 + 5-bit brightness, then blue, green, red.
    """
    check_frame(frame, BLINKT, "blinkt")
    data = bytearray()
    for pixel in frame:
        data += bytes((LED_HEADER | apa102_brightness(pixel.brightness), pixel.b, pixel.g, pixel.r))
    bits = [0] * START_FRAME_BITS
    bits += [byte >> shift & 1 for byte in data for shift in range(7, -1, -1)]
    return bits + [0] * END_FRAME_BITS


def open_display(settings: Settings, *, gpio: Gpio | None = None) -> BlinktDisplay:
    """The Blinkt! on the pins of the [blinkt] settings."""
    return BlinktDisplay(settings["blinkt.data_pin"], settings["blinkt.clock_pin"], gpio=gpio)


class BlinktDisplay:
    """The LEDs of a Blinkt! on BCM `data_pin`/`clock_pin`.

    `gpio` is an RPi.GPIO-compatible module; None imports RPi.GPIO.
    Raises DisplayError (exit 74) when the library is missing or the
    GPIO device cannot be opened.
    """

    def __init__(
        self, data_pin: int = DATA_PIN, clock_pin: int = CLOCK_PIN, gpio: Gpio | None = None
    ) -> None:
        self._gpio = gpio if gpio is not None else import_rpi_gpio("blinkt")
        self._data_pin, self._clock_pin = data_pin, clock_pin
        self._last: Frame | None = None
        self._released = False
        claim(self._gpio, "blinkt", [data_pin, clock_pin])

    def show(self, frame: Frame) -> None:
        """Clock `frame` out to the LEDs unless it is the frame they already show."""
        if frame == self._last:
            return
        self._write(frame)
        self._last = frame

    @property
    def shape(self) -> Shape:
        return BLINKT

    def clear(self) -> None:
        """Turn the LEDs off (unless the pins are already released)."""
        if not self._released:
            self._write(DARK)
            self._last = DARK

    def release(self) -> None:
        """Release our two pins (only ours), the LEDs as they are; safe to call twice.

        The LEDs keep what they last latched: APA102s need no refresh."""
        if not self._released:
            self._released = True
            self._gpio.cleanup([self._data_pin, self._clock_pin])

    def _write(self, frame: Frame) -> None:
        output, data, clock = self._gpio.output, self._data_pin, self._clock_pin
        high, low = self._gpio.HIGH, self._gpio.LOW
        try:
            for bit in apa102_bits(frame):
                output(data, high if bit else low)  # sampled on the rising clock edge
                output(clock, high)
                output(clock, low)
        except RuntimeError as err:
            raise DisplayError(f"blinkt: GPIO write failed: {err}") from err

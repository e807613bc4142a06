"""The Pimoroni Blinkt!: 8 APA102 LEDs bit-banged over two GPIO pins with RPi.GPIO.

The only module that imports RPi.GPIO (python3-rpi.gpio, or python3-rpi-lgpio
on a Raspberry Pi 5, which provides the same module), and only when a
BlinktDisplay is made without an injected `gpio` module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

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

INSTALL_HINT = (
    "install python3-rpi-lgpio (Raspberry Pi 5) or python3-rpi.gpio: apt install python3-rpi-lgpio"
)


class Gpio(Protocol):
    """What BlinktDisplay uses of RPi.GPIO (rpi-lgpio has the same API), in its types:
    mypy checks the real module against it (types-RPi.GPIO) where it is imported."""

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
        self._gpio = gpio if gpio is not None else _import_rpi_gpio()
        self._data_pin, self._clock_pin = data_pin, clock_pin
        self._last: Frame | None = None
        self._released = False
        try:
            self._gpio.setmode(self._gpio.BCM)
            self._gpio.setwarnings(False)
            self._gpio.setup([data_pin, clock_pin], self._gpio.OUT, initial=self._gpio.LOW)
        # rpi-lgpio lets lgpio.error, a bare Exception subclass, escape from setmode().
        except Exception as err:
            raise _setup_error(err, data_pin, clock_pin) from err

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


def _import_rpi_gpio() -> Gpio:
    try:
        import RPi.GPIO as gpio
    except ImportError as err:
        raise DisplayError(f"display = blinkt: RPi.GPIO not found; {INSTALL_HINT}") from err
    except RuntimeError as err:  # raised on import by both libraries when not on a Pi
        raise DisplayError(f"display = blinkt: RPi.GPIO: {err}") from err
    return gpio


def _setup_error(err: Exception, data_pin: int, clock_pin: int) -> DisplayError:
    # RPi.GPIO: "No access to /dev/mem.  Try running as root!";
    # rpi-lgpio/lgpio: "can not open gpiochip"; plain EACCES from either.
    text = str(err)
    if isinstance(err, PermissionError) or any(
        word in text for word in ("/dev/mem", "gpiomem", "gpiochip", "ermission")
    ):
        return DisplayError(
            f"blinkt: no access to /dev/gpiomem or /dev/gpiochip* ({text}); "
            "the user needs group gpio, and a systemd unit DeviceAllow= for the device"
        )
    return DisplayError(f"blinkt: cannot set up GPIO pins {data_pin} and {clock_pin}: {text}")

"""The Pimoroni Unicorn HAT Mini: 17x7 RGB LEDs on two Holtek HT16D35 LED controllers,
on SPI 0.0 (CE0: the left 9 columns) and SPI 0.1 (CE1: the right 8).

The protocol, as pimoroni/unicornhatmini-python's library/unicornhatmini/__init__.py
speaks it (v0.0.2), each command one chip-select-framed xfer2:

- init, per controller: soft reset 0xCC; global brightness 0x37 n; scroll control
  0x20 0x00 (static); system control 0x35 0x00 (oscillator and display off); write
  display 0x80 0x00 and 224 zero bytes (clear the RAM); COM pin control 0x41 0xFF (all
  8 COMs); ROW pin control 0x42 0xFF 0xFF 0xFF 0xFF (all 28 ROWs); system control
  0x35 0x03 (oscillator and display on);
- a frame, per controller: write display 0x80 at RAM address 0x00, then its 224 bytes
  of gray RAM, one 6-bit level (0..63; the library sends value >> 2) per LED channel;
- RAM address = COM * 28 + ROW. Display row y is COM (4, 7, 5, 6, 3, 1, 2)[y] (COM 0
  unused); a controller's column c lights red, green, blue on ROWs 27, 26, 25 (c = 0),
  24, 23, 22 (c = 1), else 3c-5, 3c-3, 3c-4 (ROW 0 unused): the library's 119-entry
  lookup table, read as a rule (tests/spidev_double keeps it as a table).

Where we differ from the library, and why:

- chip select: the library sets no_cs and drives CE0/CE1 (BCM 8 and 7) with RPi.GPIO
  around each xfer2; we let spidev assert CE0/CE1 for each xfer2, which frames every
  command the same way (low for the whole command, high between) without RPi.GPIO;
- brightness: global brightness 63 (the library's set_brightness(1.0)) once at init,
  and each pixel's brightness scales its RGB, as on the HD; a lit channel stays >= 1;
- no shutdown sequence: release() leaves the LEDs as they are (close() clears first).

Orientation: rotation 0 is the library's own, (0, 0) at the top left with buttons A and
B at the left and X and Y at the right (its simon.py draws A's light at (0, 0), B's at
the bottom left, X's at the top right, Y's at the bottom right); 180 turns the picture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blinkt_agent.displays import spi
from blinkt_agent.errors import DisplayError
from blinkt_agent.frame import Frame, Pixel, Shape, check_frame, dark

if TYPE_CHECKING:
    from blinkt_agent.config import Settings

NAME = "unicornhatmini"
SHAPE = Shape.matrix(17, 7)
ROTATIONS = (0, 180)
BUS = 0
DEVICES = (0, 1)  # CE0: the left controller, CE1: the right one
LEFT_COLUMNS = 9
SPEED_HZ = 600_000  # the library's default
ROWS, COMS = 28, 8
RAM_BYTES = ROWS * COMS  # gray mode: one byte per LED channel
BRIGHTNESS = 63  # global brightness, 0..63 as the library sends it

# Holtek HT16D35 commands (the library's names)
SOFT_RESET = 0xCC
GLOBAL_BRIGHTNESS = 0x37
SCROLL_CTRL = 0x20
SYSTEM_CTRL = 0x35
WRITE_DISPLAY = 0x80
COM_PIN_CTRL = 0x41
ROW_PIN_CTRL = 0x42
SYSTEM_OFF = 0x00
SYSTEM_ON = 0x03  # bit 1 the oscillator, bit 0 the display

COM_OF_ROW = (4, 7, 5, 6, 3, 1, 2)  # display row y → the COM that drives it


def channel_rows(column: int) -> tuple[int, int, int]:
    """The ROWs lighting red, green and blue in a controller's `column` (0..8)."""
    if column == 0:
        return (27, 26, 25)
    if column == 1:
        return (24, 23, 22)
    base = 3 * column - 5
    return (base, base + 2, base + 1)


def _addresses() -> tuple[tuple[int, int, int, int], ...]:
    leds = []
    for y in range(SHAPE.height):
        for x in range(SHAPE.width):
            controller = 0 if x < LEFT_COLUMNS else 1
            com = COM_OF_ROW[y]
            r, g, b = (com * ROWS + row for row in channel_rows(x - LEFT_COLUMNS * controller))
            leds.append((controller, r, g, b))
    return tuple(leds)


# For each LED, row by row from the top left: its controller and R, G, B RAM addresses.
ADDRESSES = _addresses()


def init_commands() -> list[list[int]]:
    """What each controller is sent when the display opens, in the library's order."""
    return [
        [SOFT_RESET],
        [GLOBAL_BRIGHTNESS, BRIGHTNESS],
        [SCROLL_CTRL, 0x00],
        [SYSTEM_CTRL, SYSTEM_OFF],
        [WRITE_DISPLAY, 0x00, *bytes(RAM_BYTES)],
        [COM_PIN_CTRL, 0xFF],
        [ROW_PIN_CTRL, 0xFF, 0xFF, 0xFF, 0xFF],
        [SYSTEM_CTRL, SYSTEM_ON],
    ]


def gray(pixel: Pixel) -> tuple[int, int, int]:
    """The pixel's 6-bit gray levels: its scaled RGB >> 2, a lit channel at least 1."""
    r, g, b = pixel.scaled()
    return (max(1, r >> 2) if r else 0, max(1, g >> 2) if g else 0, max(1, b >> 2) if b else 0)


def ram_images(frame: Frame, order: tuple[int, ...] = tuple(range(SHAPE.size))) -> list[bytes]:
    """Each controller's 224 bytes of gray RAM for `frame`, LED i showing pixel order[i]."""
    check_frame(frame, SHAPE, NAME)
    rams = [bytearray(RAM_BYTES) for _ in DEVICES]
    levels: dict[Pixel, tuple[int, int, int]] = {}
    for led, (controller, ra, ga, ba) in enumerate(ADDRESSES):
        pixel = frame[order[led]]
        level = levels.get(pixel)
        if level is None:
            level = levels[pixel] = gray(pixel)
        ram = rams[controller]
        ram[ra], ram[ga], ram[ba] = level
    return [bytes(ram) for ram in rams]


class UnicornHatMiniDisplay:
    """The Unicorn HAT Mini on /dev/spidev0.0 and /dev/spidev0.1, its picture turned
    `rotation` degrees (0 or 180). `spidev` is a spidev-compatible module; None imports
    spidev. Opening initialises both controllers (the LEDs go dark). Raises DisplayError
    (exit 74) when spidev, a device or access to it is missing."""

    def __init__(
        self, rotation: int = 0, *, spidev: spi.Spidev | None = None, speed_hz: int = SPEED_HZ
    ) -> None:
        if rotation not in ROTATIONS:
            raise ValueError(f"{NAME}: rotation {rotation!r}: expected one of {ROTATIONS}")
        self._order, _, _ = spi.turned(SHAPE, rotation)
        module = spidev if spidev is not None else spi.import_spidev(NAME)
        self._devices: list[tuple[str, spi.SpiDev]] = []
        self._last: Frame | None = None
        self._released = False
        try:
            for device in DEVICES:
                opened = spi.open_device(module, NAME, BUS, device, speed_hz)
                self._devices.append((spi.device_path(BUS, device), opened))
            for path, opened in self._devices:
                for command in init_commands():
                    self._send(path, opened, command)
        except BaseException:
            self.release()
            raise
        self._last = dark(SHAPE)  # the init cleared the RAM

    @property
    def shape(self) -> Shape:
        return SHAPE

    def show(self, frame: Frame) -> None:
        """Send `frame` unless it is the frame the HAT already shows."""
        if frame != self._last:
            self._write(frame)

    def clear(self) -> None:
        self._write(dark(SHAPE))

    def release(self) -> None:
        """Close both SPI devices, the LEDs left as they are; safe to call twice."""
        if not self._released:
            self._released = True
            for _, opened in self._devices:
                spi.close_quietly(opened)

    def _write(self, frame: Frame) -> None:
        if self._released:
            raise DisplayError(f"display = {NAME}: the SPI devices are already released")
        rams = ram_images(frame, self._order)
        self._last = None  # until both halves are written
        for (path, opened), ram in zip(self._devices, rams, strict=True):
            self._send(path, opened, [WRITE_DISPLAY, 0x00, *ram])
        self._last = frame

    @staticmethod
    def _send(path: str, opened: spi.SpiDev, command: list[int]) -> None:
        try:
            opened.xfer2(command)
        except OSError as err:
            raise spi.write_error(err, NAME, path) from err


def open_display(settings: Settings, *, spidev: spi.Spidev | None = None) -> UnicornHatMiniDisplay:
    """The registry's opener: rotation from `unicornhatmini.rotation`."""
    return UnicornHatMiniDisplay(settings["unicornhatmini.rotation"], spidev=spidev)

"""The Pimoroni Unicorn HAT HD: 16x16 RGB LEDs behind a microcontroller on SPI 0.0 (CE0).

The protocol, as pimoroni/unicorn-hat-hd's library/unicornhathd/__init__.py speaks it
(v0.0.4): open bus 0 device 0 at max_speed_hz 9 MHz; a frame is one xfer2 of the
start-of-frame byte 0x72 then 16x16x3 = 768 bytes R, G, B; nothing else is sent (no
init, no reset). The library sleeps 1/120 s after each frame; we keep at least that gap
between two frames instead, so that a single frame costs no wait.

Pixel order: the library sends numpy.rot90(buf, rotation).reshape(768), so at rotation 0
the wire is buf in C order. Pimoroni's aligned examples (commit 939afb1: show-png.py at
rotation 0, text.py at rotation 270) both end up sending their image row by row from
its top left, and the maintainer's answer in unicorn-hat-hd issue #2 puts pixel (0,0),
the first on the wire, at the top left "with the header orientated upwards". So the
wire is row by row from the top left with the GPIO header at the top (a Pi standing
with its HDMI ports down): the same order as our frames, index y*16 + x.

Brightness: the library multiplies the RGB values by its brightness; we multiply by
each pixel's own (frame.Pixel.scaled), keeping a lit pixel's channels at least 1.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from blinkt_agent.displays import spi
from blinkt_agent.errors import DisplayError
from blinkt_agent.frame import Frame, Pixel, Shape, check_frame, dark

if TYPE_CHECKING:
    from blinkt_agent.config import Settings

NAME = "unicornhathd"
SHAPE = Shape.matrix(16, 16)
BUS, DEVICE = 0, 0  # CE0
SPEED_HZ = 9_000_000
START_OF_FRAME = 0x72
FRAME_GAP = 1.0 / 120  # seconds the library lets the HAT take over each frame


def frame_bytes(frame: Frame, order: tuple[int, ...] = tuple(range(SHAPE.size))) -> bytes:
    """What goes on the wire for `frame`: 0x72, then R, G, B of each LED of the board
    (row by row from its top left), LED i showing frame pixel order[i]."""
    check_frame(frame, SHAPE, NAME)
    data = bytearray((START_OF_FRAME,))
    colours: dict[Pixel, tuple[int, int, int]] = {}  # a frame has few distinct pixels
    for index in order:
        pixel = frame[index]
        rgb = colours.get(pixel)
        if rgb is None:
            rgb = colours[pixel] = pixel.scaled()
        data += bytes(rgb)
    return bytes(data)


class UnicornHatHdDisplay:
    """The Unicorn HAT HD on /dev/spidev0.0, its picture turned `rotation` degrees
    clockwise (0, 90, 180, 270). `spidev` is a spidev-compatible module; None imports
    spidev. Raises DisplayError (exit 74) when spidev, the device or access is missing."""

    def __init__(
        self,
        rotation: int = 0,
        *,
        spidev: spi.Spidev | None = None,
        frame_gap: float = FRAME_GAP,
    ) -> None:
        self._order, _, _ = spi.turned(SHAPE, rotation)
        module = spidev if spidev is not None else spi.import_spidev(NAME)
        self._path = spi.device_path(BUS, DEVICE)
        self._spi = spi.open_device(module, NAME, BUS, DEVICE, SPEED_HZ)
        self._frame_gap = frame_gap
        self._ready_at = 0.0  # time.monotonic() after which the HAT takes a frame
        self._last: Frame | None = None
        self._released = False

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
        """Close /dev/spidev0.0, the LEDs left as they are; safe to call twice."""
        if not self._released:
            self._released = True
            spi.close_quietly(self._spi)

    def _write(self, frame: Frame) -> None:
        if self._released:
            raise DisplayError(f"display = {NAME}: {self._path} is already released")
        data = list(frame_bytes(frame, self._order))
        wait = self._ready_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            self._spi.xfer2(data)
        except OSError as err:
            self._last = None  # what the LEDs show is unknown now
            raise spi.write_error(err, NAME, self._path) from err
        self._ready_at = time.monotonic() + self._frame_gap
        self._last = frame


def open_display(settings: Settings, *, spidev: spi.Spidev | None = None) -> UnicornHatHdDisplay:
    """The registry's opener: rotation from `unicornhathd.rotation`."""
    return UnicornHatHdDisplay(settings["unicornhathd.rotation"], spidev=spidev)

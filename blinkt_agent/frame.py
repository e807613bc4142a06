"""Pixels, shapes and frames: the value the mapping produces and the displays show.

A display has a Shape: a strip of N LEDs (the Blinkt!'s 8, a BlinkStick's 1..64), a
WxH matrix (a Unicorn HAT), or a signal (three fixed-colour lights: red, amber, green).
A frame is exactly `shape.size` pixels, row by row from the top left; on a strip index
0 is the first LED (on the Blinkt! the one nearest the Pi's SD card / pin 1 end, as
pimoroni/blinkt numbers them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SHAPE_KINDS = ("strip", "matrix", "signal")


@dataclass(frozen=True, slots=True)
class Shape:
    """What a display can draw: `width` x `height` pixels of one `kind` (SHAPE_KINDS)."""

    width: int
    height: int = 1
    kind: str = "strip"

    def __post_init__(self) -> None:
        if self.kind not in SHAPE_KINDS:
            raise ValueError(f"shape kind {self.kind!r}: expected one of {', '.join(SHAPE_KINDS)}")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"shape {self.width}x{self.height}: needs at least one pixel")
        if self.kind != "matrix" and self.height != 1:
            raise ValueError(f"a {self.kind} is one row, not {self.height}")

    @classmethod
    def strip(cls, leds: int) -> Shape:
        return cls(leds)

    @classmethod
    def matrix(cls, width: int, height: int) -> Shape:
        return cls(width, height, "matrix")

    @property
    def size(self) -> int:
        return self.width * self.height

    def __str__(self) -> str:
        if self.kind == "matrix":
            return f"{self.width}x{self.height} matrix"
        return f"{self.kind} of {self.width}"


BLINKT = Shape.strip(8)
SIGNAL = Shape(3, kind="signal")  # index 0 red, 1 amber, 2 green, as the lights stand


@dataclass(frozen=True, slots=True)
class Pixel:
    """One LED: r, g, b in 0..255 and brightness in 0.0..1.0."""

    r: int = 0
    g: int = 0
    b: int = 0
    brightness: float = 0.0

    def __post_init__(self) -> None:
        for name in ("r", "g", "b"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 255:
                raise ValueError(f"pixel {name}={value!r}: must be an integer 0..255")
        if not 0.0 <= self.brightness <= 1.0:
            raise ValueError(f"pixel brightness={self.brightness!r}: must be 0.0..1.0")

    @property
    def is_off(self) -> bool:
        return self.brightness == 0.0 or (self.r, self.g, self.b) == (0, 0, 0)

    def scaled(self) -> tuple[int, int, int]:
        """r, g, b times the brightness, for displays without a brightness of their own
        (the BlinkStick, the Unicorn HATs); a lit pixel keeps each of its non-zero
        channels at least 1, so that a dim setting never turns a state LED off or
        changes its hue."""
        if self.is_off:
            return (0, 0, 0)
        r, g, b = (max(1, round(c * self.brightness)) if c else 0 for c in (self.r, self.g, self.b))
        return (r, g, b)


OFF = Pixel()

Frame = tuple[Pixel, ...]  # always its display's shape.size long


def dark(shape: Shape = BLINKT) -> Frame:
    return (OFF,) * shape.size


DARK: Frame = dark(BLINKT)


def make_frame(pixels: Iterable[Pixel], shape: Shape = BLINKT) -> Frame:
    """Pad (with OFF) or reject so that a frame is always exactly `shape.size` pixels."""
    frame = tuple(pixels)
    if len(frame) > shape.size:
        raise ValueError(f"frame has {len(frame)} pixels; a {shape} has {shape.size}")
    return frame + (OFF,) * (shape.size - len(frame))


def check_frame(frame: Frame, shape: Shape, display: str) -> None:
    """ValueError unless `frame` fits `shape` (a display's guard before it writes)."""
    if len(frame) != shape.size:
        raise ValueError(f"{display}: frame has {len(frame)} pixels; its {shape} has {shape.size}")


def apa102_brightness(brightness: float) -> int:
    """Map 0.0..1.0 to the APA102's 5-bit global brightness (0..31).

    Any non-zero brightness stays lit (at least 1) so that a dim setting
    never turns a state LED off.
    """
    if not 0.0 <= brightness <= 1.0:
        raise ValueError(f"brightness={brightness!r}: must be 0.0..1.0")
    if brightness == 0.0:
        return 0
    return max(1, round(brightness * 31))

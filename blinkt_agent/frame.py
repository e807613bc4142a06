"""Pixels and frames: the value the mapping produces and the displays show.

A frame is exactly 8 pixels (the Blinkt! has 8 APA102 LEDs, index 0 is the
LED nearest the Pi's SD card / pin 1 end, as pimoroni/blinkt numbers them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

NUM_PIXELS = 8


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


OFF = Pixel()

Frame = tuple[Pixel, ...]  # always NUM_PIXELS long

DARK: Frame = (OFF,) * NUM_PIXELS


def make_frame(pixels: Iterable[Pixel]) -> Frame:
    """Pad (with OFF) or reject so that a frame is always exactly 8 pixels."""
    frame = tuple(pixels)
    if len(frame) > NUM_PIXELS:
        raise ValueError(f"frame has {len(frame)} pixels; the Blinkt! has {NUM_PIXELS}")
    return frame + (OFF,) * (NUM_PIXELS - len(frame))


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

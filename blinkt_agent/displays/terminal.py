"""The 8 LEDs drawn in a terminal, for the demo and for machines without a Blinkt!."""

from __future__ import annotations

import sys
from typing import TextIO

from blinkt_agent.frame import DARK, Frame, Pixel

LIT, UNLIT = "\u25cf", "\u00b7"  # ● and ·
# Terminal colours cannot dim like an LED; keep dim LEDs visible but darker.
MIN_SHADE = 0.35
CLEAR_LINE = "\r\x1b[2K"
RESET = "\x1b[0m"


def render_tty(frame: Frame) -> str:
    """The LEDs as coloured dots (24-bit ANSI), unlit LEDs as grey dots."""
    return " ".join(_dot(pixel) for pixel in frame) + RESET


def render_plain(frame: Frame) -> str:
    """The LEDs as text without escapes: rrggbb@brightness, or "off"."""
    return " ".join(
        "off" if pixel.is_off else f"{pixel.r:02x}{pixel.g:02x}{pixel.b:02x}@{pixel.brightness:.2f}"
        for pixel in frame
    )


def _dot(pixel: Pixel) -> str:
    if pixel.is_off:
        return f"\x1b[38;2;80;80;80m{UNLIT}"
    shade = MIN_SHADE + (1 - MIN_SHADE) * pixel.brightness
    r, g, b = (round(c * shade) for c in (pixel.r, pixel.g, pixel.b))
    return f"\x1b[38;2;{r};{g};{b}m{LIT}"


class TerminalDisplay:
    """Redraws one line in place on a terminal; prints a plain line per change otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout
        isatty = getattr(self._stream, "isatty", None)
        self._tty = bool(isatty and isatty())
        self._caption = ""
        self._shown: tuple[Frame, str] | None = None
        self._closed = False

    def set_caption(self, text: str) -> None:
        """Text shown after the LEDs from the next show() on (the demo's story step)."""
        self._caption = text

    def note(self, text: str) -> None:
        """A line of its own above the LEDs (the demo's story), which scrolls away."""
        if self._tty:
            self._stream.write(f"{CLEAR_LINE}{text}\n")
            if self._shown is not None:
                self._draw(*self._shown)
        else:
            self._stream.write(f"{text}\n")
        self._stream.flush()

    def show(self, frame: Frame) -> None:
        if (frame, self._caption) != self._shown:
            self._draw(frame, self._caption)
            self._stream.flush()

    def _draw(self, frame: Frame, caption: str) -> None:
        text = f"  {caption}" if caption else ""
        if self._tty:
            self._stream.write(f"{CLEAR_LINE}{render_tty(frame)}{text}")
        else:
            self._stream.write(f"{render_plain(frame)}{text}\n")
        self._shown = (frame, caption)

    def close(self) -> None:
        """Show the LEDs dark and end the line; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.show(DARK)
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()

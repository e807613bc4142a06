"""Frames as JSON lines, for scripts and tests: one object per changed frame."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

from blinkt_agent.frame import BLINKT, Frame, Shape, check_frame, dark

if TYPE_CHECKING:
    from blinkt_agent.config import Settings


def open_display(settings: Settings, *, stream: TextIO | None = None) -> JsonDisplay:
    """JSON lines in the shape of the display named by json.looks_like."""
    from blinkt_agent.displays import kind_of

    return JsonDisplay(stream, kind_of(settings["json.looks_like"]).shape)


class JsonDisplay:
    """Writes {"pixels": [{"r", "g", "b", "brightness"}, ...]} per changed frame, flushed;
    a shape other than the Blinkt!'s adds "width" and "height" (pixels row by row)."""

    def __init__(self, stream: TextIO | None = None, shape: Shape = BLINKT) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self._shape = shape
        self._last: Frame | None = None
        self._released = False

    @property
    def shape(self) -> Shape:
        return self._shape

    def show(self, frame: Frame) -> None:
        if self._released or frame == self._last:
            return
        check_frame(frame, self._shape, "json")
        pixels = [{"r": p.r, "g": p.g, "b": p.b, "brightness": p.brightness} for p in frame]
        line: dict[str, object] = {"pixels": pixels}
        if self._shape != BLINKT:
            line |= {"width": self._shape.width, "height": self._shape.height}
        self._stream.write(json.dumps(line) + "\n")
        self._stream.flush()
        self._last = frame

    def clear(self) -> None:
        """A dark frame (unless already dark)."""
        self.show(dark(self._shape))

    def release(self) -> None:
        self._released = True

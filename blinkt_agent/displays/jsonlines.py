"""Frames as JSON lines, for scripts and tests: one object per changed frame."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from blinkt_agent.frame import DARK, Frame


class JsonDisplay:
    """Writes {"pixels": [{"r", "g", "b", "brightness"}, ... 8]} per changed frame, flushed."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self._last: Frame | None = None
        self._closed = False

    def show(self, frame: Frame) -> None:
        if frame == self._last:
            return
        pixels = [{"r": p.r, "g": p.g, "b": p.b, "brightness": p.brightness} for p in frame]
        self._stream.write(json.dumps({"pixels": pixels}) + "\n")
        self._stream.flush()
        self._last = frame

    def close(self) -> None:
        """End with a dark frame (unless already dark); safe to call twice."""
        if not self._closed:
            self.show(DARK)
            self._closed = True

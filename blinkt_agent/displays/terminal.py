"""A display's LEDs drawn in a terminal, for the demo and for machines without the hardware.

It draws any display's shape (terminal.looks_like): a strip or a traffic light as one
row, a matrix as one row per matrix row, the caption beside the first. On a terminal
that takes cursor control the LED rows are redrawn in place: the cursor rests at the
start of the first, and every redraw erases from there to the end of the screen, so a
row that the terminal re-wrapped after a resize is erased whole. The status text beside
the LEDs is cut to the terminal's width, which is read again at every draw and on
SIGWINCH. Lines that scroll away (the demo's story, log lines) are written above the
row. The SIGWINCH handler only wakes a thread that redraws: a handler that took a lock
could deadlock with the code it interrupted, which may hold that very lock.

Without cursor control (TERM=dumb) every change is a plain line; without a terminal at
all (a pipe, a file) it is a plain line in hex for scripts. NO_COLOR (https://no-
color.org) and TERM=dumb draw each LED as the letter of its colour.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from blinkt_agent.errors import DisplayError
from blinkt_agent.frame import BLINKT, Frame, Pixel, Shape, check_frame, dark
from blinkt_agent.outside import one_line
from blinkt_agent.waker import Waker

if TYPE_CHECKING:
    from blinkt_agent.config import Settings

LIT, UNLIT, ELLIPSIS = "\u25cf", "\u00b7", "\u2026"  # ● · …
ASCII_LIT, ASCII_UNLIT, ASCII_ELLIPSIS = "o", ".", "..."
# Terminal colours cannot dim like an LED; keep dim LEDs visible but darker.
MIN_SHADE = 0.35
UNLIT_RGB = (80, 80, 80)
ERASE_DOWN = "\x1b[J"  # from the cursor to the end of the screen
RESET = "\x1b[39m"  # default foreground
DEFAULT_COLUMNS = 80
# A part-lit LED (the end of a resource bar) is drawn as a lower-case letter.
DIM_SHARE = 0.75

# Names (and letters) for what a person sees; the nearest one names an LED's colour.
NAMED_COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (255, 0, 0)),
    ("amber", (255, 100, 0)),
    ("yellow", (255, 255, 0)),
    ("green", (0, 255, 0)),
    ("cyan", (0, 255, 255)),
    ("blue", (0, 0, 255)),
    ("magenta", (255, 0, 255)),
    ("white", (255, 255, 255)),
)

RGB = tuple[int, int, int]
Segment = tuple[RGB | None, str]  # text, drawn in that colour (None: the default colour)
# What signal.signal() hands back: a handler, SIG_DFL/SIG_IGN, or None (not set from Python).
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


@functools.lru_cache(maxsize=512)  # a display shows few distinct colours, again and again
def colour_name(rgb: RGB) -> str:
    """The nearest of NAMED_COLOURS, whatever the intensity ((0, 60, 0) is green)."""
    peak = max(rgb)
    if peak == 0:
        return "off"
    scaled = [c * 255 / peak for c in rgb]
    return min(
        NAMED_COLOURS,
        key=lambda named: sum((a - b) ** 2 for a, b in zip(scaled, named[1], strict=True)),
    )[0]


def colour_letter(rgb: RGB) -> str:
    """R, A, Y, G, C, B, M or W: the first letter of colour_name()."""
    return colour_name(rgb)[0].upper()


def render_plain(frame: Frame) -> str:
    """The LEDs as text without escapes: rrggbb@brightness, or "off" (for scripts)."""
    return " ".join(
        "off" if pixel.is_off else f"{pixel.r:02x}{pixel.g:02x}{pixel.b:02x}@{pixel.brightness:.2f}"
        for pixel in frame
    )


def _shade(pixel: Pixel) -> RGB:
    shade = MIN_SHADE + (1 - MIN_SHADE) * pixel.brightness
    r, g, b = (round(c * shade) for c in (pixel.r, pixel.g, pixel.b))
    return (r, g, b)


def _width(text: str) -> int:
    """Columns `text` takes: East Asian wide characters 2, combining marks 0."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def fit(segments: Sequence[Segment], columns: int, ellipsis: str = ELLIPSIS) -> list[Segment]:
    """`segments` cut to `columns` terminal columns, ending in `ellipsis` if anything was cut."""
    total = sum(_width(text) for _, text in segments)
    if total <= columns:
        return list(segments)
    room = max(0, columns - _width(ellipsis))
    out: list[Segment] = []
    for colour, text in segments:
        kept = ""
        for char in text:
            if _width(kept + char) > room:
                break
            kept += char
        if kept:
            out.append((colour, kept))
        room -= _width(kept)
        if len(kept) < len(text):
            break
    return [*out, (None, ellipsis[:columns])]


@dataclass(frozen=True)
class Capabilities:
    """What the stream can take: cursor control (a real terminal), colour, any terminal."""

    terminal: bool
    cursor: bool
    colour: bool

    @classmethod
    def of(cls, stream: TextIO, environ: Mapping[str, str]) -> Capabilities:
        isatty = getattr(stream, "isatty", None)
        terminal = bool(isatty and isatty())
        cursor = terminal and environ.get("TERM", "") != "dumb"
        # no-color.org: "when present and not an empty string", whatever its value.
        colour = cursor and not environ.get("NO_COLOR")
        return cls(terminal, cursor, colour)


def open_display(settings: Settings, *, stream: TextIO | None = None) -> TerminalDisplay:
    """The terminal, drawing the shape of the display named by terminal.looks_like."""
    from blinkt_agent.displays import kind_of

    return TerminalDisplay(stream, shape=kind_of(settings["terminal.looks_like"]).shape)


class TerminalDisplay:
    """LEDs in `shape` and a caption as rows of a terminal (see the module docstring).

    `environ` gives TERM and NO_COLOR; `columns` the terminal width (default: asked
    of the stream's terminal at each draw); `watch_resize` redraws on SIGWINCH.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        shape: Shape = BLINKT,
        environ: Mapping[str, str] | None = None,
        columns: Callable[[], int] | None = None,
        watch_resize: bool = True,
    ) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self._shape = shape
        environ = os.environ if environ is None else environ
        self.can = Capabilities.of(self._stream, environ)
        self._columns = columns or self._terminal_columns(environ)
        self._symbols = self._pick_symbols()
        self._lock = threading.RLock()
        self._caption = ""
        self._shown: tuple[Frame, str] | None = None
        self._row_drawn = False  # cursor mode: the row is on screen, the cursor at its start
        self._closed = False
        self._resized: Waker | None = None  # woken on SIGWINCH, while we watch it
        self._previous_winch: _Handler = None
        if watch_resize and self.can.cursor:
            self._watch_resize()

    # --- what users of the display call -------------------------------------------------

    @property
    def shape(self) -> Shape:
        return self._shape

    def set_caption(self, text: str) -> None:
        """Text shown after the LEDs from the next show() on (the demo's STATUS)."""
        self._caption = one_line(text)

    def show(self, frame: Frame) -> None:
        """Draw `frame` and the caption unless both are what the row already shows."""
        with self._lock:
            if self._closed or (frame, self._caption) == self._shown:
                return
            check_frame(frame, self._shape, "terminal")
            self._shown = (frame, self._caption)
            if self.can.cursor:
                self._write("\r" + ERASE_DOWN + self._row(frame, self._caption) + self._home())
                self._row_drawn = True
            else:
                self._write(self._line(frame, self._caption) + "\n")

    def note(self, text: str) -> None:
        """A line of its own above the LEDs (the demo's story), which scrolls away.

        On a terminal it is cut to the width, so that it takes exactly one row."""
        line = one_line(text)
        if self.can.terminal:
            line = _text(fit([(None, line)], self._usable_columns(), self._symbols[2]))
        with self.above():
            self._write(line + "\n")

    def legend(self, entries: Sequence[tuple[str, RGB]], tail: str = "") -> None:
        """One line above the LEDs: an LED of each colour and its label, as many as fit
        the terminal's width, then `tail` ("Ctrl-C to stop"), which is always kept."""
        symbol = self._symbols[0]
        items: list[list[Segment]] = [
            [(rgb, symbol) if self.can.colour else (None, colour_letter(rgb)), (None, f" {label}")]
            for label, rgb in entries
        ]
        end: list[Segment] = [(None, f"   {tail}")] if tail else []
        while items and self.can.terminal:
            width = _width(_text([seg for item in items for seg in item] + end))
            if width + 2 * (len(items) - 1) <= self._usable_columns():
                break
            items.pop()
        segments: list[Segment] = []
        for item in items:
            segments += ([(None, "  ")] if segments else []) + item
        if not segments and end:
            end = [(None, tail)]
        with self.above():
            self._write(self._paint(segments + end) + "\n")

    @contextlib.contextmanager
    def above(self) -> Iterator[None]:
        """Lift the LED row while the block writes whole lines (to any stream), then redraw."""
        with self._lock:
            self._flush_quietly()
            if self._row_drawn:
                self._write("\r" + ERASE_DOWN)
            try:
                yield
            finally:
                if self._row_drawn and self._shown is not None and not self._closed:
                    self._write(self._row(*self._shown) + self._home())

    def clear(self) -> None:
        """The LEDs dark, without the caption."""
        with self._lock:
            self._caption = ""
            self.show(dark(self._shape))

    def release(self) -> None:
        """Leave the rows on screen, the caption whole (nothing redraws them, so it may
        wrap), and end the line below them; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            if self._row_drawn and self._shown is not None:
                whole = self._row(*self._shown, cut=False)
                if whole != self._row(*self._shown):
                    # Over the rows as drawn, which the whole ones cover: no erase from the
                    # top left, which tmux would copy to its history (scroll-on-clear).
                    self._write("\r" + whole + "\n")
                else:  # below the rows, as they are
                    down = self._shape.height - 1
                    self._write((f"\x1b[{down}B" if down else "") + "\n")
                self._row_drawn = False
            self._end()

    # --- drawing --------------------------------------------------------------------------

    def _pick_symbols(self) -> tuple[str, str, str]:
        encoding = getattr(self._stream, "encoding", None) or "utf-8"
        try:
            (LIT + UNLIT + ELLIPSIS).encode(encoding)
        except (UnicodeEncodeError, LookupError):
            return ASCII_LIT, ASCII_UNLIT, ASCII_ELLIPSIS
        return LIT, UNLIT, ELLIPSIS

    def _usable_columns(self) -> int:
        # One column short of the edge: a character in the last column leaves some
        # terminals in a pending wrap that the next newline turns into an empty row.
        try:
            return max(1, self._columns() - 1)
        except (OSError, ValueError):
            return DEFAULT_COLUMNS - 1

    def _leds(self, frame: Frame) -> list[Segment]:
        lit, unlit, _ = self._symbols
        if self.can.colour:
            return [(UNLIT_RGB, unlit) if p.is_off else (_shade(p), lit) for p in frame]
        brightest = max((p.brightness for p in frame if not p.is_off), default=0.0)
        return [
            (None, unlit)
            if p.is_off
            else (None, colour_letter((p.r, p.g, p.b)).lower())
            if p.brightness < DIM_SHARE * brightest
            else (None, colour_letter((p.r, p.g, p.b)))
            for p in frame
        ]

    def _lines(self, frame: Frame, caption: str) -> list[list[Segment]]:
        """A list of segments per row of the shape; the caption beside the first."""
        leds, width = self._leds(frame), self._shape.width
        lines: list[list[Segment]] = []
        for top in range(0, len(leds), width):
            segments: list[Segment] = []
            for led in leds[top : top + width]:
                segments += [led, (None, " ")]
            lines.append(segments[:-1])
        if caption:
            lines[0] = [*lines[0], (None, f"  {caption}")]
        return lines

    def _row(self, frame: Frame, caption: str, cut: bool = True) -> str:
        """The shape's rows, each cut to the width; the cursor after the last."""
        columns, ellipsis = self._usable_columns(), self._symbols[2]
        return "\n".join(
            self._paint(fit(line, columns, ellipsis) if cut else line)
            for line in self._lines(frame, caption)
        )

    def _home(self) -> str:
        """From the end of the last row back to the start of the first."""
        up = self._shape.height - 1
        return "\r" + (f"\x1b[{up}A" if up else "")

    def _line(self, frame: Frame, caption: str) -> str:
        if not self.can.terminal:  # a pipe or a file: for scripts, no width
            return render_plain(frame) + (f"  {caption}" if caption else "")
        return self._row(frame, caption)

    def _paint(self, segments: Sequence[Segment]) -> str:
        if not self.can.colour:
            return _text(segments)
        out, current = [], None
        for colour, text in segments:
            if colour != current:
                out.append(RESET if colour is None else "\x1b[38;2;{};{};{}m".format(*colour))
                current = colour
            out.append(text)
        return "".join(out) + (RESET if current is not None else "")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError) as err:  # a closed pipe or stream
            self._closed = True
            raise DisplayError(f"display = terminal: cannot write: {err}") from err

    def _flush_quietly(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def _end(self) -> None:
        self._closed = True
        if self._resized is not None:
            self._resized.wake()  # lets the resize thread end
        if self._previous_winch is not None:
            with contextlib.suppress(ValueError):  # not the main thread
                signal.signal(signal.SIGWINCH, self._previous_winch)
            self._previous_winch = None

    # --- the terminal's size ------------------------------------------------------------

    def _terminal_columns(self, environ: Mapping[str, str]) -> Callable[[], int]:
        def columns() -> int:
            try:
                size = os.get_terminal_size(self._stream.fileno()).columns
            except (AttributeError, OSError, ValueError):
                size = 0
            if size > 0:
                return size
            # No size known (a pipe, a pseudo-terminal nobody sized): $COLUMNS, else 80.
            text = environ.get("COLUMNS", "")
            return (
                int(text)
                if text.isascii() and text.isdigit() and int(text) > 0
                else DEFAULT_COLUMNS
            )

        return columns

    def _watch_resize(self) -> None:
        resized = Waker()

        def on_winch(_signum: int, _frame: FrameType | None) -> None:
            # Runs in the main thread between two bytecodes of whatever it interrupted,
            # which may hold any lock: a byte on a socket pair takes none. (Not
            # signal.set_wakeup_fd: a process has one, and the agent's loop uses it.)
            resized.wake()

        try:
            self._previous_winch = signal.signal(signal.SIGWINCH, on_winch)
        except ValueError:  # not the main thread: the next show() fits the new width
            resized.close()
            return
        self._resized = resized
        threading.Thread(
            target=self._redraw_on_resize, args=(resized,), name="terminal-resize", daemon=True
        ).start()

    def _redraw_on_resize(self, resized: Waker) -> None:
        # The socket pair stays open: a SIGWINCH may come before close() hands the
        # handler back, and the pair closes itself when the display is collected.
        while True:
            resized.wait(None)
            with self._lock:
                if self._closed:
                    return
                if self._row_drawn and self._shown is not None:
                    with contextlib.suppress(DisplayError):
                        self._write("\r" + ERASE_DOWN + self._row(*self._shown) + self._home())


def _text(segments: Sequence[Segment]) -> str:
    return "".join(text for _, text in segments)


class LogAbove(logging.Handler):
    """Writes log records to `stream` (stderr) above a TerminalDisplay's LED row."""

    def __init__(self, display: TerminalDisplay, stream: TextIO | None = None) -> None:
        super().__init__()
        self._display = display
        self._stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self._stream or sys.stderr
            with self._display.above():
                stream.write(self.format(record) + "\n")
                stream.flush()
        except Exception:
            self.handleError(record)

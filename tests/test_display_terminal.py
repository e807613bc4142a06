"""TerminalDisplay: one LED row redrawn in place on a terminal, plain lines otherwise.

These tests read what the display writes; tests/test_demo.py reads what a real
terminal (tmux) then shows.
"""

import io
import logging
import os
import re
import signal
import threading
import time

import pytest

from blinkt_agent import config, mapping
from blinkt_agent.displays import close, open_display
from blinkt_agent.displays.terminal import (
    ERASE_DOWN,
    LogAbove,
    TerminalDisplay,
    colour_letter,
    colour_name,
    fit,
)
from blinkt_agent.errors import DisplayError
from blinkt_agent.frame import DARK, Pixel, make_frame
from blinkt_agent.layout.strip import bar_colours
from tests.lock_probe import locks_taken

GREEN = make_frame([Pixel(0, 255, 0, 1.0), Pixel(0, 0, 255, 0.0)])
RED = make_frame([Pixel(255, 0, 0, 0.2)])
BAR = make_frame([Pixel(0, 255, 0, 0.5), Pixel(0, 255, 0, 0.5), Pixel(255, 100, 0, 0.2)])
SGR = re.compile(r"\x1b\[[0-9;]*m")
ANY_ESCAPE = re.compile(r"\x1b")
XTERM = {"TERM": "xterm-256color"}


class FakeTty(io.StringIO):
    def isatty(self):
        return True


def tty_display(columns=80, environ=None, **kw):
    stream = FakeTty()
    display = TerminalDisplay(
        stream, environ=XTERM if environ is None else environ, columns=lambda: columns,
        watch_resize=False, **kw,
    )  # fmt: skip
    return stream, display


def visible(text: str) -> str:
    """What the text shows once colours are dropped."""
    return SGR.sub("", text)


def last_row(text: str) -> str:
    """The row a terminal shows last: after the last erase-down."""
    return visible(text.rsplit(ERASE_DOWN, 1)[-1]).strip("\r\n")


# --- on a terminal with cursor control -----------------------------------------------


def test_one_row_redrawn_in_place_with_the_cursor_left_at_its_start():
    stream, display = tty_display()
    display.show(GREEN)
    display.show(RED)
    out = stream.getvalue()
    assert "\n" not in out
    assert out.count("\r" + ERASE_DOWN) == 2 and out.endswith("\r")
    assert "\x1b[38;2;0;255;0m" in out  # 24-bit colour


def test_the_caption_is_cut_to_the_terminal_width():
    stream, display = tty_display(columns=40)
    display.set_caption("node pi-01: 10 allocations (6 pending, 4 running) via 127.0.0.1:4646")
    display.show(GREEN)
    row = last_row(stream.getvalue())
    assert len(row) == 39 and row.endswith("\u2026")  # one column short of the edge
    assert row.startswith("\u25cf " + " ".join(["\u00b7"] * 7) + "  node pi-01: 10 alloc")


def test_a_narrower_terminal_is_followed_at_the_next_draw():
    width = [80]
    stream = FakeTty()
    display = TerminalDisplay(stream, environ=XTERM, columns=lambda: width[0], watch_resize=False)
    display.set_caption("x" * 100)
    display.show(GREEN)
    assert len(last_row(stream.getvalue())) == 79
    width[0] = 30
    display.show(RED)
    assert len(last_row(stream.getvalue())) == 29


def test_sigwinch_redraws_the_row_at_the_new_width():
    width = [80]
    stream = FakeTty()
    display = TerminalDisplay(stream, environ=XTERM, columns=lambda: width[0])
    try:
        display.set_caption("y" * 100)
        display.show(GREEN)
        width[0] = 50
        os.kill(os.getpid(), signal.SIGWINCH)
        deadline = time.monotonic() + 5
        while len(last_row(stream.getvalue())) != 49 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(last_row(stream.getvalue())) == 49
    finally:
        close(display)
    assert signal.getsignal(signal.SIGWINCH) in (signal.SIG_DFL, None)  # handed back on close


def test_close_clears_the_caption_and_ends_the_line_once():
    stream, display = tty_display()
    display.set_caption("node pi-01: 1 allocation")
    display.show(RED)
    close(display)
    close(display)
    out = stream.getvalue()
    assert out.endswith("\n") and out.count("\n") == 1
    assert last_row(out) == " ".join(["\u00b7"] * 8)  # dark, no status text


def test_release_leaves_the_frame_and_caption_on_screen_and_ends_the_line():
    stream, display = tty_display(columns=80)
    display.set_caption("Nomad unreachable")
    display.show(RED)
    display.release()
    display.release()
    out = stream.getvalue()
    assert out.endswith("\n") and out.count("\n") == 1
    assert last_row(out).endswith("Nomad unreachable")


def test_a_note_goes_above_and_the_row_is_drawn_again_below_it():
    stream, display = tty_display()
    display.show(GREEN)
    display.note("[  1.5 s] web[0] is running")
    out = stream.getvalue()
    note_at = out.index("[  1.5 s] web[0] is running\n")
    assert out.rindex("\x1b[38;2;0;255;0m") > note_at and out.count("\x1b[38;2;0;255;0m") == 2
    assert out.endswith("\r")


def test_notes_are_cut_to_one_row():
    stream, display = tty_display(columns=20)
    display.note("a story step far longer than twenty columns\nwith a line break")
    (line,) = stream.getvalue().splitlines()
    assert len(line) == 19 and line.endswith("\u2026")


def test_log_lines_from_any_thread_go_above_the_row():
    stream, display = tty_display()
    display.set_caption("node pi-01: no allocations")
    display.show(GREEN)
    logger = logging.getLogger("test_display_terminal")
    handler = LogAbove(display, stream=stream)
    logger.addHandler(handler)
    try:
        thread = threading.Thread(target=logger.warning, args=("Nomad is slow",))
        thread.start()
        thread.join()
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    before, after = out.split("Nomad is slow\n")
    assert before.endswith("\r" + ERASE_DOWN)  # the row was lifted first
    assert visible(after).endswith("node pi-01: no allocations\r")  # and drawn again


def test_the_legend_keeps_what_fits_and_always_the_stop_hint():
    palette = mapping.Palette.default()
    entries = [(state, palette.colour(state)) for state in ("running", "pending", "failed")]
    stream, display = tty_display(columns=40)
    display.legend(entries, tail="Ctrl-C to stop")
    line = visible(stream.getvalue()).strip()
    assert line == "\u25cf running  \u25cf pending   Ctrl-C to stop"
    assert "\x1b[38;2;0;255;0m\u25cf" in stream.getvalue()


# --- NO_COLOR, TERM=dumb, and no terminal at all ---------------------------------------


def test_no_color_draws_letters_without_any_colour_escape():
    stream, display = tty_display(environ={"TERM": "xterm", "NO_COLOR": "1"})
    display.legend([("running", (0, 255, 0))], tail="Ctrl-C to stop")
    display.show(BAR)
    out = stream.getvalue()
    assert not SGR.search(out) and ERASE_DOWN in out  # cursor control, no colour
    assert last_row(out).startswith("G G a " + " ".join(["\u00b7"] * 5))  # dim: lower case
    assert "G running   Ctrl-C to stop\n" in out


def test_an_empty_no_color_does_not_count():
    stream, display = tty_display(environ={"TERM": "xterm", "NO_COLOR": ""})
    display.show(GREEN)
    assert SGR.search(stream.getvalue())


def test_term_dumb_gets_plain_lines_without_any_escape():
    stream, display = tty_display(columns=30, environ={"TERM": "dumb"})
    display.set_caption("node pi-01: 3 allocations (3 running) via 127.0.0.1:4646")
    display.show(GREEN)
    display.note("Nomad is back")
    display.show(RED)
    close(display)
    out = stream.getvalue()
    assert not ANY_ESCAPE.search(out) and "\r" not in out
    lines = out.splitlines()
    assert lines[0].startswith("G " + " ".join(["\u00b7"] * 7) + "  node") and len(lines[0]) == 29
    assert lines[1] == "Nomad is back"
    assert lines[-1] == " ".join(["\u00b7"] * 8)
    assert len(lines) == 4


def test_plain_stream_gets_one_line_per_changed_frame_in_hex():
    stream = io.StringIO()
    display = TerminalDisplay(stream)
    for frame in (GREEN, GREEN, RED):
        display.show(frame)
    assert stream.getvalue().splitlines() == [
        "00ff00@1.00" + " off" * 7,
        "ff0000@0.20" + " off" * 7,
    ]


def test_plain_stream_keeps_the_whole_caption():
    stream = io.StringIO()
    display = TerminalDisplay(stream)
    display.set_caption(" ".join(["step 2: a job is stopping"] * 5))
    display.show(GREEN)
    assert stream.getvalue().rstrip("\n").endswith("step 2: a job is stopping")


def test_close_on_a_plain_stream_prints_the_dark_frame_without_the_caption():
    stream = io.StringIO()
    display = open_display(config.defaults(), "terminal", stream=stream)
    assert isinstance(display, TerminalDisplay)
    display.set_caption("node pi-01")
    display.show(RED)
    close(display)
    assert stream.getvalue().splitlines()[-1] == " ".join(["off"] * 8)


def test_a_stream_that_cannot_take_dots_gets_ascii():
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    stream.isatty = lambda: True
    display = TerminalDisplay(stream, environ={"TERM": "xterm", "NO_COLOR": "1"},
                              columns=lambda: 20, watch_resize=False)  # fmt: skip
    display.set_caption("a caption longer than the terminal")
    display.show(GREEN)
    stream.flush()
    assert raw.getvalue().decode("ascii").endswith("G . . . . . . . ...\r")


def test_a_closed_stream_is_a_display_error():
    stream, display = tty_display()
    stream.close()
    with pytest.raises(DisplayError, match=r"^display = terminal: cannot write"):
        display.show(GREEN)


# --- naming colours and cutting text ----------------------------------------------------


def test_every_default_colour_has_its_own_letter():
    palette = mapping.Palette.default()
    states = ("pending", "running", "stopping", "failed", "lost", "unknown", "overflow")
    names = {state: colour_name(palette.colour(state)) for state in states}
    assert names == {"pending": "blue", "running": "green", "stopping": "amber", "failed": "red",
                     "lost": "magenta", "unknown": "white", "overflow": "cyan"}  # fmt: skip
    assert len({colour_letter(palette.colour(state)) for state in states}) == len(states)


def test_a_resource_bar_reads_green_to_red():
    assert colour_letter(bar_colours(8)[0]) == "G"
    assert colour_letter(bar_colours(8)[-1]) == "R"
    assert colour_name((0, 60, 0)) == "green" and colour_name((0, 0, 0)) == "off"


def test_fit_counts_wide_characters_as_two_columns():
    assert fit([(None, "ab漢字cd")], 5) == [(None, "ab漢"), (None, "\u2026")]
    assert fit([(None, "abc")], 3) == [(None, "abc")]


def test_dark_frame_in_colour_is_grey_dots():
    stream, display = tty_display()
    display.show(DARK)
    assert stream.getvalue().count("\u00b7") == 8 and "\x1b[38;2;80;80;80m" in stream.getvalue()


def test_the_sigwinch_handler_takes_no_lock():
    # The main thread may be inside the very lock a handler asks for (it was in
    # Event.set() on the resize event): the handler must only wake the redraw.
    assert locks_taken(threading.Lock().acquire), "the probe sees a lock being taken"
    width = [80]
    stream = FakeTty()
    display = TerminalDisplay(stream, environ=XTERM, columns=lambda: width[0])
    try:
        display.set_caption("z" * 100)
        display.show(GREEN)
        handler = signal.getsignal(signal.SIGWINCH)
        assert callable(handler)
        width[0] = 40
        assert locks_taken(lambda: handler(signal.SIGWINCH, None)) == []
        deadline = time.monotonic() + 5  # and it still redraws at the new width
        while len(last_row(stream.getvalue())) != 39 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(last_row(stream.getvalue())) == 39
    finally:
        close(display)

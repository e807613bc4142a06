"""TerminalDisplay: in-place coloured line on a TTY, one plain line per change otherwise."""

import io
import re

from blinkt_agent.displays import make_display
from blinkt_agent.displays.terminal import TerminalDisplay
from blinkt_agent.frame import Pixel, make_frame

GREEN = make_frame([Pixel(0, 255, 0, 1.0), Pixel(0, 0, 255, 0.0)])
RED = make_frame([Pixel(255, 0, 0, 0.2)])


class FakeTty(io.StringIO):
    def isatty(self):
        return True


def test_plain_stream_gets_one_line_per_changed_frame():
    stream = io.StringIO()
    display = TerminalDisplay(stream)
    for frame in (GREEN, GREEN, RED):
        display.show(frame)
    assert stream.getvalue().splitlines() == [
        "00ff00@1.00" + " off" * 7,
        "ff0000@0.20" + " off" * 7,
    ]


def test_tty_redraws_the_same_line_in_24_bit_colour():
    stream = FakeTty()
    display = TerminalDisplay(stream)
    display.show(GREEN)
    display.show(RED)
    assert "\n" not in stream.getvalue()
    assert stream.getvalue().count("\r\x1b[2K") == 2
    assert "\x1b[38;2;0;255;0m" in stream.getvalue()


def test_dim_led_stays_visible_on_a_tty():
    stream = FakeTty()
    TerminalDisplay(stream).show(make_frame([Pixel(255, 0, 0, 0.03)]))
    red = int(re.search(r"\x1b\[38;2;(\d+);0;0m", stream.getvalue()).group(1))
    assert 0.35 * 255 <= red < 255


def test_caption_follows_the_leds_and_a_new_caption_redraws():
    stream = io.StringIO()
    display = TerminalDisplay(stream)
    display.show(GREEN)
    display.set_caption("step 2: a job is stopping")
    display.show(GREEN)
    assert stream.getvalue().splitlines()[-1].endswith("off  step 2: a job is stopping")


def test_close_shows_dark_and_ends_the_line_once():
    stream = FakeTty()
    display = make_display("terminal", stream=stream)
    display.show(RED)
    display.close()
    display.close()
    assert stream.getvalue().endswith("\n") and stream.getvalue().count("\n") == 1
    assert stream.getvalue().count("\u25cf") == 1


def test_close_on_a_plain_stream_prints_the_dark_frame():
    stream = io.StringIO()
    display = TerminalDisplay(stream)
    display.show(RED)
    display.close()
    assert stream.getvalue().splitlines()[-1] == " ".join(["off"] * 8)


def test_note_scrolls_above_the_led_line_on_a_tty():
    stream = FakeTty()
    display = TerminalDisplay(stream)
    display.show(GREEN)
    display.note("web[0] is running")
    out = stream.getvalue()
    note_at = out.index("web[0] is running\n")
    assert out.count("\x1b[38;2;0;255;0m") == 2  # the LED line, drawn again below the note
    assert out.rindex("\x1b[38;2;0;255;0m") > note_at


def test_note_is_a_plain_line_otherwise():
    stream = io.StringIO()
    TerminalDisplay(stream).note("Nomad is back")
    assert stream.getvalue() == "Nomad is back\n"

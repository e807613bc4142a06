"""The README's picture tool reads tmux's colour capture and draws what it says."""

from pathlib import Path

import pytest

from tools import ansi_png
from tools.ansi_png import BACKGROUND, FOREGROUND, Style

ROOT = Path(__file__).resolve().parents[1]
LIT = "\u25cf"
needs_font = pytest.mark.skipif(
    not ansi_png.DEFAULT_FONT.is_file(), reason="no DejaVu Sans Mono: apt install fonts-dejavu-core"
)


def test_sgr_24bit_256_and_basic_colours_reset_and_attributes():
    style = ansi_png.apply_sgr(Style(), "38;2;0;172;0")
    assert style.fg == (0, 172, 0)
    style = ansi_png.apply_sgr(style, "1;48;5;196")
    assert style.bold and style.bg == (255, 0, 0) and style.fg == (0, 172, 0)
    assert ansi_png.apply_sgr(style, "39").fg is None
    assert ansi_png.apply_sgr(style, "").fg is None  # ESC[m = reset
    assert ansi_png.apply_sgr(Style(), "31").fg == (205, 0, 0)
    assert ansi_png.apply_sgr(Style(), "94").fg == (92, 92, 255)
    assert ansi_png.apply_sgr(Style(), "38;5;244").fg == (128, 128, 128)
    assert ansi_png.apply_sgr(Style(), "38:2:1:2:3").fg == (1, 2, 3)  # colon form
    assert ansi_png.apply_sgr(Style(), "38;2;1").fg is None  # truncated: ignored


def test_parse_keeps_characters_and_their_colours_and_drops_blank_tail():
    capture = "title\n\x1b[38;2;0;255;0m\u25cf \x1b[38;2;80;80;80m\u00b7\x1b[39m  ok\n\n\n"
    rows = ansi_png.parse(capture)
    assert ansi_png.plain_text(rows) == f"title\n{LIT} \u00b7  ok"
    assert rows[1][0].style.fg == (0, 255, 0)
    assert rows[1][2].style.fg == (80, 80, 80)
    assert rows[1][3].style.fg is None


def test_style_carries_over_a_line_end_as_tmux_writes_it():
    rows = ansi_png.parse("\x1b[31mred\nstill red\x1b[0m plain")
    assert rows[1][0].style.fg == (205, 0, 0)
    assert rows[1][-1].style.fg is None


def test_reverse_and_dim():
    assert ansi_png.colours_of(Style(reverse=True)) == (BACKGROUND, FOREGROUND)
    fg, _ = ansi_png.colours_of(Style(fg=(255, 255, 255), dim=True))
    assert fg == (170, 170, 170)


@needs_font
def test_render_draws_each_cell_in_its_colour_on_an_80_column_canvas():
    pytest.importorskip("PIL")
    capture = "\x1b[38;2;0;255;0m" + "\u2588" * 3 + "\x1b[0m  \x1b[38;2;255;0;0m\u2588\x1b[0m"
    image = ansi_png.render(ansi_png.parse(capture), columns=80)
    cell = round((image.width - 2 * ansi_png.PADDING) / 80)
    row_middle = ansi_png.PADDING + 10

    def at(column):
        return image.getpixel((ansi_png.PADDING + column * cell + cell // 2, row_middle))

    assert at(0) == at(2) == (0, 255, 0)
    assert at(3) == BACKGROUND
    assert at(5) == (255, 0, 0)
    assert image.width == 2 * ansi_png.PADDING + 80 * cell


@needs_font
def test_committed_picture_is_the_committed_capture_rendered():
    """docs/demo.png comes from docs/demo.ansi (tools/demo-screenshot.sh), 80 columns wide."""
    pil = pytest.importorskip("PIL.Image")
    capture = (ROOT / "docs" / "demo.ansi").read_text(encoding="utf-8")
    rows = ansi_png.parse(capture)
    assert "\x1b[38;2;" in capture and LIT in ansi_png.plain_text(rows)  # real colours, LEDs
    with pil.open(ROOT / "docs" / "demo.png") as picture:
        expected = ansi_png.render(rows, columns=80)
        assert picture.size == expected.size

"""Render a terminal capture with ANSI colours (`tmux capture-pane -e -p`) to a PNG.

    python -m tools.ansi_png CAPTURE.ansi OUT.png [--font PATH] [--size PX]

The capture is parsed into a grid of cells (character, colours, bold) by
`parse`, which knows the SGR sequences tmux writes (16, 256 and 24-bit
colours, bold, dim, reverse); `render` draws the grid with a monospaced font
(DejaVu Sans Mono from Debian's fonts-dejavu-core by default). Trailing blank
rows are cut so the picture is as tall as what the terminal showed.
Needs Pillow (the `docs` extra); the agent itself never imports this.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

RGB = tuple[int, int, int]

DEFAULT_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
BOLD_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf")
BACKGROUND: RGB = (24, 24, 27)
FOREGROUND: RGB = (212, 212, 216)
PADDING = 14

# xterm's 16 colours (normal, then bright).
BASIC: tuple[RGB, ...] = (
    (0, 0, 0),
    (205, 0, 0),
    (0, 205, 0),
    (205, 205, 0),
    (0, 0, 238),
    (205, 0, 205),
    (0, 205, 205),
    (229, 229, 229),
    (127, 127, 127),
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (92, 92, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 255),
)

_ESCAPE = re.compile(r"\x1b\[([0-9;:]*)([A-Za-z])|\x1b[()][0-9A-Za-z]|\x1b.")


@dataclass(frozen=True)
class Style:
    fg: RGB | None = None  # None: the terminal's default colour
    bg: RGB | None = None
    bold: bool = False
    dim: bool = False
    reverse: bool = False


@dataclass(frozen=True)
class Cell:
    char: str
    style: Style
    wide: bool = False  # takes two columns (East Asian wide or fullwidth)


def colour_256(n: int) -> RGB:
    """xterm's 256-colour palette: 16 basic, a 6x6x6 cube, 24 greys."""
    if n < 16:
        return BASIC[n]
    if n < 232:
        n -= 16
        levels = (0, 95, 135, 175, 215, 255)
        return levels[n // 36], levels[n // 6 % 6], levels[n % 6]
    grey = 8 + 10 * (n - 232)
    return grey, grey, grey


def _extended(params: list[int], i: int) -> tuple[RGB | None, int]:
    """38/48 ; 5 ; n  or  38/48 ; 2 ; r ; g ; b → (colour, params consumed after 38/48)."""
    if i + 1 < len(params) and params[i + 1] == 5 and i + 2 < len(params):
        return colour_256(params[i + 2] % 256), 2
    if i + 1 < len(params) and params[i + 1] == 2 and i + 4 < len(params):
        r, g, b = (min(255, v) for v in params[i + 2 : i + 5])
        return (r, g, b), 4
    return None, len(params)  # malformed: ignore the rest


def apply_sgr(style: Style, text: str) -> Style:
    """The style after one SGR sequence's parameters (`1;38;2;0;255;0`)."""
    params = [int(p) if p else 0 for p in re.split(r"[;:]", text)] if text else [0]
    i = 0
    while i < len(params):
        p = params[i]
        if p == 0:
            style = Style()
        elif p == 1:
            style = replace(style, bold=True)
        elif p == 2:
            style = replace(style, dim=True)
        elif p == 22:
            style = replace(style, bold=False, dim=False)
        elif p == 7:
            style = replace(style, reverse=True)
        elif p == 27:
            style = replace(style, reverse=False)
        elif 30 <= p <= 37:
            style = replace(style, fg=BASIC[p - 30])
        elif 90 <= p <= 97:
            style = replace(style, fg=BASIC[p - 90 + 8])
        elif 40 <= p <= 47:
            style = replace(style, bg=BASIC[p - 40])
        elif 100 <= p <= 107:
            style = replace(style, bg=BASIC[p - 100 + 8])
        elif p == 39:
            style = replace(style, fg=None)
        elif p == 49:
            style = replace(style, bg=None)
        elif p in (38, 48):
            colour, used = _extended(params, i)
            if colour is not None:
                style = replace(style, fg=colour) if p == 38 else replace(style, bg=colour)
            i += used
        i += 1
    return style


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def parse(capture: str) -> list[list[Cell]]:
    """Rows of cells; the style carries over line ends, as in tmux's output."""
    rows: list[list[Cell]] = []
    style = Style()
    for line in capture.split("\n"):
        row: list[Cell] = []
        pos = 0
        for match in _ESCAPE.finditer(line):
            row.extend(_cells(line[pos : match.start()], style))
            if match.group(2) == "m":
                style = apply_sgr(style, match.group(1))
            pos = match.end()
        row.extend(_cells(line[pos:], style))
        rows.append(row)
    while rows and not "".join(c.char for c in rows[-1]).strip():
        rows.pop()
    return rows


def _cells(text: str, style: Style) -> list[Cell]:
    return [
        Cell(char, style, _is_wide(char))
        for char in text
        if char.isprintable() and unicodedata.category(char) != "Mn"
    ]


def plain_text(rows: list[list[Cell]]) -> str:
    """The capture without its escapes, for tests and alt text."""
    return "\n".join("".join(cell.char for cell in row).rstrip() for row in rows)


def colours_of(style: Style) -> tuple[RGB, RGB]:
    """(foreground, background) as drawn: reverse swaps, dim darkens."""
    fg, bg = style.fg or FOREGROUND, style.bg or BACKGROUND
    if style.reverse:
        fg, bg = bg, fg
    if style.dim:
        fg = (fg[0] * 2 // 3, fg[1] * 2 // 3, fg[2] * 2 // 3)
    return fg, bg


def render(rows: list[list[Cell]], columns: int, font_path: Path | None = None, size: int = 16):
    """The grid as a Pillow image, `columns` cells wide (the terminal's width)."""
    from PIL import Image, ImageDraw, ImageFont

    regular = _font(ImageFont, font_path or DEFAULT_FONT, size)
    bold = _font(ImageFont, BOLD_FONT, size) if font_path is None and BOLD_FONT.is_file() else None
    cell_w = round(regular.getlength("M"))
    ascent, descent = regular.getmetrics()
    cell_h = ascent + descent + 2
    width = 2 * PADDING + columns * cell_w
    height = 2 * PADDING + max(1, len(rows)) * cell_h
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for y, row in enumerate(rows):
        x = 0
        for cell in row:
            span = 2 if cell.wide else 1
            if x + span > columns:
                break
            fg, bg = colours_of(cell.style)
            box = (PADDING + x * cell_w, PADDING + y * cell_h)
            if bg != BACKGROUND:
                draw.rectangle((*box, box[0] + span * cell_w - 1, box[1] + cell_h - 1), fill=bg)
            font = bold if cell.style.bold and bold else regular
            draw.text((box[0], box[1] + 1), cell.char, font=font, fill=fg)
            x += span
    return image


def _font(image_font, path: Path, size: int):
    if not path.is_file():
        raise SystemExit(f"ansi_png: font {path} not found: apt install fonts-dejavu-core")
    return image_font.truetype(str(path), size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.ansi_png", description=__doc__)
    parser.add_argument("capture", type=Path, help="output of tmux capture-pane -e -p")
    parser.add_argument("png", type=Path)
    parser.add_argument("--columns", type=int, default=80, help="the terminal's width")
    parser.add_argument("--font", type=Path, help=f"monospaced TTF (default {DEFAULT_FONT})")
    parser.add_argument("--size", type=int, default=16, help="font size in pixels")
    args = parser.parse_args(argv)
    rows = parse(args.capture.read_text(encoding="utf-8"))
    render(rows, args.columns, args.font, args.size).save(args.png, optimize=True)
    print(f"{args.png}: {args.columns}x{len(rows)} cells", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A WxH matrix (Unicorn HAT HD 16x16, Unicorn HAT Mini 17x7).

- items (allocations): a block per workload, as large as lets them all fit (3x3, 2x2,
  then single pixels), left to right, top to bottom, a dark gap between blocks.
- cluster (nodes): a column group per node, by name: its top row in the node's look,
  below it one pixel per workload in its state colour, column by column.
- bar (cpu, memory, …): the strip's bar across the columns, each column full height.
- status: the strip pattern of the matrix's width, in every row.
Whatever does not fit ends in the overflow colour: a group's last pixel for its node's
workloads, the last column for nodes beyond the width, the last block for workloads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from blinkt_agent.frame import OFF, Frame, Pixel, Shape, make_frame
from blinkt_agent.layout import Column, Look, overflowing, strip

if TYPE_CHECKING:
    from blinkt_agent.mapping import Palette

BLOCK_SIZES = (3, 2, 1)  # a block bigger than 3x3 says nothing more


class _Canvas:
    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.pixels = [OFF] * shape.size

    def put(self, x: int, y: int, pixel: Pixel) -> None:
        self.pixels[y * self.shape.width + x] = pixel

    def frame(self) -> Frame:
        return make_frame(self.pixels, self.shape)


def block_size(count: int, shape: Shape) -> int:
    """The largest block (BLOCK_SIZES) of which `count` fit, with gaps; 1 if none do."""
    for size in BLOCK_SIZES:
        if cells(size, shape) >= count:
            return size
    return 1


def cells(size: int, shape: Shape) -> int:
    pitch = size + 1 if size > 1 else 1
    return ((shape.width + pitch - size) // pitch) * ((shape.height + pitch - size) // pitch)


def items(looks: Sequence[Look], shape: Shape, palette: Palette, brightness: float) -> Frame:
    size = block_size(len(looks), shape)
    pitch = size + 1 if size > 1 else 1
    per_row = (shape.width + pitch - size) // pitch
    canvas = _Canvas(shape)
    for n, look in enumerate(overflowing(looks, cells(size, shape))):
        left, top = n % per_row * pitch, n // per_row * pitch
        pixel = Pixel(*palette.colour(look.key), brightness * look.share)
        for y in range(top, top + size):
            for x in range(left, left + size):
                canvas.put(x, y, pixel)
    return canvas.frame()


def group_width(nodes: int, width: int) -> tuple[int, int]:
    """(columns per node, gap between groups): gaps while they fit, one column at least."""
    if nodes <= 1:
        return width, 0
    with_gaps = (width - (nodes - 1)) // nodes
    if with_gaps >= 1:
        return with_gaps, 1
    return max(1, width // nodes), 0


def cluster(columns: Sequence[Column], shape: Shape, palette: Palette, brightness: float) -> Frame:
    if shape.height < 2:  # no room below the nodes' own row
        return strip.cluster(columns, Shape.strip(shape.width), palette, brightness)
    canvas = _Canvas(shape)
    if not columns:
        return canvas.frame()
    groups: list[Column] = list(columns)
    if len(groups) > shape.width:  # one column each is too many: the last says "and more"
        overflow = Column(Look("overflow"), ())
        groups = [*groups[: shape.width - 1], overflow]
    width, gap = group_width(len(groups), shape.width)
    room = width * (shape.height - 1)

    def pixel(look: Look) -> Pixel:
        return Pixel(*palette.colour(look.key), brightness * look.share)

    for g, group in enumerate(groups):
        left = g * (width + gap)
        for x in range(left, left + width):
            canvas.put(x, 0, pixel(group.node))
        if group.node.key == "overflow":
            for y in range(1, shape.height):
                canvas.put(left, y, pixel(group.node))
            continue
        for n, look in enumerate(overflowing(group.workloads, room)):
            canvas.put(left + n // (shape.height - 1), 1 + n % (shape.height - 1), pixel(look))
    return canvas.frame()


def bar(share: float | None, shape: Shape, brightness: float) -> Frame:
    row = strip.bar(share, Shape.strip(shape.width), brightness)
    return make_frame(row * shape.height, shape)


def status(kind: str, shape: Shape, brightness: float) -> Frame:
    row = strip.status(kind, Shape.strip(shape.width), brightness)
    return make_frame(row * shape.height, shape)

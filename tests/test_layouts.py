"""Where things go on each shape (blinkt_agent.layout): strips of any length, matrices,
the traffic light. Pure: frames from looks, shares and statuses."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blinkt_agent import mapping
from blinkt_agent.displays import DISPLAYS
from blinkt_agent.frame import OFF, SIGNAL, Pixel, Shape
from blinkt_agent.layout import STATUS_KINDS, Column, Look, layout_for, matrix, signal, strip
from blinkt_agent.snapshot import STATES, Node, Workload

PALETTE = mapping.Palette.default()
NOW = 1_700_000_000 * 10**9
HD, MINI = Shape.matrix(16, 16), Shape.matrix(17, 7)
SHAPES = {name: kind.shape for name, kind in DISPLAYS.items()} | {
    "nano": Shape.strip(2),
    "single": Shape.strip(1),
    "flex": Shape.strip(32),
}


def colour(key):
    return PALETTE.colour(key)


def lit(frame, shape):
    """{(x, y): (r, g, b)} of the lit pixels."""
    return {
        (i % shape.width, i // shape.width): (p.r, p.g, p.b)
        for i, p in enumerate(frame)
        if not p.is_off
    }


def looks(*keys):
    return [Look(key) for key in keys]


# -- strips of any length ---------------------------------------------------------------------


def test_a_nano_shows_two_workloads_or_one_and_the_overflow_marker():
    nano = Shape.strip(2)
    two = strip.items(looks("running", "failed"), nano, PALETTE, 1.0)
    three = strip.items(looks("running", "failed", "pending"), nano, PALETTE, 1.0)
    assert [(p.r, p.g, p.b) for p in two] == [colour("running"), colour("failed")]
    assert [(p.r, p.g, p.b) for p in three] == [colour("running"), colour("overflow")]


def test_a_32_led_flex_shows_32_workloads_before_it_overflows():
    flex = Shape.strip(32)
    full = strip.items(looks(*["running"] * 32), flex, PALETTE, 1.0)
    over = strip.items(looks(*["running"] * 33), flex, PALETTE, 1.0)
    assert all(not p.is_off for p in full) and (full[-1].r, full[-1].g) == colour("running")[:2]
    assert (over[-1].r, over[-1].g, over[-1].b) == colour("overflow")


@pytest.mark.parametrize("leds", [1, 2, 3, 8, 32])
def test_every_status_pattern_lights_something_and_differs_from_the_others(leds):
    frames = {kind: strip.status(kind, Shape.strip(leds), 0.5) for kind in STATUS_KINDS}
    assert all(any(not p.is_off for p in f) for f in frames.values())
    assert len(set(frames.values())) == len(STATUS_KINDS)


def test_the_blinkt_status_patterns_are_the_documented_leds():
    assert strip.status_leds("no_data", 8) == (0, 7)
    assert strip.status_leds("unreachable", 8) == (0, 2, 4, 6)
    assert strip.status_leds("denied", 8) == (1, 3, 5, 7)
    assert strip.status_leds("node_gone", 8) == (3, 4)


@pytest.mark.parametrize("leds", [1, 2, 8, 32])
def test_a_bar_on_any_strip_lights_its_share_and_goes_red_when_over(leds):
    shape = Shape.strip(leds)
    half = strip.bar(0.5, shape, 1.0)
    assert sum(p.brightness for p in half) == pytest.approx(leds / 2)
    assert all((p.r, p.g, p.b) == (255, 0, 0) for p in strip.bar(1.5, shape, 1.0))


# -- matrices ---------------------------------------------------------------------------------


def test_a_few_workloads_are_three_by_three_blocks_with_gaps_top_left_first():
    frame = matrix.items(looks("running", "failed"), HD, PALETTE, 1.0)
    shown = lit(frame, HD)
    assert {xy for xy, c in shown.items() if c == colour("running")} == {
        (x, y) for x in range(3) for y in range(3)
    }
    assert {xy for xy, c in shown.items() if c == colour("failed")} == {
        (x, y) for x in range(4, 7) for y in range(3)
    }


def test_blocks_shrink_as_workloads_grow_and_single_pixels_overflow_honestly():
    assert matrix.block_size(16, HD) == 3
    assert matrix.block_size(17, HD) == 2
    assert matrix.block_size(26, HD) == 1
    frame = matrix.items(looks(*["running"] * 300), HD, PALETTE, 1.0)
    assert all(not p.is_off for p in frame)
    assert (frame[-1].r, frame[-1].g, frame[-1].b) == colour("overflow")


def test_mini_fits_eight_blocks_then_twelve_small_ones():
    assert matrix.cells(3, MINI) == 8 and matrix.cells(2, MINI) == 12


def node(name, state="ready", *states):
    workloads = tuple(
        Workload(id=f"{name}-{i}", name=f"w{i}", state=s, order=i) for i, s in enumerate(states)
    )
    return Node(name=name, state=state, workloads=workloads)


def test_nodes_on_a_matrix_are_column_groups_with_their_workloads_below():
    nodes = [node("pi-01", "ready", "running", "failed"), node("pi-02", "down")]
    frame = mapping.nodes_frame(nodes, NOW, PALETTE, 300, 1.0, MINI)
    shown = lit(frame, MINI)
    width, gap = matrix.group_width(2, MINI.width)
    assert (width, gap) == (8, 1)
    assert all(shown[(x, 0)] == colour("failed") for x in range(8))  # pi-01's worst
    assert shown[(0, 1)] == colour("running") and shown[(0, 2)] == colour("failed")
    assert all(shown[(x, 0)] == colour("lost") for x in range(9, 17))  # pi-02 down
    assert (8, 0) not in shown  # the gap


def test_a_nodes_workloads_beyond_its_group_end_in_the_overflow_colour():
    busy = node("pi-01", "ready", *["running"] * 200)
    frame = mapping.nodes_frame([busy], NOW, PALETTE, 300, 1.0, MINI)
    shown = lit(frame, MINI)
    assert len(shown) == MINI.size
    assert shown[(16, 6)] == colour("overflow")


def test_more_nodes_than_columns_end_in_an_overflow_column():
    nodes = [node(f"pi-{n:02}", "ready", "running") for n in range(20)]
    frame = mapping.nodes_frame(nodes, NOW, PALETTE, 300, 1.0, HD)
    shown = lit(frame, HD)
    assert all(shown[(15, y)] == colour("overflow") for y in range(HD.height))
    assert shown[(14, 0)] == colour("running")


def test_a_bar_on_a_matrix_fills_whole_columns_from_the_left():
    frame = matrix.bar(0.5, HD, 1.0)
    shown = lit(frame, HD)
    assert {x for x, _ in shown} == set(range(8)) and len(shown) == 8 * 16


# -- the traffic light ----------------------------------------------------------------------


def lights(frame):
    return tuple(
        name for name, p in zip(("red", "amber", "green"), frame, strict=True) if not p.is_off
    )


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ((), ("green",)),
        (("running", "running"), ("green",)),
        (("running", "pending"), ("amber",)),
        (("running", "stopping"), ("amber",)),
        (("running", "unknown"), ("amber",)),
        (("running", "pending", "failed"), ("red",)),
        (("lost",), ("red",)),
    ],
)
def test_the_traffic_light_shows_the_worst_state_as_one_light(keys, expected):
    assert lights(signal.items(looks(*keys), SIGNAL, PALETTE, 1.0)) == expected


def test_the_traffic_light_status_patterns_are_two_or_three_lights():
    assert lights(signal.status("no_data", SIGNAL, 1.0)) == ("amber", "green")
    assert lights(signal.status("unreachable", SIGNAL, 1.0)) == ("red", "amber")
    assert lights(signal.status("denied", SIGNAL, 1.0)) == ("red", "green")
    assert lights(signal.status("node_gone", SIGNAL, 1.0)) == ("red", "amber", "green")


def test_the_traffic_light_shows_its_own_colours_whatever_the_palette():
    palette = mapping.Palette.from_hex({"running": "#123456"})
    (green,) = [p for p in signal.items(looks("running"), SIGNAL, palette, 1.0) if not p.is_off]
    assert (green.r, green.g, green.b) == signal.LIGHT_COLOURS[signal.GREEN]


def test_a_down_node_makes_the_cluster_light_red():
    nodes = [node("pi-01", "ready", "running"), node("pi-02", "down")]
    assert lights(mapping.nodes_frame(nodes, NOW, PALETTE, 300, 1.0, SIGNAL)) == ("red",)


@pytest.mark.parametrize(("share", "expected"), [(0.2, "green"), (0.6, "amber"), (0.9, "red")])
def test_a_bar_on_the_traffic_light_is_one_light_by_threshold(share, expected):
    assert lights(signal.bar(share, SIGNAL, 1.0)) == (expected,)


# -- any shape, anything to show ------------------------------------------------------------

workloads = st.lists(st.sampled_from(STATES), max_size=300)
node_lists = st.lists(
    st.tuples(
        st.sampled_from(mapping.PALETTE_KEYS), st.lists(st.sampled_from(STATES), max_size=40)
    ),
    max_size=40,
)


@given(st.sampled_from(sorted(SHAPES)), workloads, node_lists, st.floats(0, 3))
def test_every_layout_gives_a_whole_frame_for_any_input(name, states, nodes, share):
    shape = SHAPES[name]
    layout = layout_for(shape)
    frames = [
        layout.items(looks(*states), shape, PALETTE, 0.5),
        layout.bar(share, shape, 0.5),
        layout.bar(None, shape, 0.5),
        *(layout.status(kind, shape, 0.5) for kind in STATUS_KINDS),
        layout.cluster(
            [Column(Look(state), tuple(looks(*ws))) for state, ws in nodes], shape, PALETTE, 0.5
        ),
    ]
    assert all(len(f) == shape.size and all(isinstance(p, Pixel) for p in f) for f in frames)


@given(st.sampled_from(sorted(SHAPES)), st.lists(st.sampled_from(STATES), min_size=1, max_size=300))
def test_something_is_always_lit_when_there_are_workloads(name, states):
    shape = SHAPES[name]
    frame = layout_for(shape).items(looks(*states), shape, PALETTE, 0.5)
    assert any(p != OFF for p in frame)

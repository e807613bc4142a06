"""Allocation states, their order on the LEDs, the overflow marker and status patterns.

Nomad's JSON goes through the Nomad source's normaliser, then the neutral mapping: the
helpers below keep each test about what a Nomad allocation looks like on the LEDs.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blinkt_agent import mapping
from blinkt_agent.errors import ConfigError
from blinkt_agent.frame import BLINKT, OFF, Pixel
from blinkt_agent.mapping import STATUS_KINDS, Palette, describe_counts, status_frame
from blinkt_agent.snapshot import STATES
from blinkt_agent.sources.nomad.normalise import workload_of, workloads_of

NOW = 1_700_000_000 * 10**9
LINGER = 300
PALETTE = Palette.default()


def alloc(client="running", desired="run", index=1, alloc_id="a", modified=NOW):
    return {
        "ID": alloc_id,
        "ClientStatus": client,
        "DesiredStatus": desired,
        "CreateIndex": index,
        "ModifyTime": modified,
    }


def running(count):
    return [alloc(index=i, alloc_id=f"id-{i:04d}") for i in range(count)]


def frame(allocs, brightness=0.5):
    return mapping.allocations_frame(workloads_of(allocs), NOW, PALETTE, LINGER, brightness)


def classify(allocation, now_ns, linger):
    """The state an allocation is shown in now, or None."""
    workload = workload_of(allocation)
    if workload is None or not mapping.shows(workload, now_ns, linger):
        return None
    return workload.state


def visible_allocations(allocs, now_ns, linger):
    return mapping.visible(workloads_of(allocs), now_ns, linger)


def summarize(allocs, now_ns, linger):
    return mapping.summarize(workloads_of(allocs), now_ns, linger)


def lit(frame):
    return [not pixel.is_off for pixel in frame]


# --- classify ------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["pending", "running"])
def test_pending_and_running_allocations_keep_their_client_status(client):
    assert classify(alloc(client), NOW, LINGER) == client


@pytest.mark.parametrize("client", ["pending", "running"])
@pytest.mark.parametrize("desired", ["stop", "evict"])
def test_allocation_told_to_stop_or_evict_is_stopping(client, desired):
    assert classify(alloc(client, desired), NOW, LINGER) == "stopping"


def test_complete_allocation_is_not_shown():
    assert classify(alloc("complete", "stop"), NOW, LINGER) is None


@pytest.mark.parametrize("client", ["failed", "lost"])
def test_ended_allocation_is_shown_until_linger_runs_out(client):
    ended = NOW - LINGER * 10**9
    assert classify(alloc(client, modified=ended), NOW, LINGER) == client
    assert classify(alloc(client, modified=ended - 1), NOW, LINGER) is None


def test_failed_allocation_without_modify_time_stays_shown():
    failed = {"ClientStatus": "failed", "DesiredStatus": "run"}
    assert classify(failed, NOW, LINGER) == "failed"


@pytest.mark.parametrize(
    "junk",
    [{}, {"ClientStatus": "paused"}, alloc("running", "hover"), alloc(client=7), "text", None, []],
)
def test_unrecognised_allocation_is_unknown(junk):
    assert classify(junk, NOW, LINGER) == "unknown"


def test_nomad_unknown_client_status_is_unknown():
    assert classify(alloc("unknown"), NOW, LINGER) == "unknown"


# --- order, frame, overflow ----------------------------------------------------------


def test_allocations_are_ordered_by_create_index_then_id():
    allocs = [alloc(index=5, alloc_id="b"), alloc(index=9), alloc(index=5, alloc_id="a")]
    ids = [(w.order, w.id) for w in visible_allocations(allocs, NOW, LINGER)]
    assert ids == [(5, "a"), (5, "b"), (9, "a")]


def test_allocation_without_create_index_goes_last():
    allocs = [{"ClientStatus": "running", "DesiredStatus": "run"}, alloc(index=3)]
    assert [w.state for w in visible_allocations(allocs, NOW, LINGER)] == ["running"] * 2
    assert visible_allocations(allocs, NOW, LINGER)[0].order == 3


def test_each_shown_allocation_lights_one_led_in_its_colour():
    allocs = [alloc(index=1), alloc("pending", index=2), alloc("complete", index=3)]
    assert frame(allocs, 0.25)[:3] == (Pixel(0, 255, 0, 0.25), Pixel(0, 0, 255, 0.25), OFF)
    assert lit(frame(allocs)) == [True, True] + [False] * 6


def test_eight_allocations_fill_the_bar_without_overflow_marker():
    assert frame(running(8))[-1] == Pixel(*PALETTE.running, 0.5)


def test_nine_allocations_show_seven_and_the_overflow_marker():
    shown = frame(running(9))
    assert shown[:7] == (Pixel(*PALETTE.running, 0.5),) * 7
    assert shown[7] == Pixel(*PALETTE.overflow, 0.5)


def test_no_allocations_is_dark():
    assert not any(lit(frame([])))


# --- summary -------------------------------------------------------------------------


def test_summarize_counts_shown_allocations_per_state():
    allocs = [*running(4), alloc("pending", alloc_id="p"), alloc("complete", alloc_id="c")]
    assert summarize(allocs, NOW, LINGER) == {
        **dict.fromkeys(STATES, 0),
        "running": 4,
        "pending": 1,
    }


def test_describe_counts_lists_the_biggest_state_first():
    counts = {"pending": 1, "running": 4}
    assert describe_counts(counts) == "5 allocations (4 running, 1 pending)"


def test_describe_counts_singular_and_none():
    assert describe_counts({"failed": 1}) == "1 allocation (1 failed)"
    assert describe_counts(dict.fromkeys(STATES, 0)) == "no allocations"


# --- palette -------------------------------------------------------------------------


def test_palette_from_hex_overrides_only_the_given_states():
    palette = Palette.from_hex({"running": "#10A0ff"})
    assert palette.running == (16, 160, 255)
    assert palette.failed == Palette.default().failed


@pytest.mark.parametrize("key, value", [("running", "green"), ("running", "#12345"), ("lost", 3)])
def test_palette_from_hex_rejects_a_bad_colour_naming_the_key(key, value):
    with pytest.raises(ValueError, match=rf"palette\.{key}"):
        Palette.from_hex({key: value})


def test_palette_from_hex_rejects_an_unknown_state_as_config_error():
    with pytest.raises(ConfigError, match=r"palette\.sleeping"):
        Palette.from_hex({"sleeping": "#000000"})


def test_default_palette_colours_are_all_different():
    colours = [PALETTE.colour(state) for state in STATES] + [PALETTE.overflow]
    assert len(set(colours)) == len(colours)


# --- status patterns -----------------------------------------------------------------


def test_status_frames_are_all_different():
    frames = {status_frame(kind, 0.3) for kind in STATUS_KINDS}
    assert len(frames) == len(STATUS_KINDS)


@pytest.mark.parametrize("kind", STATUS_KINDS)
def test_status_frame_is_never_a_run_of_leds_from_the_first(kind):
    pattern = lit(status_frame(kind, 0.3))
    assert pattern != sorted(pattern, reverse=True)


def test_unknown_status_kind_is_rejected():
    with pytest.raises(ValueError, match="sleeping"):
        status_frame("sleeping", 0.3)


# --- properties over junk JSON -------------------------------------------------------

json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
client_statuses = st.sampled_from(["pending", "running", "complete", "failed", "lost", "unknown"])
desired_statuses = st.sampled_from(["run", "stop", "evict"])
nomad_alloc = st.fixed_dictionaries(
    {},
    optional={
        "ID": st.text(max_size=4) | json_junk,
        "CreateIndex": st.integers(0, 50) | json_junk,
        "ModifyTime": st.integers(NOW - 10**12, NOW + 10**9) | json_junk,
        "ClientStatus": client_statuses | json_junk,
        "DesiredStatus": desired_statuses | json_junk,
    },
)
alloc_lists = st.lists(nomad_alloc | json_junk, max_size=30)
brightnesses = st.floats(0.0, 1.0)


def well_formed(count_range=(0, 20)):
    """Allocations with every field, unique CreateIndex, as Nomad sends them."""
    return st.lists(
        st.tuples(client_statuses, desired_statuses, st.integers(NOW - 10**12, NOW)),
        min_size=count_range[0],
        max_size=count_range[1],
    ).map(
        lambda rows: [
            alloc(client, desired, index=i, alloc_id=f"id-{i}", modified=modified)
            for i, (client, desired, modified) in enumerate(rows)
        ]
    )


@given(alloc_lists | json_junk, brightnesses)
def test_any_json_gives_eight_valid_pixels(allocs, brightness):
    shown = frame(allocs, brightness)
    assert len(shown) == BLINKT.size
    assert all(isinstance(pixel, Pixel) for pixel in shown)


@settings(max_examples=20)
@given(st.lists(nomad_alloc | json_junk, min_size=1, max_size=4), st.integers(50, 300))
def test_huge_allocation_lists_still_give_eight_pixels(sample, repeat):
    allocs = sample * repeat
    assert len(frame(allocs)) == BLINKT.size
    assert sum(summarize(allocs, NOW, LINGER).values()) == len(
        visible_allocations(allocs, NOW, LINGER)
    )


@given(alloc_lists)
def test_lit_leds_are_one_run_from_the_first(allocs):
    pattern = lit(frame(allocs))
    assert pattern == sorted(pattern, reverse=True)


@given(alloc_lists)
def test_overflow_marker_shows_exactly_when_more_than_eight_are_visible(allocs):
    overflowing = len(visible_allocations(allocs, NOW, LINGER)) > BLINKT.size
    assert (frame(allocs)[-1] == Pixel(*PALETTE.overflow, 0.5)) == overflowing


@given(well_formed(), client_statuses, desired_statuses)
def test_a_newer_allocation_never_moves_the_first_seven_leds(allocs, client, desired):
    before = frame(allocs)
    after = frame([*allocs, alloc(client, desired, index=len(allocs), alloc_id="new")])
    kept = min(7, sum(lit(before)))
    assert after[:kept] == before[:kept]


@given(st.sampled_from(["failed", "lost"]), st.integers(0, 10**6), st.integers(0, 10**15))
def test_ended_allocation_is_shown_iff_younger_than_linger(client, linger, age_ns):
    shown = classify(alloc(client, modified=NOW - age_ns), NOW, linger) is not None
    assert shown == (age_ns <= linger * 10**9)


@given(alloc_lists)
def test_summary_counts_match_the_visible_allocations(allocs):
    counts = summarize(allocs, NOW, LINGER)
    assert sum(counts.values()) == len(visible_allocations(allocs, NOW, LINGER))
    assert set(counts) == set(STATES)

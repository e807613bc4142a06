"""What time alone changes in the view: staleness and lingering allocations.

The service loop sleeps until `view.next_change`, so the property that
matters is that it is never late: nothing the LEDs or STATUS show changes
before it. `mapping.linger_ends` is exact: `shows` uses the same integer deadline.
Allocations are Nomad's JSON, through the Nomad source's normaliser.
"""

from hypothesis import given
from hypothesis import strategies as st

from blinkt_agent import mapping
from blinkt_agent.errors import AccessDenied, AmbiguousNode, NodeUnknown, Unreachable
from blinkt_agent.sources.nomad.client import ACL_POLICY
from blinkt_agent.sources.nomad.normalise import node_of, workloads_of
from blinkt_agent.sources.nomad.watcher import nomad_snapshot
from blinkt_agent.view import Look, View, frame, is_stale, next_change, status_line

NOW = 1_000.0  # monotonic seconds
NOW_NS = 1_700_000_000 * 10**9  # wall clock

STATUSES = ("pending", "running", "complete", "failed", "lost", "unknown", None)
modify_times = st.one_of(
    st.integers(NOW_NS - 2 * 10**12, NOW_NS + 10**10),
    st.floats(NOW_NS - 2e12, NOW_NS + 1e10),
    st.none(),
    st.just("junk"),
)
allocation = st.one_of(
    st.fixed_dictionaries(
        {
            "ID": st.text(max_size=4),
            "CreateIndex": st.integers(0, 50),
            "ClientStatus": st.sampled_from(STATUSES),
            "DesiredStatus": st.sampled_from(("run", "stop", "evict")),
            "ModifyTime": modify_times,
        }
    ),
    st.integers(),  # junk entries are shown as "unknown" and never age
)
allocations = st.lists(allocation, max_size=10)
lingers = st.floats(0, 1000)


def states(allocs, now_ns, linger):
    return mapping.visible(workloads_of(allocs), now_ns, linger)


def snapshot(allocs, hidden=0):
    return nomad_snapshot(node_of("pi-01", None, allocs), "10.0.0.5:4646", "", hidden)


@given(allocations, lingers, st.integers(0, 3 * 10**12))
def test_nothing_drops_out_before_linger_ends(allocs, linger, later):
    ends = mapping.linger_ends(workloads_of(allocs), NOW_NS, linger)
    before = states(allocs, NOW_NS, linger)
    if ends is None:
        assert states(allocs, NOW_NS + later, linger) == before
        return
    assert ends > NOW_NS
    assert states(allocs, ends - 1, linger) == before
    assert states(allocs, min(NOW_NS + later, ends - 1), linger) == before


@given(allocations, lingers)
def test_linger_ends_exactly_when_one_drops_out(allocs, linger):
    ends = mapping.linger_ends(workloads_of(allocs), NOW_NS, linger)
    if ends is not None:
        assert states(allocs, ends, linger) != states(allocs, NOW_NS, linger)


problems = st.sampled_from(
    (
        None,
        Unreachable("Nomad 10.0.0.5:4646: connection refused"),
        AccessDenied("Nomad 10.0.0.5:4646: permission denied"),
        NodeUnknown("node: no Nomad node is named 'pi-01'"),
        AmbiguousNode("node: 2 live Nomad nodes are named 'pi-01' (a ready, b ready)"),
    )
)


@st.composite
def views(draw):
    problem = draw(problems)
    shot = None
    if draw(st.booleans()):
        allocs = draw(allocations)
        hidden = draw(st.integers(0, 3))
        shot = snapshot(allocs, hidden)
    lost_at = None if problem is None else NOW - draw(st.floats(0, 200))
    retry_in = draw(st.floats(0, 60))
    return View(snapshot=shot, problem=problem, retry_in=retry_in, lost_at=lost_at)


looks = st.builds(
    Look,
    mode=st.sampled_from(("allocations", "memory")),
    linger=lingers,
    stale_after=st.floats(0, 100),
)


def shown(view, look, after):
    now, now_ns = NOW + after, NOW_NS + int(after * 1e9)
    return frame(view, look, now, now_ns), status_line(view, look, now, now_ns)


@given(views(), looks, st.floats(0, 0.999), st.floats(0, 1e5))
def test_next_change_is_never_late(view, look, fraction, far):
    wait = next_change(view, look, NOW, NOW_NS)
    at_once = shown(view, look, 0.0)
    if wait is None:
        assert shown(view, look, far) == at_once
    else:
        assert wait >= 0
        assert shown(view, look, wait * fraction) == at_once


def running_snapshot():
    alloc = {"ID": "a", "CreateIndex": 1, "ClientStatus": "running", "DesiredStatus": "run"}
    return snapshot([alloc])


def test_stale_counts_from_when_contact_was_lost_not_from_the_last_answer():
    look = Look(stale_after=60.0)
    lost = View(running_snapshot(), Unreachable("Nomad x: connection refused"), 8.0, lost_at=NOW)
    assert not is_stale(lost, look, NOW + 59.9)
    assert status_line(lost, look, NOW + 59.9, NOW_NS).endswith("(showing last data)")
    assert next_change(lost, look, NOW + 10, NOW_NS) == 50.0
    assert is_stale(lost, look, NOW + 60.0)
    assert frame(lost, look, NOW + 60.0, NOW_NS) == mapping.status_frame("unreachable", 0.2)


def test_data_without_a_problem_never_goes_stale():
    view = View(running_snapshot())
    assert not is_stale(view, Look(stale_after=0.0), NOW + 10**6)
    assert next_change(view, Look(), NOW, NOW_NS) is None


# -- allocations the ACL token cannot read --------------------------------------------------

WHITE, GREEN = (255, 255, 255), (0, 255, 0)


RUNNING = {"ID": "a", "CreateIndex": 1, "ClientStatus": "running", "DesiredStatus": "run"}


def hiding(hidden, allocations=None):
    return View(snapshot([RUNNING] if allocations is None else allocations, hidden))


def colours(shown_frame):
    return [(p.r, p.g, p.b) if p.brightness else None for p in shown_frame]


def test_hidden_allocations_add_one_unknown_led_after_the_readable_ones():
    look = Look()
    assert colours(frame(hiding(3), look, NOW, NOW_NS)) == [GREEN, WHITE] + [None] * 6
    assert colours(frame(hiding(1, []), look, NOW, NOW_NS)) == [WHITE] + [None] * 7
    assert colours(frame(hiding(0), look, NOW, NOW_NS)) == [GREEN] + [None] * 7


def test_hidden_allocations_count_towards_the_overflow_marker():
    allocs = [
        {"ID": str(i), "CreateIndex": i, "ClientStatus": "running", "DesiredStatus": "run"}
        for i in range(8)
    ]
    shown_frame = colours(frame(hiding(2, allocs), Look(), NOW, NOW_NS))
    assert shown_frame == [GREEN] * 7 + [mapping.Palette().overflow]


def test_the_status_line_says_how_many_are_hidden_and_which_rule_is_missing():
    rule = 'namespace "*" { capabilities = ["read-job"] }'
    assert rule in " ".join(ACL_POLICY.split())
    assert status_line(hiding(2), Look(), NOW, NOW_NS) == (
        "node pi-01: 1 allocation (1 running), 2 more hidden: the ACL token lacks read-job in "
        f"their namespaces ({rule}) via 10.0.0.5:4646"
    )
    none_readable = status_line(hiding(1, []), Look(), NOW, NOW_NS)
    assert none_readable == (
        "node pi-01: 1 allocation hidden: the ACL token lacks read-job in its namespace "
        f"({rule}) via 10.0.0.5:4646"
    )
    assert "no allocations" not in none_readable
    assert status_line(hiding(0, []), Look(), NOW, NOW_NS).startswith("node pi-01: no allocations")


def test_an_ambiguous_node_name_shows_the_node_pattern():
    view = View(problem=AmbiguousNode("node: 2 live Nomad nodes are named 'pi-01'"))
    assert frame(view, Look(), NOW, NOW_NS) == mapping.status_frame("node_gone", 0.2)

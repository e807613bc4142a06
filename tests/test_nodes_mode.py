"""The cluster at a glance (mode "nodes"): one LED per node, for both sources.

How a node's LED looks (mapping.node_look), the frame (by name, overflow), the STATUS
line, and the Nomad cluster watcher against the simulated Nomad (node list and
cluster-wide allocations with blocking queries). The Kubernetes side of the cluster view
is in tests/test_kubernetes_source.py.
"""

import queue
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blinkt_agent import config, mapping
from blinkt_agent.agent import source_of
from blinkt_agent.frame import BLINKT, OFF, Pixel
from blinkt_agent.outside import dig
from blinkt_agent.sim import SimCluster
from blinkt_agent.sim.cluster import loopback_hosts
from blinkt_agent.snapshot import NODE_STATES, STATES, Node, Problem, Snapshot, Update, Workload
from blinkt_agent.sources.nomad.cluster import registrations
from blinkt_agent.view import Look, View, frame, status_line

NOW = 1_700_000_000 * 10**9
PALETTE = mapping.Palette.default()


def node(name="pi-01", state="ready", *states, ended=None):
    workloads = tuple(
        Workload(id=f"{name}-{i}", name=f"w{i}", state=s, order=i, ended_ns=ended)
        for i, s in enumerate(states)
    )
    return Node(name=name, state=state, workloads=workloads)


def look(n):
    return mapping.node_look(n, NOW, 300)


# -- one node's LED ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (("running", "failed", "pending"), "failed"),
        (("running", "lost", "stopping"), "lost"),
        (("running", "unknown", "pending"), "unknown"),
        (("running", "stopping", "pending"), "stopping"),
        (("running", "pending"), "pending"),
        (("running", "running"), "running"),
    ],
)
def test_a_ready_node_shows_its_worst_workload(states, expected):
    assert look(node("pi-01", "ready", *states)) == (expected, 1.0)


def test_a_down_node_is_magenta_whatever_runs_on_it():
    assert look(node("pi-01", "down", "running")) == ("lost", 1.0)
    assert look(node("pi-01", "down")) == ("lost", 1.0)


def test_a_cordoned_node_is_yellow_unless_something_needs_attention():
    assert look(node("pi-01", "cordoned", "running", "stopping")) == ("cordoned", 1.0)
    assert look(node("pi-01", "cordoned")) == ("cordoned", 1.0)
    assert look(node("pi-01", "cordoned", "running", "failed")) == ("failed", 1.0)


def test_a_ready_node_with_nothing_on_it_is_dim_green():
    assert look(node("pi-01", "ready")) == ("running", mapping.IDLE_SHARE)


def test_a_failed_workload_that_lingered_out_no_longer_colours_its_node():
    old = NOW - 301 * 10**9
    assert look(node("pi-01", "ready", "failed", ended=old)) == ("running", mapping.IDLE_SHARE)


def test_an_unknown_node_is_white():
    assert look(node("pi-01", "unknown", "running")) == ("unknown", 1.0)


# -- the frame ------------------------------------------------------------------------------------


def test_nodes_are_shown_by_name_one_led_each():
    nodes = [node("pi-03", "down"), node("pi-01", "ready", "running"), node("pi-02", "ready")]
    shown = mapping.nodes_frame(nodes, NOW, PALETTE, 300, 0.5)
    assert shown[:3] == (
        Pixel(*PALETTE.running, 0.5),
        Pixel(*PALETTE.running, 0.5 * mapping.IDLE_SHARE),
        Pixel(*PALETTE.lost, 0.5),
    )
    assert shown[3:] == (OFF,) * 5


def test_more_nodes_than_leds_end_in_the_overflow_marker():
    nodes = [node(f"pi-{i:02d}", "ready", "running") for i in range(12)]
    shown = mapping.nodes_frame(nodes, NOW, PALETTE, 300, 0.5)
    assert shown[:7] == (Pixel(*PALETTE.running, 0.5),) * 7
    assert shown[7] == Pixel(*PALETTE.overflow, 0.5)


nodes_strategy = st.lists(
    st.builds(
        node,
        st.text(min_size=1, max_size=6),
        st.sampled_from(NODE_STATES),
    ).flatmap(
        lambda n: st.lists(st.sampled_from(STATES), max_size=4).map(
            lambda states: node(n.name, n.state, *states)
        )
    ),
    max_size=20,
)


@given(nodes_strategy, st.floats(0.01, 1.0))
def test_any_cluster_gives_eight_pixels_lit_from_the_first_led(nodes, brightness):
    shown = mapping.nodes_frame(nodes, NOW, PALETTE, 300, brightness)
    count = min(len(nodes), BLINKT.size)
    assert [not p.is_off for p in shown] == [True] * count + [False] * (BLINKT.size - count)


@given(nodes_strategy)
def test_a_node_joining_never_moves_the_leds_of_nodes_named_before_it(nodes):
    names = sorted({n.name for n in nodes})
    if not names:
        return
    newcomer = node(names[-1] + "~", "ready", "running")
    unique = list({n.name: n for n in nodes}.values())
    before = mapping.nodes_frame(unique, NOW, PALETTE, 300, 0.5)
    after = mapping.nodes_frame([*unique, newcomer], NOW, PALETTE, 300, 0.5)
    kept = min(len(unique), 7)
    assert after[:kept] == before[:kept]


def test_the_status_line_counts_nodes_and_workloads():
    snap = Snapshot(
        nodes=(node("pi-01", "ready", "running", "failed"), node("pi-02", "down")),
        address="10.0.0.5:4646",
    )
    line = status_line(View(snap), Look(mode="nodes"), 0.0, NOW)
    assert line == (
        "cluster: 2 nodes (1 ready, 1 down), 2 allocations (1 running, 1 failed) via 10.0.0.5:4646"
    )
    pods = status_line(View(snap), Look(mode="nodes", label="Kubernetes", noun="pod"), 0.0, NOW)
    assert "2 pods (1 running, 1 failed)" in pods
    assert frame(View(snap), Look(mode="nodes"), 0.0, NOW)[1] == Pixel(*PALETTE.lost, 0.2)


# -- Nomad: the node list and every allocation, with blocking queries -------------------------

NAMES = ("pi-01", "pi-02", "pi-03")


@pytest.fixture
def cluster():
    with SimCluster(nodes=NAMES, node_hosts=loopback_hosts(NAMES, first=131)) as sim:
        yield sim


def nomad_settings(cluster, **values):
    base = {
        "mode": "nodes",
        "consul.dns": cluster.dns.address,
        "consul.node_name": "pi-01",
        "nomad.wait": 5.0,
        "nomad.backoff_max": 1.0,
    }
    return config.override(config.defaults(), base | values)


class Following:
    def __init__(self, settings):
        self.events: queue.Queue[Update | Problem] = queue.Queue()
        self.source = source_of(settings, self.events.put)
        threading.Thread(target=self.source.run, daemon=True).start()

    def until(self, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(event, Update) and predicate(event.snapshot):
                return event.snapshot


@pytest.fixture
def following():
    started = []

    def start(settings):
        started.append(Following(settings))
        return started[-1]

    yield start
    for one in started:
        one.source.stop()


def by_name(snapshot):
    return {n.name: (n.state, sorted(w.state for w in n.workloads)) for n in snapshot.nodes}


def test_every_node_and_its_allocations_from_any_client(cluster, following):
    cluster.nomad.add_alloc(cluster.node_ids["pi-02"], "web", client_status="running")
    source = following(nomad_settings(cluster))
    first = source.until(lambda s: len(s.nodes) == 3)
    assert by_name(first) == {
        "pi-01": ("ready", []),
        "pi-02": ("ready", ["running"]),
        "pi-03": ("ready", []),
    }


def test_a_change_on_another_node_arrives_through_the_blocking_allocations_query(
    cluster, following
):
    # A cluster that has run an allocation: a fresh one answers index 0, which cannot block.
    cluster.nomad.add_alloc(cluster.node_ids["pi-02"], "web", client_status="running")
    source = following(nomad_settings(cluster))
    source.until(lambda s: len(s.nodes) == 3)
    cluster.nomad.add_alloc(cluster.node_ids["pi-03"], "api", client_status="pending")
    changed = source.until(lambda s: by_name(s)["pi-03"][1] == ["pending"])
    assert changed.address.startswith("127.0.1.131:")  # this Pi's own client answered
    queries = [r.query for r in cluster.nomad.request_log if r.path == "/v1/allocations"]
    assert queries[0] == {"namespace": "*"}
    assert all(q["namespace"] == "*" for q in queries) and any("index" in q for q in queries)


def test_a_drain_and_a_node_going_down_reach_the_node_list(cluster, following):
    source = following(nomad_settings(cluster))
    source.until(lambda s: len(s.nodes) == 3)
    cluster.nomad.drain(cluster.node_ids["pi-02"])
    assert by_name(source.until(lambda s: by_name(s)["pi-02"][0] == "cordoned"))
    cluster.nomad.node_down(cluster.node_ids["pi-03"])
    assert source.until(lambda s: by_name(s)["pi-03"][0] == "down")


def test_a_reimaged_pi_is_one_led_its_new_registration(cluster, following):
    old = cluster.node_ids["pi-02"]
    new = cluster.nomad.reimage(old)  # the old registration stays listed, down
    source = following(nomad_settings(cluster))
    shown = source.until(lambda s: len(s.nodes) == 3)
    (pi_02,) = [n for n in shown.nodes if n.name == "pi-02"]
    assert (pi_02.id, pi_02.state) == (new, "ready")


def test_registrations_keep_the_live_ones_else_the_newest_down_one():
    stubs = [
        {"ID": "a", "Name": "pi-01", "Status": "down", "CreateIndex": 5},
        {"ID": "b", "Name": "pi-01", "Status": "ready", "CreateIndex": 9},
        {"ID": "c", "Name": "pi-02", "Status": "down", "CreateIndex": 3},
        {"ID": "d", "Name": "pi-02", "Status": "down", "CreateIndex": 7},
    ]
    assert [dig(s, "ID") for s in registrations(stubs)] == ["b", "d"]


def test_once_in_nodes_mode_reads_both_lists_once(cluster):
    events: list[Update | Problem] = []
    source_of(nomad_settings(cluster), events.append).check()
    (update,) = events
    assert isinstance(update, Update) and len(update.snapshot.nodes) == 3
    paths = [r.path for r in cluster.nomad.request_log]
    assert paths.count("/v1/allocations") == 1 and paths.count("/v1/nodes") == 1


def test_nomad_down_is_a_problem_then_both_lists_come_back(cluster, following):
    source = following(nomad_settings(cluster))
    source.until(lambda s: len(s.nodes) == 3)
    cluster.nomad.set_outage(True)
    deadline = time.monotonic() + 5
    while not isinstance(source.events.get(timeout=5), Problem):
        assert time.monotonic() < deadline
    cluster.nomad.add_alloc(cluster.node_ids["pi-01"], "late", client_status="running")
    cluster.nomad.set_outage(False)
    assert source.until(lambda s: by_name(s)["pi-01"][1] == ["running"], timeout=5)

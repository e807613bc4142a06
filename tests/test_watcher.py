"""The watcher thread against the simulated cluster: blocking queries, errors, recovery."""

import json
import queue
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from blinkt_agent.backoff import Backoff
from blinkt_agent.errors import AccessDenied, AmbiguousNode, NodeUnknown, Unreachable
from blinkt_agent.sim import SimNomad
from blinkt_agent.snapshot import Problem, Update
from blinkt_agent.sources.nomad.client import ACL_POLICY, NomadClient
from blinkt_agent.sources.nomad.discovery import NomadLocator, SrvQuery
from blinkt_agent.sources.nomad.watcher import Watcher, WatchOptions
from tests.snapshots import jobs


class Fast(Backoff):
    """Backoff with tiny delays so recovery tests take milliseconds."""

    def __init__(self):
        super().__init__(base=0.05, cap=0.2)


def start(locator, events, **options):
    token = options.pop("token", "")
    opts = WatchOptions(wait=options.pop("wait", 5.0), own_node=options.pop("own_node", "pi-01"))
    for key, value in options.items():
        setattr(opts, key, value)
    watcher = Watcher(
        opts, locator, lambda a: NomadClient(a, token=token), events.put, backoff=Fast()
    )
    threading.Thread(target=watcher.run, daemon=True).start()
    return watcher


def static(sim):
    return NomadLocator(None, sim.url, own_node="pi-01")


def next_of(events, kind, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = events.get(timeout=deadline - time.monotonic())
        if isinstance(event, kind):
            return event
    raise AssertionError(f"no {kind.__name__} within {timeout} s")


@pytest.fixture
def events():
    return queue.Queue()


def test_first_update_has_the_local_nodes_allocations(sim_nomad, events):
    node = sim_nomad.add_node("pi-01")
    sim_nomad.add_alloc(node, "web", client_status="running")
    watcher = start(static(sim_nomad), events)
    snapshot = next_of(events, Update).snapshot
    watcher.stop()
    assert snapshot.node.id == node and snapshot.node.name == "pi-01"
    assert jobs(snapshot) == ["web"]
    assert snapshot.address == sim_nomad.address and snapshot.via == "static"


def answered_index(sim, node_id):
    """The X-Nomad-Index that GET /v1/node/:id/allocations answers now."""
    with sim.store.lock:
        return sim.store.node_allocs(node_id)[1]


def test_a_change_arrives_through_the_blocking_query(sim_nomad, events):
    node = sim_nomad.add_node("pi-01")
    watcher = start(static(sim_nomad), events)
    next_of(events, Update)
    first = answered_index(sim_nomad, node)
    sim_nomad.add_alloc(node, "api")
    second = next_of(events, Update).snapshot
    watcher.stop()
    assert answered_index(sim_nomad, node) > first
    assert jobs(second) == ["api"]
    blocking = [r for r in sim_nomad.request_log if "index" in r.query]
    assert blocking and blocking[0].query["index"] == str(first)


def test_an_idle_node_costs_one_request_per_wait(sim_nomad, events):
    sim_nomad.add_node("pi-01")
    watcher = start(static(sim_nomad), events, wait=60)
    next_of(events, Update)
    time.sleep(1.5)
    watcher.stop()
    allocation_requests = [r for r in sim_nomad.request_log if r.path.endswith("/allocations")]
    assert len(allocation_requests) == 2  # the first read, then one blocking query still open


class StuckIndex(BaseHTTPRequestHandler):
    """A misbehaving proxy: answers at once, always with the same index."""

    hits = 0

    def do_GET(self):
        type(self).hits += 1
        body = {"stats": {"client": {"node_id": "n1"}}} if "agent" in self.path else []
        if self.path.startswith("/v1/node/n1") and not self.path.count("/allocations"):
            body = {"ID": "n1", "Name": "pi-01"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("X-Nomad-Index", "7")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_an_index_that_never_moves_does_not_spin(events):
    server = ThreadingHTTPServer(("127.0.0.1", 0), StuckIndex)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    watcher = start(NomadLocator(None, url, own_node="pi-01"), events)
    time.sleep(2.5)
    watcher.stop()
    server.shutdown()
    assert StuckIndex.hits <= 2 + 4  # agent/self + node, then about one query per second


def test_index_going_backwards_starts_over(sim_nomad, events):
    node = sim_nomad.add_node("pi-01")
    for job in ("a", "b", "c"):
        sim_nomad.add_alloc(node, job)
    watcher = start(static(sim_nomad), events, wait=1)
    next_of(events, Update)
    high = sim_nomad.index
    sim_nomad.reset_index(2)
    sim_nomad.add_alloc(node, "d")  # below the watcher's index: seen when the wait runs out
    low = next_of(events, Update).snapshot
    sim_nomad.add_alloc(node, "e")
    after = next_of(events, Update, timeout=0.7).snapshot
    watcher.stop()
    assert sim_nomad.index < high
    assert jobs(low)[-1] == "d"
    # with its old, higher index the watcher would only see "e" after a full wait
    assert jobs(after)[-1] == "e"


def test_outage_then_recovery(sim_nomad, events):
    node = sim_nomad.add_node("pi-01")
    sim_nomad.add_alloc(node, "web")
    watcher = start(static(sim_nomad), events, wait=1)
    next_of(events, Update)
    sim_nomad.set_outage(True)
    problem = next_of(events, Problem)
    assert isinstance(problem.error, Unreachable) and problem.retry_in > 0
    sim_nomad.set_outage(False)
    recovered = next_of(events, Update).snapshot
    watcher.stop()
    assert jobs(recovered) == ["web"]


def test_access_denied_is_reported_and_retried(events):
    with SimNomad(acl_tokens={"weak": {"agent:read"}}) as sim:
        sim.add_node("pi-01")
        watcher = start(static(sim), events, token="weak")
        problem = next_of(events, Problem)
        second = next_of(events, Problem)
        watcher.stop()
    assert isinstance(problem.error, AccessDenied)
    assert "node:read" in str(problem.error)
    assert isinstance(second.error, AccessDenied)


def test_named_node_that_does_not_exist_yet_is_found_once_it_registers(sim_nomad, events):
    sim_nomad.add_node("pi-01")
    watcher = start(static(sim_nomad), events, node="pi-09")
    problem = next_of(events, Problem)
    assert isinstance(problem.error, NodeUnknown) and "pi-09" in str(problem.error)
    sim_nomad.add_node("pi-09")
    snapshot = next_of(events, Update).snapshot
    watcher.stop()
    assert snapshot.node.name == "pi-09"


def test_fails_over_to_the_next_instance_and_finds_our_node_by_name(sim_cluster, events):
    dns = sim_cluster.dns
    with socket.socket() as s:  # pi-01's own Nomad client is down: nothing listens there
        s.bind(("127.0.1.1", 0))  # pi-01's own address, apart from pi-02's client
        dead = s.getsockname()[1]
    dns.register("nomad-client", "pi-01", "127.0.1.1", dead)
    host, port = dns.address.split(":")
    locator = NomadLocator(SrvQuery(host, int(port), timeout=0.5), None, own_node="pi-01")
    watcher = start(locator, events)
    problem = next_of(events, Problem)
    snapshot = next_of(events, Update).snapshot
    watcher.stop()
    assert isinstance(problem.error, Unreachable) and problem.retry_in == 0
    assert snapshot.node.name == "pi-01"  # pi-02's client answered, about our node
    assert snapshot.address == sim_cluster.agent("pi-02").address and snapshot.via == ""


def test_watchdog_health_fails_when_a_request_hangs(sim_nomad, events):
    sim_nomad.add_node("pi-01")
    watcher = Watcher(
        WatchOptions(wait=1, own_node="pi-01"), static(sim_nomad), NomadClient, events.put
    )
    watcher._step_timeout = lambda wait=0: 0.5  # the hang below outlasts any real step
    sim_nomad.hang_next(3)
    threading.Thread(target=watcher.run, daemon=True).start()
    assert watcher.healthy()
    time.sleep(1.0)
    assert not watcher.healthy()
    watcher.stop()


def test_a_long_blocking_query_stays_healthy(sim_nomad, events):
    sim_nomad.add_node("pi-01")
    watcher = start(static(sim_nomad), events, wait=3)
    next_of(events, Update)
    time.sleep(1.5)  # inside the blocking query
    assert watcher.healthy()
    watcher.stop()


def test_after_an_outage_the_first_answer_comes_at_once_even_with_a_long_wait(sim_nomad, events):
    node = sim_nomad.add_node("pi-01")
    sim_nomad.add_alloc(node, "web")
    watcher = start(static(sim_nomad), events, wait=300)  # the default: far above stale_after
    before = next_of(events, Update).snapshot
    sim_nomad.set_outage(True)
    next_of(events, Problem)
    sent = len(sim_nomad.request_log)
    sim_nomad.set_outage(False)
    after = next_of(events, Update, timeout=2.0).snapshot  # Fast backoff: retries within 0.2 s
    watcher.stop()
    assert after == before  # nothing changed, yet the answer did not block
    first = next(r for r in sim_nomad.request_log[sent:] if r.path.endswith("/allocations"))
    assert "index" not in first.query


def test_after_the_catch_up_answer_it_blocks_again(sim_nomad, events):
    node = sim_nomad.add_node("pi-01")
    watcher = start(static(sim_nomad), events, wait=300)
    next_of(events, Update)
    first = answered_index(sim_nomad, node)
    while not any("index" in r.query for r in sim_nomad.request_log):
        time.sleep(0.01)
    sim_nomad.fail_next(500)  # for the request after the one now blocking
    sim_nomad.add_alloc(node, "web")  # wakes the open blocking query
    changed = next_of(events, Update).snapshot
    index = answered_index(sim_nomad, node)
    next_of(events, Problem)  # the next blocking query got the 500
    caught_up = next_of(events, Update, timeout=2.0).snapshot
    time.sleep(1.5)  # blocking again: no new request, no busy loop
    watcher.stop()
    assert caught_up == changed and index > first
    queries = [r.query for r in sim_nomad.request_log if r.path.endswith("/allocations")]
    assert [q.get("index") for q in queries] == [None, str(first), str(index), None, str(index)]


def test_a_client_matched_by_address_is_verified_through_nomad(events):
    """Every client agent on one address: discovery cannot tell them apart, and calls
    each one this Pi's own. The watcher asks the client which node it is and, when it
    is another Pi's, looks its own node up by name: pi-01 in every run."""
    from blinkt_agent.sim import SimCluster

    with SimCluster(nodes=("pi-01", "pi-02", "pi-03")) as cluster:
        query = SrvQuery(dns_host=cluster.dns.host, dns_port=cluster.dns.port)
        shown = set()
        for _ in range(12):
            got: list = []
            locator = NomadLocator(query, None, own_node="pi-01")
            watcher = Watcher(
                WatchOptions(own_node="pi-01"), locator, NomadClient, got.append, backoff=Fast()
            )
            watcher.check()
            assert isinstance(got[0], Update), got
            shown.add(got[0].snapshot.node.name)
    assert shown == {"pi-01"}


# -- which node, over time ----------------------------------------------------------------


def own_client(sim, name="pi-01"):
    """A static address at the node's own client agent (as nomad.address = 127.0.0.1:4646)."""
    return NomadLocator(None, sim.agent_for(sim.node_id(name)).url, own_node=name)


def until(events, predicate, timeout=5.0):
    """The first Update whose snapshot satisfies `predicate`."""
    deadline = time.monotonic() + timeout
    while True:
        update = next_of(events, Update, timeout=max(0.01, deadline - time.monotonic()))
        if predicate(update.snapshot):
            return update.snapshot


@pytest.fixture
def pis():
    with SimNomad() as sim:
        for name in ("pi-01", "pi-02"):
            sim.add_node(name, port=0)  # each its own client agent
        yield sim


def test_a_reimaged_pi_is_followed_as_soon_as_its_allocations_turn_lost(pis, events):
    old = pis.node_id("pi-01")
    pis.add_alloc(old, "web", client_status="running")
    watcher = start(own_client(pis), events, wait=300)  # no timeout will come to help
    assert next_of(events, Update).snapshot.node.id == old
    new = pis.reimage(old)  # old: down, its allocation lost; the client serves the new ID
    started = time.monotonic()
    followed = until(events, lambda s: s.node.id == new, timeout=5)
    took = time.monotonic() - started
    watcher.stop()
    assert followed.node.name == "pi-01" and followed.node.workloads == ()
    assert took < 3  # one paced round, not the 300 s wait


def test_a_named_node_is_followed_at_the_blocking_query_timeout(pis, events):
    old = pis.node_id("pi-02")  # no allocations: nothing turns lost, no answer wakes up
    watcher = start(own_client(pis, "pi-01"), events, node="pi-02", wait=1)
    assert next_of(events, Update).snapshot.node.id == old
    new = pis.reimage(old)
    followed = until(events, lambda s: s.node.id == new, timeout=4)
    watcher.stop()
    assert followed.node.name == "pi-02"


def test_a_client_that_restarts_under_a_new_id_is_followed_before_the_old_one_is_down(pis, events):
    """As in time: the wiped client drops its connections, registers anew at once, and the
    servers still list the old ID as ready. By name the two would be ambiguous; the own
    client says which is this Pi's."""
    old = pis.node_id("pi-01")
    pis.add_alloc(old, "web", client_status="running")
    agent = pis.agent_for(old)
    watcher = start(own_client(pis), events, wait=300)
    assert next_of(events, Update).snapshot.node.id == old
    agent.set_outage(True)
    next_of(events, Problem)
    new = pis.reimage(old, old_down=False)
    agent.set_outage(False)
    followed = until(events, lambda s: s.node.id == new, timeout=5)
    watcher.stop()
    assert pis.store.nodes[old].status == "ready"  # not down yet
    assert followed.node.workloads == ()


def test_two_live_registrations_of_the_watched_name_are_an_error_until_one_is_down(pis, events):
    old = pis.node_id("pi-02")
    watcher = start(own_client(pis, "pi-01"), events, node="pi-02", wait=1)
    next_of(events, Update)
    new = pis.reimage(old, old_down=False)
    problem = next_of(events, Problem, timeout=4)
    assert isinstance(problem.error, AmbiguousNode) and old[:8] in str(problem.error)
    pis.node_down(old)  # its heartbeat TTL ran out
    followed = until(events, lambda s: s.node.id == new, timeout=5)
    watcher.stop()
    assert followed.node.name == "pi-02"


# -- allocations the ACL token cannot read ------------------------------------------------

WEAK = {"agent:read", "node:read", "namespace:default:read-job"}


def test_hidden_allocations_are_counted_through_the_nodes_own_client(events):
    with SimNomad(acl_tokens={"weak": WEAK}) as sim:
        node = sim.add_node("pi-01", port=0)
        sim.add_alloc(node, "web", client_status="running")
        sim.add_alloc(node, "db", client_status="running", namespace="team-b")
        watcher = start(own_client(sim), events, token="weak", wait=300)
        first = next_of(events, Update).snapshot
        sim.add_alloc(node, "cache", client_status="pending", namespace="team-b")
        second = until(events, lambda s: s.hidden != 1)  # the index moved, nothing visible did
        sim.add_alloc(node, "api", client_status="running")  # visible, and still 2 hidden
        third = until(events, lambda s: len(s.node.workloads) == 2)
        watcher.stop()
    assert (jobs(first), first.hidden) == (["web"], 1)
    assert (jobs(second), second.hidden) == (["web"], 2)
    assert third.hidden == 2


def test_a_full_token_costs_no_agent_self_request_per_change(events):
    with SimNomad(acl_tokens={"full": ACL_POLICY}) as sim:
        node = sim.add_node("pi-01", port=0)
        watcher = start(own_client(sim), events, token="full", wait=300)
        next_of(events, Update)
        for job in ("a", "b", "c"):
            sim.add_alloc(node, job, namespace=f"team-{job}")
            until(events, lambda s, job=job: jobs(s)[-1] == job)
        watcher.stop()
        paths = [r.path for r in sim.agent_for(node).request_log]
    assert paths.count("/v1/agent/self") == 1  # deciding which node, once
    assert paths.count(f"/v1/node/{node}/allocations") == 4


def test_hidden_allocations_are_not_guessed_through_another_nodes_client(events):
    with SimNomad(acl_tokens={"weak": WEAK}) as sim:
        node = sim.add_node("pi-01", port=0)
        other = sim.add_node("pi-02", port=0)
        sim.add_alloc(node, "db", client_status="running", namespace="team-b")
        watcher = start(own_client(sim, "pi-02"), events, token="weak", node="pi-01")
        snapshot = next_of(events, Update).snapshot
        watcher.stop()
        asked = [r.path for r in sim.agent_for(other).request_log]
    assert (snapshot.node.workloads, snapshot.hidden) == ((), 0)  # pi-02's client cannot count
    assert "/v1/agent/self" not in asked


# -- servers that do not block --------------------------------------------------------------


class FlappingIndex(BaseHTTPRequestHandler):
    """A round-robin over servers whose indexes differ: every answer has another index."""

    hits: list = []

    def do_GET(self):
        type(self).hits.append(self.path)
        body = {"stats": {"client": {"node_id": "n1"}}} if "agent" in self.path else []
        if self.path.startswith("/v1/node/n1") and "/allocations" not in self.path:
            body = {"ID": "n1", "Name": "pi-01"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("X-Nomad-Index", str(7 + len(self.hits) % 2))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_an_index_that_changes_on_every_answer_is_asked_once_a_second(events):
    server, url = serve(FlappingIndex)
    watcher = start(NomadLocator(None, url, own_node="pi-01"), events)
    time.sleep(2.5)
    watcher.stop()
    server.shutdown()
    queries = [p for p in FlappingIndex.hits if "/allocations" in p]
    assert 2 <= len(queries) <= 4  # at 0, 1 and 2 s: not hundreds


def test_without_an_index_it_asks_without_one_once_a_second(sim_nomad, events, caplog):
    node = sim_nomad.add_node("pi-01")
    sim_nomad.add_alloc(node, "web", client_status="running")
    sim_nomad.set_proxy(index_header="absent")
    watcher = start(static(sim_nomad), events, wait=60)
    time.sleep(2.5)
    watcher.stop()
    queries = [r.query for r in sim_nomad.request_log if r.path.endswith("/allocations")]
    assert 2 <= len(queries) <= 4
    assert all("index" not in q for q in queries)  # nothing to block on: no blocking query
    said = [r.getMessage() for r in caplog.records if "X-Nomad-Index" in r.getMessage()]
    assert len(said) == 1 and "once a second" in said[0]


class FailsBlocking(FlappingIndex):
    """Answers plain reads, fails every blocking query: the catch-up answer after each
    error succeeds, the next query fails again."""

    def do_GET(self):
        if "index=" in self.path:
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    hits: list = []


def test_catch_up_answers_do_not_reset_the_backoff(events):
    server, url = serve(FailsBlocking)
    opts = WatchOptions(own_node="pi-01", wait=60)
    locator = NomadLocator(None, url, own_node="pi-01")
    watcher = Watcher(opts, locator, NomadClient, events.put, backoff=Backoff(base=0.2, cap=5))
    threading.Thread(target=watcher.run, daemon=True).start()
    delays = [next_of(events, Problem, timeout=6).retry_in for _ in range(3)]
    watcher.stop()
    server.shutdown()
    # 0.1-0.2 s, then 0.2-0.4 s, then 0.4-0.8 s: a success between them resets nothing.
    assert delays[0] <= 0.2 < 0.4 <= delays[2]


def test_changes_close_together_from_a_blocking_server_arrive_one_by_one(sim_nomad, events):
    """A blocking server answers once per change: no one-second pace for it, so five
    changes 100 ms apart arrive as five answers, each soon after its change."""
    node = sim_nomad.add_node("pi-01")
    watcher = start(static(sim_nomad), events)
    next_of(events, Update)
    time.sleep(0.3)  # the blocking query is open
    started = time.monotonic()
    for i in range(5):
        sim_nomad.add_alloc(node, f"job-{i}")
        time.sleep(0.1)
    counts: list[int] = []
    while len(counts) < 5 or counts[-1] < 5:
        counts.append(len(next_of(events, Update, timeout=2.0).snapshot.node.workloads))
    took = time.monotonic() - started
    watcher.stop()
    assert counts == [1, 2, 3, 4, 5], counts
    assert took < 0.9  # under the hard pace the last would come a second or more later

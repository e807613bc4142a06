"""The watcher thread against the simulated cluster: blocking queries, errors, recovery."""

import json
import queue
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from blinkt_agent.backoff import Backoff
from blinkt_agent.discovery import NomadLocator, SrvQuery
from blinkt_agent.nomad import AccessDenied, NomadClient, NotFound, Unreachable
from blinkt_agent.sim import SimNomad
from blinkt_agent.watcher import Problem, Update, Watcher, WatchOptions


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
    watcher.stop.set()
    assert snapshot.node_id == node and snapshot.node_name == "pi-01"
    assert [a["JobID"] for a in snapshot.allocations] == ["web"]
    assert snapshot.address == sim_nomad.address and snapshot.via == "static"


def test_a_change_arrives_through_the_blocking_query(sim_nomad, events):
    node = sim_nomad.add_node("pi-01")
    watcher = start(static(sim_nomad), events)
    first = next_of(events, Update).snapshot
    sim_nomad.add_alloc(node, "api")
    second = next_of(events, Update).snapshot
    watcher.stop.set()
    assert second.index > first.index
    assert [a["JobID"] for a in second.allocations] == ["api"]
    blocking = [r for r in sim_nomad.request_log if "index" in r.query]
    assert blocking and blocking[0].query["index"] == str(first.index)


def test_an_idle_node_costs_one_request_per_wait(sim_nomad, events):
    sim_nomad.add_node("pi-01")
    watcher = start(static(sim_nomad), events, wait=60)
    next_of(events, Update)
    time.sleep(1.5)
    watcher.stop.set()
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
    watcher.stop.set()
    server.shutdown()
    assert StuckIndex.hits <= 2 + 4  # agent/self + node, then about one query per second


def test_index_going_backwards_starts_over(sim_nomad, events):
    node = sim_nomad.add_node("pi-01")
    for job in ("a", "b", "c"):
        sim_nomad.add_alloc(node, job)
    watcher = start(static(sim_nomad), events, wait=1)
    high = next_of(events, Update).snapshot.index
    sim_nomad.reset_index(2)
    sim_nomad.add_alloc(node, "d")  # below the watcher's index: seen when the wait runs out
    low = next_of(events, Update).snapshot
    sim_nomad.add_alloc(node, "e")
    after = next_of(events, Update, timeout=0.7).snapshot
    watcher.stop.set()
    assert low.index < high
    assert [a["JobID"] for a in low.allocations][-1] == "d"
    # with its old, higher index the watcher would only see "e" after a full wait
    assert [a["JobID"] for a in after.allocations][-1] == "e"


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
    watcher.stop.set()
    assert [a["JobID"] for a in recovered.allocations] == ["web"]


def test_access_denied_is_reported_and_retried(events):
    with SimNomad(acl_tokens={"weak": {"agent:read"}}) as sim:
        sim.add_node("pi-01")
        watcher = start(static(sim), events, token="weak")
        problem = next_of(events, Problem)
        second = next_of(events, Problem)
        watcher.stop.set()
    assert isinstance(problem.error, AccessDenied)
    assert "node:read" in str(problem.error)
    assert isinstance(second.error, AccessDenied)


def test_named_node_that_does_not_exist_yet_is_found_once_it_registers(sim_nomad, events):
    sim_nomad.add_node("pi-01")
    watcher = start(static(sim_nomad), events, node="pi-09")
    problem = next_of(events, Problem)
    assert isinstance(problem.error, NotFound) and "pi-09" in str(problem.error)
    sim_nomad.add_node("pi-09")
    snapshot = next_of(events, Update).snapshot
    watcher.stop.set()
    assert snapshot.node_name == "pi-09"


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
    watcher.stop.set()
    assert isinstance(problem.error, Unreachable) and problem.retry_in == 0
    assert snapshot.node_name == "pi-01"  # pi-02's client answered, about our node
    assert snapshot.address == sim_cluster.agent("pi-02").address and snapshot.via == "consul"


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
    watcher.stop.set()


def test_a_long_blocking_query_stays_healthy(sim_nomad, events):
    sim_nomad.add_node("pi-01")
    watcher = start(static(sim_nomad), events, wait=3)
    next_of(events, Update)
    time.sleep(1.5)  # inside the blocking query
    assert watcher.healthy()
    watcher.stop.set()


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
    watcher.stop.set()
    assert after.index == before.index  # nothing changed, yet the answer did not block
    first = next(r for r in sim_nomad.request_log[sent:] if r.path.endswith("/allocations"))
    assert "index" not in first.query


def test_after_the_catch_up_answer_it_blocks_again(sim_nomad, events):
    node = sim_nomad.add_node("pi-01")
    watcher = start(static(sim_nomad), events, wait=300)
    first = next_of(events, Update).snapshot
    while not any("index" in r.query for r in sim_nomad.request_log):
        time.sleep(0.01)
    sim_nomad.fail_next(500)  # for the request after the one now blocking
    sim_nomad.add_alloc(node, "web")  # wakes the open blocking query
    changed = next_of(events, Update).snapshot
    next_of(events, Problem)  # the next blocking query got the 500
    caught_up = next_of(events, Update, timeout=2.0).snapshot
    time.sleep(1.5)  # blocking again: no new request, no busy loop
    watcher.stop.set()
    assert caught_up.index == changed.index > first.index
    queries = [r.query for r in sim_nomad.request_log if r.path.endswith("/allocations")]
    index = str(changed.index)
    assert [q.get("index") for q in queries] == [None, str(first.index), index, None, index]


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
            shown.add(got[0].snapshot.node_name)
    assert shown == {"pi-01"}

"""Which node the agent shows, and what knowing it costs.

- twelve Pis, each its own Nomad client agent on 127.0.1.N:4646 (N = 201..212), behind
  the Consul-like DNS with Consul's defaults: in how many `once`-style rounds the agent,
  configured as one of them, shows its own node through its own client, and how long a
  round (DNS over TCP, agent/self, the node, the allocations) takes;
- how long the watcher takes to follow a re-imaged Pi (new node ID, same name): when the
  old registration goes down with its allocations lost (the order the simulator's
  `reimage` uses), when the client restarts under a new ID while Nomad still lists the old
  one as ready (the order it happens in time: the old ID goes down only after its
  heartbeat TTL) and the restart cuts the open blocking query, and by name through another
  Pi's client, where nothing wakes the blocking query and the check at its timeout
  (`nomad.wait`) finds the new ID. (A restart that falls between two queries is not
  seen as an error: the old ID going down, its allocations lost, wakes the watcher.)
- what /v1/agent/self costs: its size, its time on loopback, and how often the watcher
  reads it with a full token and with one that hides allocations.
"""

from __future__ import annotations

import queue
import statistics
import threading
import time

import requests

from blinkt_agent.sim import SimCluster
from blinkt_agent.sim.cluster import loopback_hosts
from blinkt_agent.sim.nomad import SimNomad
from blinkt_agent.snapshot import Update
from blinkt_agent.sources.nomad.client import ACL_POLICY, NomadClient
from blinkt_agent.sources.nomad.discovery import NomadLocator, SrvQuery
from blinkt_agent.sources.nomad.watcher import Watcher, WatchOptions

NAMES = [f"pi-{i:02d}" for i in range(1, 13)]


def twelve_pis(rounds: int = 10) -> None:
    with SimCluster(NAMES, node_hosts=loopback_hosts(NAMES, first=201), agent_port=4646) as c:
        for name in NAMES:
            c.nomad.add_alloc(c.node_ids[name], f"{name}-web", client_status="running")
        query = SrvQuery(dns_host=c.dns.host, dns_port=c.dns.port)
        right, took = 0, []
        for run in range(rounds * len(NAMES)):
            name = NAMES[run % len(NAMES)]
            before = {n: len(c.agent(n).request_log) for n in NAMES}
            got: list = []
            locator = NomadLocator(query, None, own_node=name)
            watcher = Watcher(WatchOptions(own_node=name), locator, NomadClient, got.append)
            started = time.perf_counter()
            watcher.check()
            took.append(time.perf_counter() - started)
            asked = [n for n in NAMES if len(c.agent(n).request_log) > before[n]]
            snapshot = got[0].snapshot if isinstance(got[0], Update) else None
            right += bool(snapshot and snapshot.node.id == c.node_ids[name] and asked == [name])
    runs = rounds * len(NAMES)
    print(f"12 Pis behind Consul-like DNS: own node through own client in {right} of {runs} runs")
    print(
        f"one round (DNS over TCP, agent/self, node, allocations): median "
        f"{statistics.median(took) * 1000:.1f} ms, max {max(took) * 1000:.1f} ms"
    )


def _watch(sim: SimNomad, url: str, events: queue.Queue, **options) -> Watcher:
    opts = WatchOptions(own_node="pi-01", **options)
    watcher = Watcher(opts, NomadLocator(None, url, own_node="pi-01"), NomadClient, events.put)
    threading.Thread(target=watcher.run, daemon=True).start()
    return watcher


def _until(events: queue.Queue, node_id: str, timeout: float = 30.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = events.get(timeout=0.05)
        except queue.Empty:
            continue
        if isinstance(event, Update) and event.snapshot.node.id == node_id:
            return time.monotonic()
    return float("inf")


def follow_lost() -> float:
    """Old registration down, allocations lost, new ID: woken by the lost allocations."""
    with SimNomad() as sim:
        old = sim.add_node("pi-01", port=0)
        sim.add_alloc(old, "web", client_status="running")
        events: queue.Queue = queue.Queue()
        watcher = _watch(sim, sim.agent_for(old).url, events, wait=300)
        _until(events, old)
        time.sleep(0.5)  # the blocking query is open
        started = time.monotonic()
        new = sim.reimage(old)
        took = _until(events, new) - started
        watcher.stop()
    return took


def follow_restart() -> float:
    """The client restarts under a new ID; the old one is still ready: from the restart."""
    with SimNomad() as sim:
        old = sim.add_node("pi-01", port=0)
        sim.add_alloc(old, "web", client_status="running")
        agent = sim.agent_for(old)
        events: queue.Queue = queue.Queue()
        watcher = _watch(sim, agent.url, events, wait=300)
        _until(events, old)
        time.sleep(1.5)  # the blocking query is open, and the restart cuts it
        agent.set_outage(True)  # the client process stops: connections cut
        started = time.monotonic()
        new = sim.reimage(old, old_down=False)
        time.sleep(0.2)  # and starts again with a wiped data dir
        agent.set_outage(False)
        took = _until(events, new) - started
        watcher.stop()
    return took


def follow_by_name(wait: float) -> float:
    """By name through another client; the old registration has no allocations."""
    with SimNomad() as sim:
        sim.add_node("pi-01", port=0)
        old = sim.add_node("pi-02", port=0)
        events: queue.Queue = queue.Queue()
        url = sim.agent_for(sim.node_id("pi-01")).url
        watcher = _watch(sim, url, events, wait=wait, node="pi-02")
        _until(events, old)
        started = time.monotonic()
        new = sim.reimage(old)
        took = _until(events, new, timeout=3 * wait) - started
        watcher.stop()
    return took


def reregistration(rounds: int = 5) -> None:
    for label, measure in (
        ("old ID down, its allocations lost", follow_lost),
        ("client restarts, old ID still ready", follow_restart),
        ("by name via another client, wait 5 s", lambda: follow_by_name(5.0)),
    ):
        times = [measure() for _ in range(rounds)]
        shown = ", ".join(f"{t * 1000:.0f}" for t in times)
        print(
            f"re-imaged Pi followed ({label}): median "
            f"{statistics.median(times) * 1000:.0f} ms (rounds: {shown} ms)"
        )


def agent_self_cost(changes: int = 20) -> None:
    with SimNomad(acl_tokens={"full": ACL_POLICY}) as sim:
        node = sim.add_node("pi-01", port=0)
        url = sim.agent_for(node).url
        headers = {"X-Nomad-Token": "full"}
        plain = requests.get(f"{url}/v1/agent/self", headers=headers, timeout=5)
        packed = requests.get(
            f"{url}/v1/agent/self",
            headers={**headers, "Accept-Encoding": "gzip"},
            stream=True,
            timeout=5,
        )
        size_gzip = len(packed.raw.read(decode_content=False))
        session = requests.Session()
        times = []
        for _ in range(200):
            started = time.perf_counter()
            session.get(f"{url}/v1/agent/self", headers=headers, timeout=5)
            times.append(time.perf_counter() - started)
    print(
        f"/v1/agent/self (simulated client agent): {len(plain.content)} B plain, {size_gzip} B "
        f"gzip; median {statistics.median(times) * 1000:.2f} ms on loopback"
    )
    for label, token, namespace in (
        ("full token", "full", "team-b"),
        ("token without read-job in team-b", "weak", "team-b"),
    ):
        weak = {"agent:read", "node:read", "namespace:default:read-job"}
        tokens = {"full": ACL_POLICY, "weak": weak}
        with SimNomad(acl_tokens=tokens) as sim:
            node = sim.add_node("pi-01", port=0)
            sim.add_alloc(node, "hidden", client_status="running", namespace="team-b")
            agent = sim.agent_for(node)
            events: queue.Queue = queue.Queue()
            opts = WatchOptions(own_node="pi-01", wait=300)
            locator = NomadLocator(None, agent.url, own_node="pi-01")
            client_for = lambda address, token=token: NomadClient(address, token=token)  # noqa: E731
            watcher = Watcher(opts, locator, client_for, events.put)
            threading.Thread(target=watcher.run, daemon=True).start()
            _until(events, node)
            for i in range(changes):
                sim.add_alloc(node, f"job{i}", client_status="running", namespace=namespace)
                time.sleep(0.2)  # one change per blocking answer
            watcher.stop()
            paths = [r.path for r in agent.request_log]
        reads = paths.count("/v1/agent/self")
        queries = paths.count(f"/v1/node/{node}/allocations")
        print(
            f"agent/self reads, {label}: {reads} for {changes} changes "
            f"({queries} allocation queries); plus one per nomad.wait"
        )


def main() -> None:
    twelve_pis()
    reregistration()
    agent_self_cost()


if __name__ == "__main__":
    main()

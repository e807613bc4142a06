"""End to end: twelve Pis, each its own Nomad client agent on its own loopback address
(127.0.1.161-172, port 4646 as on a Pi), behind the Consul-like DNS with Consul's own
defaults (.addr. targets, shuffled, 3 answers over UDP without EDNS0). The agent,
configured as one of them (consul.node.name), must show that Pi's node and talk to that
Pi's client only: the simulator's per-agent request logs say who was asked.

This range of addresses is used by no other test, so that port 4646 is free on them.
"""

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import dns.message
import dns.query
import pytest

from blinkt_agent import config
from blinkt_agent.agent import source_of
from blinkt_agent.sim import SimCluster
from blinkt_agent.sim.cluster import loopback_hosts
from blinkt_agent.snapshot import Problem, Update
from tests.snapshots import jobs
from tests.test_cli import agent_env

NAMES = [f"pi-{i:02d}" for i in range(1, 13)]
FIRST = 161  # 127.0.1.161 ... 127.0.1.172
ROUNDS = 5  # every Pi, this many times: 60 runs


@pytest.fixture(scope="module")
def fleet():
    hosts = loopback_hosts(NAMES, first=FIRST)
    with SimCluster(NAMES, node_hosts=hosts, agent_port=4646) as cluster:
        for i, name in enumerate(NAMES):
            node = cluster.node_ids[name]
            for j in range(i % 4 + 1):  # 1 to 4 running allocations: each Pi looks different
                cluster.nomad.add_alloc(node, f"{name}-job{j}", client_status="running")
        yield cluster


def settings_for(tmp_path: Path, fleet: SimCluster, name: str) -> config.Settings:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        'display = "json"\n'
        f'[consul]\ndns = "{fleet.dns.address}"\nnode_name = "{name}"\n'
        "[nomad]\nwait = 5\nbackoff_max = 1\n"
    )
    return config.load(path, environ={})


def request_counts(fleet: SimCluster) -> dict[str, int]:
    return {name: len(fleet.agent(name).request_log) for name in NAMES}


def asked_since(fleet: SimCluster, before: dict[str, int]) -> dict[str, list]:
    """Every client agent that got requests since `before`, with their paths."""
    asked = {}
    for name in NAMES:
        log = fleet.agent(name).request_log[before[name] :]
        if log:
            asked[name] = [r.path for r in log]
    return asked


def test_consul_dns_answers_like_consul_for_twelve_pis(fleet):
    """The premise: over UDP without EDNS0 3 of 12 instances, .addr. targets; over TCP 12."""
    host, port = fleet.dns.address.split(":")
    question = dns.message.make_query("http.nomad-client.service.consul", "SRV")
    udp = dns.query.udp(question, host, port=int(port), timeout=2)
    tcp = dns.query.tcp(question, host, port=int(port), timeout=2)
    targets = [r.target.to_text() for rrset in tcp.answer for r in rrset]
    assert sum(len(rrset) for rrset in udp.answer) == 3
    assert len(targets) == 12 and all(".addr.dc1.consul." in t for t in targets)
    assert all(r.port == 4646 for rrset in tcp.answer for r in rrset)


def test_each_pi_shows_its_own_node_through_its_own_client_in_every_run(fleet, tmp_path):
    wrong = []
    for run in range(ROUNDS * len(NAMES)):
        name = NAMES[run % len(NAMES)]
        before = request_counts(fleet)
        events: list = []
        source_of(settings_for(tmp_path, fleet, name), events.append).check()
        event = events[0]
        got = (event.snapshot.node.name, event.snapshot.node.id, event.snapshot.address)
        want = (name, fleet.node_ids[name], f"127.0.1.{FIRST + NAMES.index(name)}:4646")
        asked = list(asked_since(fleet, before))
        if got != want or asked != [name]:
            wrong.append((run, name, got, asked))
    runs = ROUNDS * len(NAMES)
    print(f"\n12 Pis: the own node through the own client in {runs - len(wrong)} of {runs} runs")
    assert wrong == []


@pytest.mark.parametrize("name", ["pi-01", "pi-07", "pi-12"])
def test_the_watcher_follows_its_own_node_with_blocking_queries_at_its_own_client(
    fleet, tmp_path, name
):
    settings = settings_for(tmp_path, fleet, name)
    before = request_counts(fleet)
    events: queue.Queue = queue.Queue()
    watcher = source_of(settings, events.put)
    threading.Thread(target=watcher.run, daemon=True).start()
    try:
        first = events.get(timeout=5)
        assert isinstance(first, Update) and first.snapshot.node.name == name
        job = f"{name}-late"
        alloc = fleet.nomad.add_alloc(fleet.node_ids[name], job, client_status="pending")
        while True:
            event = events.get(timeout=5)
            assert not isinstance(event, Problem), event
            if job in jobs(event.snapshot):
                break
    finally:
        watcher.stop()
    fleet.nomad.remove_alloc(alloc)
    asked = asked_since(fleet, before)
    assert list(asked) == [name]
    node = fleet.node_ids[name]
    assert asked[name].count(f"/v1/node/{node}/allocations") >= 2  # the first, then blocking


@pytest.mark.parametrize("name", ["pi-04", "pi-11"])
def test_the_agent_as_a_subprocess_shows_its_own_node(fleet, tmp_path, name):
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        f'[consul]\ndns = "{fleet.dns.address}"\nnode_name = "{name}"\n[nomad]\nwait = 5\n'
    )
    before = request_counts(fleet)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "blinkt_agent",
            "--config",
            str(config_path),
            "--display",
            "json",
            "once",
        ],
        env=agent_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    own = fleet.agent(name).address
    count = NAMES.index(name) % 4 + 1
    assert result.stderr == f"node {name}: {count} allocations ({count} running) via {own}\n"
    lit = [p for p in json.loads(result.stdout)["pixels"] if p["brightness"]]
    assert len(lit) == count
    assert list(asked_since(fleet, before)) == [name]

"""The service loop in-process: frames, STATUS lines and watchdog pings tied to progress."""

import threading
import time

import pytest
import requests

from blinkt_agent import config, mapping
from blinkt_agent.agent import Agent
from blinkt_agent.frame import Frame
from blinkt_agent.notify import Notifier
from blinkt_agent.watcher import Watcher


class Recorder:
    """Stands in for sdnotify's socket: keeps every message (the real socket is in test_cli)."""

    def __init__(self):
        self.messages: list[str] = []

    def notify(self, message: str) -> None:
        self.messages.append(message)

    def count(self, prefix: str) -> int:
        return sum(1 for m in self.messages if m.startswith(prefix))

    def statuses(self) -> list[str]:
        return [m[len("STATUS=") :] for m in self.messages if m.startswith("STATUS=")]


class Frames:
    """A display that keeps what it was asked to show; `block` makes show() hang."""

    def __init__(self):
        self.frames: list[Frame] = []
        self.block = threading.Event()
        self.closed = False

    def show(self, frame: Frame) -> None:
        if self.block.is_set():
            threading.Event().wait()  # a stuck SPI/GPIO write: never returns
        if not self.frames or self.frames[-1] != frame:
            self.frames.append(frame)

    def close(self) -> None:
        self.closed = True


def settings_for(cluster, **values):
    base = {
        "display": "json",
        "consul.dns": cluster.dns.address,
        "consul.node_name": "pi-01",
        "nomad.wait": 5.0,
        "nomad.backoff_max": 1.0,
    }
    base.update(values)
    return config.override(config.defaults(), base)


def start(agent):
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def recorder():
    return Recorder()


def notifier(recorder, watchdog_usec="300000"):
    return Notifier(recorder, environ={"WATCHDOG_USEC": watchdog_usec})


def test_ready_then_status_names_node_and_counts(sim_cluster, recorder):
    node = sim_cluster.local_node_id
    sim_cluster.nomad.add_alloc(node, "web", client_status="running")
    sim_cluster.nomad.add_alloc(node, "db", client_status="pending")
    display = Frames()
    stop, _ = start(Agent(settings_for(sim_cluster), display, notifier(recorder)))
    wait_for(lambda: any("2 allocations" in s for s in recorder.statuses()))
    stop.set()
    status = next(s for s in recorder.statuses() if "2 allocations" in s)
    assert recorder.messages.index("READY=1") < recorder.messages.index(f"STATUS={status}")
    own = sim_cluster.agent("pi-01").address  # its own client, not another Pi's
    assert status == f"node pi-01: 2 allocations (1 pending, 1 running) via {own}"
    palette = mapping.Palette.default()
    lit = [p for p in display.frames[-1] if not p.is_off]
    assert [(p.r, p.g, p.b) for p in lit] == [palette.running, palette.pending]


def test_ready_is_sent_while_nomad_is_still_unreachable(sim_cluster, recorder):
    sim_cluster.nomad.set_outage(True)
    display = Frames()
    stop, _ = start(Agent(settings_for(sim_cluster), display, notifier(recorder)))
    wait_for(lambda: any(s.startswith("waiting for Nomad") for s in recorder.statuses()))
    stop.set()
    assert "READY=1" in recorder.messages
    assert display.frames[-1] == mapping.status_frame("unreachable", 0.2)


def test_watchdog_pings_continue_through_a_long_blocking_query(sim_cluster, recorder):
    stop, _ = start(Agent(settings_for(sim_cluster), Frames(), notifier(recorder)))
    time.sleep(2.0)  # the blocking query (wait 5 s) is open all this time
    stop.set()
    assert recorder.count("WATCHDOG=1") >= 15  # every 0.1 s for WatchdogSec=0.3 s


def test_a_stuck_display_write_stops_the_pings(sim_cluster, recorder):
    display = Frames()
    stop, _ = start(Agent(settings_for(sim_cluster), display, notifier(recorder)))
    wait_for(lambda: recorder.count("WATCHDOG=1") > 2)
    display.block.set()
    time.sleep(0.5)
    before = recorder.count("WATCHDOG=1")
    time.sleep(1.0)
    stop.set()
    assert recorder.count("WATCHDOG=1") == before


def test_a_hung_request_stops_the_pings(sim_cluster, recorder, monkeypatch):
    monkeypatch.setattr(Watcher, "_step_timeout", lambda self, wait=0: 1.0)
    sim_cluster.nomad.hang_next(30)
    stop, _ = start(Agent(settings_for(sim_cluster), Frames(), notifier(recorder)))
    time.sleep(1.5)
    before = recorder.count("WATCHDOG=1")
    time.sleep(1.0)
    stop.set()
    assert 0 < before == recorder.count("WATCHDOG=1")


def test_no_watchdog_pings_without_watchdog_usec(sim_cluster, recorder):
    stop, _ = start(Agent(settings_for(sim_cluster), Frames(), Notifier(recorder, environ={})))
    time.sleep(0.8)
    stop.set()
    assert recorder.count("WATCHDOG=1") == 0


def test_stale_data_gives_way_to_the_unreachable_frame(sim_cluster, recorder):
    node = sim_cluster.local_node_id
    sim_cluster.nomad.add_alloc(node, "web", client_status="running")
    display = Frames()
    settings = settings_for(sim_cluster, stale_after=1.0, **{"nomad.wait": 1.0})
    stop, _ = start(Agent(settings, display, notifier(recorder)))
    wait_for(lambda: any("1 allocation" in s for s in recorder.statuses()))
    shown = display.frames[-1]
    sim_cluster.nomad.set_outage(True)
    wait_for(lambda: any("(showing last data)" in s for s in recorder.statuses()))
    assert display.frames[-1] == shown
    wait_for(lambda: display.frames[-1] == mapping.status_frame("unreachable", 0.2), timeout=6)
    sim_cluster.nomad.set_outage(False)
    wait_for(lambda: display.frames[-1] == shown, timeout=8)
    stop.set()


def test_reload_switches_mode_without_losing_the_node(sim_cluster, recorder):
    node = sim_cluster.local_node_id
    sim_cluster.nomad.add_alloc(node, "web", client_status="running", memory_mb=2048)
    display = Frames()
    settings = settings_for(sim_cluster)
    agent = Agent(settings, display, notifier(recorder))
    stop, _ = start(agent)
    wait_for(lambda: any("1 allocation" in s for s in recorder.statuses()))
    agent.reload(config.override(settings, {"mode": "memory"}))
    wait_for(lambda: any("memory 50% allocated" in s for s in recorder.statuses()))
    stop.set()
    assert "RELOADING=1" in recorder.messages
    node_json = requests.get(f"{sim_cluster.nomad.url}/v1/node/{node}", timeout=5).json()
    expected = mapping.resource_frame(node_json, sim_cluster.nomad.allocs(node), "memory", 0.2)
    assert display.frames[-1] == expected

"""The service loop in-process: frames, STATUS lines and watchdog pings tied to progress."""

import logging
import os
import signal
import threading
import time

import pytest
import requests

from blinkt_agent import config, mapping
from blinkt_agent.agent import Agent, signals_for, source_of
from blinkt_agent.errors import DisplayError, Unreachable
from blinkt_agent.frame import BLINKT, DARK, Frame
from blinkt_agent.notify import Notifier
from blinkt_agent.snapshot import Problem, Snapshot, Update
from blinkt_agent.sources.nomad.normalise import node_of
from blinkt_agent.sources.nomad.watcher import Watcher
from blinkt_agent.waker import Waker

UNREACHABLE = mapping.status_frame("unreachable", 0.2)


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
    """A display that keeps what it was asked to show; `block` makes show() hang
    (a stuck SPI/GPIO write) until `unblock` lets the test end its agent cleanly."""

    def __init__(self):
        self.frames: list[Frame] = []
        self.block = threading.Event()
        self.unblock = threading.Event()
        self.closed = False

    def show(self, frame: Frame) -> None:
        if self.block.is_set():
            self.unblock.wait()
        if not self.frames or self.frames[-1] != frame:
            self.frames.append(frame)

    shape = BLINKT

    def clear(self) -> None:
        self.show(DARK)

    def release(self) -> None:
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
    """The loop in a thread (agent.stop() ends it)."""
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    return agent, thread


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
    agent, _ = start(Agent(settings_for(sim_cluster), display, notifier(recorder)))
    wait_for(lambda: any("2 allocations" in s for s in recorder.statuses()))
    agent.stop()
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
    agent, _ = start(Agent(settings_for(sim_cluster), display, notifier(recorder)))
    wait_for(lambda: any(s.startswith("waiting for Nomad") for s in recorder.statuses()))
    agent.stop()
    assert "READY=1" in recorder.messages
    assert display.frames[-1] == UNREACHABLE


def test_watchdog_pings_continue_through_a_long_blocking_query(sim_cluster, recorder):
    agent, _ = start(Agent(settings_for(sim_cluster), Frames(), notifier(recorder)))
    time.sleep(2.0)  # the blocking query (wait 5 s) is open all this time
    agent.stop()
    assert recorder.count("WATCHDOG=1") >= 15  # every 0.1 s for WatchdogSec=0.3 s


def test_a_stuck_display_write_stops_the_pings(sim_cluster, recorder):
    display = Frames()
    agent, thread = start(Agent(settings_for(sim_cluster), display, notifier(recorder)))
    wait_for(lambda: recorder.count("WATCHDOG=1") > 2)
    display.block.set()
    time.sleep(0.5)
    before = recorder.count("WATCHDOG=1")
    time.sleep(1.0)
    agent.stop()
    time.sleep(0.2)
    assert recorder.count("WATCHDOG=1") == before and thread.is_alive()
    # Systemd's watchdog would kill this process now; here the write returns, and the
    # loop must still end and stop its source (no thread left to outlive the test).
    display.unblock.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_hung_request_stops_the_pings(sim_cluster, recorder, monkeypatch):
    monkeypatch.setattr(Watcher, "_step_timeout", lambda self, wait=0: 1.0)
    sim_cluster.nomad.hang_next(30)
    agent, _ = start(Agent(settings_for(sim_cluster), Frames(), notifier(recorder)))
    time.sleep(1.5)
    before = recorder.count("WATCHDOG=1")
    time.sleep(1.0)
    agent.stop()
    assert 0 < before == recorder.count("WATCHDOG=1")


def test_no_watchdog_pings_without_watchdog_usec(sim_cluster, recorder):
    agent, _ = start(Agent(settings_for(sim_cluster), Frames(), Notifier(recorder, environ={})))
    time.sleep(0.8)
    agent.stop()
    assert recorder.count("WATCHDOG=1") == 0


def test_stale_data_gives_way_to_the_unreachable_frame(sim_cluster, recorder):
    node = sim_cluster.local_node_id
    sim_cluster.nomad.add_alloc(node, "web", client_status="running")
    display = Frames()
    settings = settings_for(sim_cluster, stale_after=1.0, **{"nomad.wait": 1.0})
    agent, _ = start(Agent(settings, display, notifier(recorder)))
    wait_for(lambda: any("1 allocation" in s for s in recorder.statuses()))
    shown = display.frames[-1]
    sim_cluster.nomad.set_outage(True)
    wait_for(lambda: any("(showing last data)" in s for s in recorder.statuses()))
    assert display.frames[-1] == shown
    wait_for(lambda: display.frames[-1] == UNREACHABLE, timeout=6)
    sim_cluster.nomad.set_outage(False)
    wait_for(lambda: display.frames[-1] == shown, timeout=8)
    agent.stop()


def test_reload_switches_mode_without_losing_the_node(sim_cluster, recorder):
    node = sim_cluster.local_node_id
    sim_cluster.nomad.add_alloc(node, "web", client_status="running", memory_mb=2048)
    display = Frames()
    settings = settings_for(sim_cluster)
    agent = Agent(settings, display, notifier(recorder))
    start(agent)
    wait_for(lambda: any("1 allocation" in s for s in recorder.statuses()))
    agent.reload(config.override(settings, {"mode": "memory"}))
    wait_for(lambda: any("memory 50% allocated" in s for s in recorder.statuses()))
    agent.stop()
    assert "RELOADING=1" in recorder.messages
    node_json = requests.get(f"{sim_cluster.nomad.url}/v1/node/{node}", timeout=5).json()
    expected = mapping.resource_frame(
        node_of("pi-01", node_json, sim_cluster.nomad.allocs(node), with_capacity=True),
        "memory",
        0.2,
    )
    assert display.frames[-1] == expected


class CountingWaker(Waker):
    """The loop's real waker, counting how often the loop comes out of its sleep."""

    def __init__(self):
        super().__init__()
        self.wakeups = 0

    def wait(self, timeout):
        woken = super().wait(timeout)
        self.wakeups += 1
        return woken


def quiet(recorder):
    """A notifier outside systemd: no watchdog pings that would wake the loop."""
    return Notifier(recorder, environ={})


def last_status(recorder):
    statuses = recorder.statuses()
    return statuses[-1] if statuses else ""


def shows_node(recorder, what="1 allocation"):
    return lambda: last_status(recorder).startswith(f"node pi-01: {what}")


def test_recovers_as_soon_as_nomad_answers_with_the_default_wait(sim_cluster, recorder):
    sim_cluster.nomad.add_alloc(sim_cluster.local_node_id, "web", client_status="running")
    display = Frames()
    settings = settings_for(sim_cluster, stale_after=1.0, **{"nomad.wait": 300.0})
    agent, _ = start(Agent(settings, display, quiet(recorder)))
    wait_for(shows_node(recorder))
    shown = display.frames[-1]
    sim_cluster.nomad.set_outage(True)
    wait_for(lambda: display.frames[-1] == UNREACHABLE, timeout=4)
    sim_cluster.nomad.set_outage(False)
    # Nothing changed in Nomad: a query blocking on the old index would hold this for 300 s.
    wait_for(lambda: display.frames[-1] == shown and shows_node(recorder)(), timeout=3)
    agent.stop()


def test_stale_after_counts_from_the_first_failure(sim_cluster, recorder):
    sim_cluster.nomad.add_alloc(sim_cluster.local_node_id, "web", client_status="running")
    display = Frames()
    settings = settings_for(sim_cluster, stale_after=2.0, **{"nomad.wait": 300.0})
    agent, _ = start(Agent(settings, display, quiet(recorder)))
    wait_for(shows_node(recorder))
    shown = display.frames[-1]
    time.sleep(2.5)  # longer than stale_after, all in one open blocking query
    lost = time.monotonic()
    sim_cluster.nomad.set_outage(True)
    wait_for(lambda: last_status(recorder).endswith("(showing last data)"))
    assert display.frames[-1] == shown  # the grace period applies
    wait_for(lambda: display.frames[-1] == UNREACHABLE, timeout=5)  # by time alone
    agent.stop()
    assert time.monotonic() - lost >= 2.0
    assert not last_status(recorder).endswith("(showing last data)")


class Scripted:
    """A source that posts the given events, then stays quiet (healthy) until stopped."""

    def __init__(self, *events):
        self.events = events
        self.stopped = threading.Event()

    def __call__(self, settings, post):
        self.post = post
        return self

    def run(self):
        for event in self.events:
            self.post(event)
        self.stopped.wait()

    def check(self):
        self.post(self.events[0])

    def healthy(self):
        return True

    def stop(self):
        self.stopped.set()


def snapshot(*allocations):
    node = node_of("pi-01", None, list(allocations), node_id="n1")
    return Snapshot(nodes=(node,), address="127.0.0.1:4646", via="static")


def test_the_last_data_goes_stale_by_time_alone(recorder):
    running = {"ID": "a1", "CreateIndex": 1, "ClientStatus": "running", "DesiredStatus": "run"}
    down = Unreachable("Nomad 127.0.0.1:4646: connection refused")
    watcher = Scripted(Update(snapshot(running)), Problem(down, 30.0))
    settings = config.override(config.defaults(), {"display": "json", "stale_after": 1.0})
    display = Frames()
    agent, _ = start(Agent(settings, display, quiet(recorder), make_source=watcher))
    wait_for(lambda: last_status(recorder).endswith("(showing last data)"))
    assert display.frames[-1] != UNREACHABLE
    wait_for(lambda: display.frames[-1] == UNREACHABLE, timeout=3)  # no event, no ping
    agent.stop()
    assert last_status(recorder) == f"waiting for Nomad: {down}, retry in 30 s"


class FailingFirst:
    """make_source for the Agent: the first call fails, the second returns a watcher
    whose thread fails (dnspython's ValueError for a host name, as with
    consul.dns = "localhost:8600"), then real watchers."""

    def __init__(self):
        self.calls = 0

    def __call__(self, settings, post):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("injected: the watcher cannot be built")
        watcher = source_of(settings, post)
        if self.calls == 2:

            def address():
                raise ValueError("'localhost' is not a valid IP address")

            watcher._locator.address = address  # type: ignore[attr-defined]
        return watcher


def test_a_failing_nomad_thread_is_logged_shown_and_restarted(sim_cluster, recorder, caplog):
    sim_cluster.nomad.add_alloc(sim_cluster.local_node_id, "web", client_status="running")
    display = Frames()
    make_source = FailingFirst()
    agent = Agent(settings_for(sim_cluster), display, notifier(recorder), make_source=make_source)
    with caplog.at_level(logging.ERROR, logger="blinkt_agent"):
        start(agent)
        wait_for(lambda: any("ValueError" in s for s in recorder.statuses()))
        pings = recorder.count("WATCHDOG=1")
        wait_for(shows_node(recorder), timeout=5)
    agent.stop()
    statuses = recorder.statuses()
    failed = [s for s in statuses if "internal error in the Nomad thread" in s]
    assert any("RuntimeError: injected" in s for s in failed)
    assert any("ValueError: 'localhost' is not a valid IP address" in s for s in failed)
    assert UNREACHABLE in display.frames  # the unreachable pattern while it failed
    assert make_source.calls == 3
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert {type(r.exc_info[1]) for r in tracebacks} == {RuntimeError, ValueError}
    assert recorder.count("WATCHDOG=1") > pings  # a restarting thread is not a stuck one


def test_an_idle_loop_sleeps(sim_cluster, recorder):
    waker = CountingWaker()
    agent, _ = start(Agent(settings_for(sim_cluster), Frames(), quiet(recorder), waker=waker))
    wait_for(shows_node(recorder, "no allocations"))
    time.sleep(0.3)
    before = waker.wakeups
    time.sleep(2.0)  # the blocking query is open; nothing can change
    idle = waker.wakeups - before
    agent.stop()
    assert idle == 0


def test_with_a_watchdog_the_loop_wakes_once_per_ping(sim_cluster, recorder):
    waker = CountingWaker()
    agent, _ = start(Agent(settings_for(sim_cluster), Frames(), notifier(recorder), waker=waker))
    wait_for(shows_node(recorder, "no allocations"))
    time.sleep(0.3)
    before, pings = waker.wakeups, recorder.count("WATCHDOG=1")
    time.sleep(2.0)
    wakeups, pings = waker.wakeups - before, recorder.count("WATCHDOG=1") - pings
    agent.stop()
    assert pings >= 15  # every 0.1 s
    assert wakeups <= pings + 2


def test_a_lingering_failure_drops_out_by_time_alone(sim_cluster, recorder):
    node = sim_cluster.local_node_id
    sim_cluster.nomad.add_alloc(node, "web", client_status="running")
    sim_cluster.nomad.add_alloc(node, "batch", client_status="failed")
    display = Frames()
    agent, _ = start(Agent(settings_for(sim_cluster, linger=1.0), display, quiet(recorder)))
    wait_for(shows_node(recorder, "2 allocations (1 running, 1 failed)"))
    wait_for(shows_node(recorder, "1 allocation (1 running)"), timeout=3)
    agent.stop()
    palette = mapping.Palette.default()
    assert [(p.r, p.g, p.b) for p in display.frames[-1] if not p.is_off] == [palette.running]


def test_signals_wake_the_sleeping_loop(sim_cluster, recorder, caplog):
    settings = settings_for(sim_cluster, **{"nomad.wait": 300.0})  # no answer wakes the loop
    reloaded = config.override(settings, {"mode": "memory"})
    agent = Agent(settings, Frames(), quiet(recorder), load_settings=lambda: reloaded)
    previous = signal.getsignal(signal.SIGTERM)
    returned, late = threading.Event(), []

    def send_signals():
        try:
            wait_for(shows_node(recorder, "no allocations"))
            time.sleep(0.3)  # asleep: no watchdog, nothing ages
            os.kill(os.getpid(), signal.SIGHUP)
            wait_for(lambda: "memory" in last_status(recorder))
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            if not returned.wait(5):
                late.append(True)
                agent.stop()  # the signals did not wake the loop: end the test, which fails

    threading.Thread(target=send_signals, daemon=True).start()
    with caplog.at_level(logging.INFO, logger="blinkt_agent"), signals_for(agent):
        agent.run()  # in the main thread, where Python runs signal handlers
    returned.set()
    assert not late
    assert "SIGTERM: clearing the LEDs and stopping" in caplog.text
    assert recorder.messages.count("READY=1") == 2 and "RELOADING=1" in recorder.messages
    assert signal.getsignal(signal.SIGTERM) is previous


class Unplugged(Frames):
    """A hardware display whose device went away: every write fails."""

    def show(self, frame: Frame) -> None:
        raise DisplayError("display = blinkstick: the BlinkStick BS000001-3.0 is gone")


def test_a_hardware_display_lost_mid_run_is_opened_again_and_the_watchdog_keeps_going(
    sim_cluster, recorder
):
    sim_cluster.nomad.add_alloc(sim_cluster.local_node_id, "web", client_status="running")
    plugged_back = Frames()
    opened = []

    def reopen(settings):
        opened.append(settings["display"])
        if len(opened) < 2:  # still unplugged at the first try
            raise DisplayError("display = blinkstick: no BlinkStick found")
        return plugged_back

    gone = Unplugged()
    settings = settings_for(sim_cluster, display="blinkstick")
    agent = Agent(settings, gone, notifier(recorder), open_display=reopen)
    agent._reopens.base = 0.05  # the retry's first steps, short for a test
    start(agent)
    wait_for(lambda: plugged_back.frames, timeout=10)
    agent.stop()
    assert gone.closed and opened == ["blinkstick", "blinkstick"]
    assert any(
        s.startswith("display: display = blinkstick: the BlinkStick") for s in recorder.statuses()
    )
    assert any("no BlinkStick found, retry in" in s for s in recorder.statuses())
    assert recorder.count("WATCHDOG=1") > 0
    palette = mapping.Palette.default()
    assert [(p.r, p.g, p.b) for p in plugged_back.frames[-1] if not p.is_off] == [palette.running]


def test_stopping_while_the_display_is_lost_does_not_write_to_it(sim_cluster, recorder):
    never_back = Unplugged()

    def reopen(settings):
        raise DisplayError("display = blinkstick: no BlinkStick found")

    settings = settings_for(sim_cluster, display="blinkstick")
    agent, thread = start(Agent(settings, never_back, notifier(recorder), open_display=reopen))
    wait_for(lambda: any(s.startswith("display: ") for s in recorder.statuses()))
    agent.stop()
    thread.join(timeout=5)
    agent.close_display()  # as `run` does on the way out: no write to the lost device
    assert never_back.closed and never_back.frames == []


def test_a_terminal_that_goes_away_still_ends_the_agent(sim_cluster, recorder):
    gone = Unplugged()
    agent = Agent(settings_for(sim_cluster, display="terminal"), gone, notifier(recorder))
    with pytest.raises(DisplayError):
        agent.run()
    assert agent._source is None  # its thread was told to stop

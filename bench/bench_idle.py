"""What an idle agent costs: wakeups and CPU time in 20 s when nothing changes.

`blinkt-agent run` runs as a subprocess against the simulated cluster with
the default `nomad.wait` (300 s), so its blocking query stays open the whole
time. Two counts:

- context switches of the whole process (every thread, from /proc): each time
  any thread wakes up and goes back to sleep counts at least once, so hidden
  polling anywhere (a timer thread, a loop in a library) shows up here;
- wakeups of the service loop itself, counted in-process by the Agent's
  injected waker (`wait()` calls), the number the goal is stated in.
"""

from __future__ import annotations

import threading
import time

from bench.agent_process import AgentProcess
from blinkt_agent import config
from blinkt_agent.agent import Agent
from blinkt_agent.frame import BLINKT
from blinkt_agent.notify import Notifier
from blinkt_agent.sim import SimCluster
from blinkt_agent.waker import Waker

IDLE_SECONDS = 20.0
SHIPPED_WATCHDOG_USEC = 30_000_000  # WatchdogSec=30 in debian/blinkt-agent.service


class CountingWaker(Waker):
    """The loop's real waker, counting how often the loop comes out of select()."""

    wakeups = 0

    def wait(self, timeout):
        woken = super().wait(timeout)
        self.wakeups += 1
        return woken


class Silent:
    def notify(self, message):
        pass


class NoDisplay:
    shape = BLINKT

    def clear(self) -> None:
        pass

    def release(self) -> None:
        pass

    def show(self, frame):
        pass


def idle_process(watchdog_usec: int | None) -> tuple[int, float]:
    """(context switches, CPU seconds) of the agent process over IDLE_SECONDS."""
    with SimCluster(nodes=("pi-01",)) as cluster, AgentProcess(cluster, "", watchdog_usec) as agent:
        cluster.nomad.add_alloc(cluster.local_node_id, "web", client_status="running")
        if agent.wait_for_status("node pi-01: 1 allocation") == float("inf"):
            raise RuntimeError("the agent never showed the allocation")
        time.sleep(1.0)  # settled: start-up work done, the blocking query open
        cpu0, switches0 = agent.cost()
        time.sleep(IDLE_SECONDS)
        cpu1, switches1 = agent.cost()
    return switches1 - switches0, cpu1 - cpu0


def idle_loop(watchdog_usec: int | None) -> int:
    """Service-loop wakeups over IDLE_SECONDS, counted by an injected waker."""
    environ = {} if watchdog_usec is None else {"WATCHDOG_USEC": str(watchdog_usec)}
    with SimCluster(nodes=("pi-01",)) as cluster:
        cluster.nomad.add_alloc(cluster.local_node_id, "web", client_status="running")
        settings = config.override(
            config.defaults(),
            {"display": "json", "consul.dns": cluster.dns.address, "consul.node_name": "pi-01"},
        )
        waker = CountingWaker()
        agent = Agent(settings, NoDisplay(), Notifier(Silent(), environ=environ), waker=waker)
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        time.sleep(1.0)
        before = waker.wakeups
        time.sleep(IDLE_SECONDS)
        wakeups = waker.wakeups - before
        agent.stop()
        thread.join(5)
    return wakeups


def main():
    for label, usec in (("outside systemd", None), ("WatchdogSec=30", SHIPPED_WATCHDOG_USEC)):
        switches, cpu = idle_process(usec)
        loop = idle_loop(usec)
        goal = "" if usec is None else f" (pings due: {IDLE_SECONDS / (usec / 3e6):.0f})"
        print(
            f"idle {IDLE_SECONDS:.0f} s, {label:15s}  loop wakeups {loop:3d}{goal:15s}  "
            f"process context switches {switches:4d}   CPU {cpu * 1000:6.1f} ms"
        )


if __name__ == "__main__":
    main()

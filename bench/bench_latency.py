"""End-to-end latency: a change in the simulated Nomad → the new frame on the display.

The real pipeline runs in-process (Consul DNS discovery, a blocking query woken by
the change, mapping, the service loop); the display stamps the time each frame
arrives. This is the delay a user sees in `make demo` (minus terminal drawing,
which bench_display measures).

Two spacings: changes a second and more apart (the blocking query is open when the
change comes: the delay is the pipeline's), and changes 50 ms apart (each answer
comes at once and the next query starts at once: a blocking server is not paced).
"""

import statistics
import threading
import time

from blinkt_agent import config
from blinkt_agent.agent import Agent
from blinkt_agent.frame import BLINKT
from blinkt_agent.notify import Notifier
from blinkt_agent.sim import SimCluster


class StampingDisplay:
    shape = BLINKT

    def clear(self) -> None:
        pass

    def release(self) -> None:
        pass

    def __init__(self):
        self.changed = threading.Condition()
        self.count = 0
        self.last = None

    def show(self, frame):
        if frame != self.last:
            with self.changed:
                self.last = frame
                self.count += 1
                self.stamp = time.perf_counter()
                self.changed.notify_all()


class Silent:
    def notify(self, message):
        pass


def measure(rounds, spacing):
    with SimCluster(nodes=("pi-01",)) as cluster:
        settings = config.override(
            config.defaults(),
            {"display": "json", "consul.dns": cluster.dns.address, "consul.node_name": "pi-01"},
        )
        display = StampingDisplay()
        agent = Agent(settings, display, Notifier(Silent(), environ={}))
        threading.Thread(target=agent.run, daemon=True).start()
        node = cluster.local_node_id
        alloc = cluster.nomad.add_alloc(node, "bench", client_status="pending")
        time.sleep(1.5)  # first answer in, blocking query open
        delays = []
        for i in range(rounds):
            with display.changed:
                before = display.count
                started = time.perf_counter()
                cluster.nomad.update_alloc(alloc, client_status="running" if i % 2 else "pending")

                def advanced(before: int = before) -> bool:
                    return display.count > before

                display.changed.wait_for(advanced, timeout=5)
                delays.append((display.stamp - started) * 1000)
            time.sleep(spacing)
        agent.stop()
    print(
        f"change → frame latency over {rounds} changes {spacing * 1000:.0f} ms after the last "
        f"frame: median {statistics.median(delays):.1f} ms, "
        f"p95 {statistics.quantiles(delays, n=20)[-1]:.1f} ms, max {max(delays):.1f} ms"
    )


def main():
    measure(rounds=12, spacing=1.1)
    measure(rounds=40, spacing=0.05)


if __name__ == "__main__":
    main()

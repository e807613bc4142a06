"""Recovery after a Nomad outage: Nomad back → LEDs and STATUS back.

`blinkt-agent run` runs as a subprocess (as systemd runs it) against the
simulated cluster with the default `nomad.wait` (300 s) and backoff, and
`stale_after = 1` so that the outage turns the LEDs to the amber
"unreachable" pattern. Nothing changes in the cluster during the outage:
the case where the first query after it used to block on the old index.

Printed per round, from the moment the simulated Nomad port is back:
- first request: when the agent's next try reaches Nomad (its backoff);
- STATUS / LEDs: when the agent's STATUS names the node again and the
  allocation's frame is back on its (JSON) display.
"""

from __future__ import annotations

import statistics
import time

from bench.agent_process import AgentProcess
from blinkt_agent.frame import BLINKT
from blinkt_agent.layout.strip import STATUS_COLOURS, status_leds
from blinkt_agent.mapping import Palette
from blinkt_agent.sim import SimCluster

OUTAGE_SECONDS = 5.0
GIVE_UP = 30.0  # before the fix recovery took up to nomad.wait (300 s): do not wait that long


def one_round(cluster: SimCluster, agent: AgentProcess) -> tuple[float, float, float]:
    colour, leds = STATUS_COLOURS["unreachable"], status_leds("unreachable", BLINKT.size)
    unreachable = (colour,) * len(leds)
    running = (Palette.default().running,)
    down = time.monotonic()
    cluster.nomad.set_outage(True)
    # (already amber when a previous round never recovered)
    if agent.last_frame() != unreachable and agent.wait_for_frame(unreachable, after=down) > 1e9:
        raise RuntimeError("the outage never showed the unreachable pattern")
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down)))
    back = time.monotonic()
    cluster.nomad.set_outage(False)
    status = agent.wait_for_status("node pi-01: 1 allocation", after=back, timeout=GIVE_UP)
    frame = agent.wait_for_frame(running, after=back, timeout=max(0.1, GIVE_UP - (status - back)))
    # The simulator stamps each request with time.monotonic() as it arrives.
    first = min((r.at for r in cluster.nomad.request_log if r.at >= back), default=float("inf"))
    return first - back, status - back, frame - back


def main(rounds: int = 3):
    with SimCluster(nodes=("pi-01",)) as cluster:
        cluster.nomad.add_alloc(cluster.local_node_id, "web", client_status="running")
        with AgentProcess(cluster, "stale_after = 1\n") as agent:
            agent.wait_for_status("node pi-01: 1 allocation")
            time.sleep(1.0)  # the blocking query (wait 300 s) is open
            results = [one_round(cluster, agent) for _ in range(rounds)]
    names = ("first request", "STATUS back", "LEDs back")
    for name, column in zip(names, zip(*results, strict=True), strict=True):
        shown = ", ".join(f"{s:.2f}" if s != float("inf") else f">{GIVE_UP:.0f}" for s in column)
        print(
            f"after a {OUTAGE_SECONDS:.0f} s outage, Nomad back → {name:13s} "
            f"median {statistics.median(column):6.2f} s  (rounds: {shown} s)"
        )
    pipeline = [max(s, f) - r for r, s, f in results]
    print(
        f"first request → LEDs and STATUS back (the agent's own part)  "
        f"median {statistics.median(pipeline) * 1000:8.1f} ms"
    )


if __name__ == "__main__":
    main()

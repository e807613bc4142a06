"""`python -m blinkt_agent.sim`: a simulated cluster as its own process, for system tests.

Prints one line, `sim: nomad http://HOST:PORT dns HOST:PORT nodes=a,b`, then serves until
SIGTERM/SIGINT. Drive it through the control API under /_sim/ (see blinkt_agent.sim.nomad).
"""

import argparse
import signal
import sys
import threading

from blinkt_agent.sim.cluster import SimCluster
from blinkt_agent.sim.nomad import ALL_CAPABILITIES, RESOURCES_SHAPES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blinkt_agent.sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--nomad-port", type=int, default=4646, help="0 picks a free port")
    parser.add_argument("--dns-port", type=int, default=8600, help="0 picks a free port")
    parser.add_argument(
        "--node", action="append", help="node name, repeatable; the first is the local node"
    )
    parser.add_argument("--allocs", type=int, default=0, help="running allocs on the first node")
    parser.add_argument("--token", help="enable ACLs; this secret gets every capability")
    parser.add_argument("--resources-shape", choices=RESOURCES_SHAPES, default="new")
    args = parser.parse_args(argv)

    nodes = args.node or ["pi-01"]
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    tokens = {args.token: set(ALL_CAPABILITIES)} if args.token else None
    cluster = SimCluster(
        nodes, tokens, args.resources_shape, args.host, args.nomad_port, args.dns_port
    )
    with cluster:
        first = cluster.node_ids[nodes[0]]
        for i in range(args.allocs):
            cluster.nomad.add_alloc(first, f"app-{i + 1}", client_status="running")
        print(
            f"sim: nomad {cluster.nomad.url} dns {cluster.dns.address} nodes={','.join(nodes)}",
            flush=True,
        )
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

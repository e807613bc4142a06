"""`python -m blinkt_agent.sim`: a simulated cluster as its own process, for system tests.

Prints one line,
`sim: nomad http://HOST:PORT dns HOST:PORT nodes=a,b agents=a@HOST:PORT,b@HOST:PORT`,
then serves until SIGTERM/SIGINT. `nomad` is the server agent; every node has its own
client agent (`agents`), advertised in DNS. Drive it through the control API under
/_sim/ on any of those ports (see blinkt_agent.sim.nomad.control).
"""

import argparse
import signal
import sys
import threading

from blinkt_agent.sim.cluster import SimCluster
from blinkt_agent.sim.nomad import INDEX_HEADERS, RESOURCES_SHAPES
from blinkt_agent.sources.nomad.client import ACL_POLICY


def node_spec(text: str) -> tuple[str, str | None]:
    """NAME or NAME=HOST: the node and the address its client agent listens on."""
    name, _, host = text.partition("=")
    if not name:
        raise argparse.ArgumentTypeError(f"--node {text!r}: expected NAME or NAME=HOST")
    return name, host or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blinkt_agent.sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--nomad-port", type=int, default=4646, help="server agent; 0 = free")
    parser.add_argument("--dns-port", type=int, default=8600, help="0 picks a free port")
    parser.add_argument(
        "--node",
        action="append",
        type=node_spec,
        help="NAME or NAME=HOST (its client agent's address), repeatable; the first is local",
    )
    parser.add_argument(
        "--agent-port", type=int, default=0, help="port of every client agent; 0 = free ones"
    )
    parser.add_argument("--allocs", type=int, default=0, help="running allocs on the first node")
    parser.add_argument(
        "--token", help="enable ACLs; this secret gets blinkt-agent's policy (nomad.ACL_POLICY)"
    )
    parser.add_argument(
        "--legacy-acl",
        action="store_true",
        help='unknown tokens answer 403 "ACL token not found", as Nomad before 1.5',
    )
    parser.add_argument("--resources-shape", choices=RESOURCES_SHAPES, default="new")
    parser.add_argument(
        "--index-header",
        choices=INDEX_HEADERS,
        default="nomad",
        help="absent/zero: play a proxy that strips X-Nomad-Index",
    )
    parser.add_argument(
        "--no-blocking", action="store_true", help="answer blocking queries at once"
    )
    args = parser.parse_args(argv)

    nodes = args.node or [("pi-01", None)]
    names = [name for name, _ in nodes]
    hosts = {name: host for name, host in nodes if host}
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    tokens = {args.token: ACL_POLICY} if args.token else None
    cluster = SimCluster(
        names,
        tokens,
        args.resources_shape,
        args.host,
        args.nomad_port,
        args.dns_port,
        node_hosts=hosts,
        agent_port=args.agent_port,
    )
    with cluster:
        cluster.nomad.store.acl.legacy_token_not_found = args.legacy_acl
        cluster.nomad.set_proxy(args.index_header, not args.no_blocking)
        first = cluster.local_node_id
        for i in range(args.allocs):
            cluster.nomad.add_alloc(first, f"app-{i + 1}", client_status="running")
        agents = ",".join(f"{name}@{cluster.agent(name).address}" for name in names)
        print(
            f"sim: nomad {cluster.nomad.url} dns {cluster.dns.address} "
            f"nodes={','.join(names)} agents={agents}",
            flush=True,
        )
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

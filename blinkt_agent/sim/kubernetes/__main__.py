"""`python -m blinkt_agent.sim.kubernetes`: one simulated k3s API server as its own process.

Prints one line, `sim-kubernetes: URL admin-token=TOKEN nodes=a,b pods=N` (with TLS also
`ca=FILE cert=FILE key=FILE`: the files it was given), then serves until SIGTERM or
SIGINT. Drive it through /_sim/ on the same port (blinkt_agent.sim.kubernetes.control).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from blinkt_agent.sim.kubernetes import STATES, SimKubernetes, TLSFiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m blinkt_agent.sim.kubernetes", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6443, help="0 picks a free port")
    parser.add_argument("--node", action="append", help="a node name, repeatable (default pi-01)")
    parser.add_argument("--pods", type=int, default=0, help="Running pods of a Deployment `web`")
    parser.add_argument("--pod-state", choices=STATES, default="Running")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--tls-cert", help="server certificate (PEM); with --tls-key: HTTPS")
    parser.add_argument("--tls-key")
    parser.add_argument("--client-ca", help="CA that signs client certificates")
    parser.add_argument("--token", action="append", default=[], metavar="TOKEN=USER")
    parser.add_argument("--rbac", help="a YAML file of RBAC manifests and ServiceAccounts")
    parser.add_argument("--anonymous", action="store_true", help="--anonymous-auth=true")
    parser.add_argument("--bookmark-interval", type=float, default=60.0)
    parser.add_argument("--too-old", choices=("event", "http"), default="event")
    args = parser.parse_args(argv)

    tls = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            parser.error("--tls-cert and --tls-key go together")
        tls = TLSFiles(args.tls_cert, args.tls_key, args.client_ca)
    tokens = {}
    for spec in args.token:
        token, _, user = spec.partition("=")
        if not (token and user):
            parser.error(f"--token {spec!r}: expected TOKEN=USER")
        tokens[token] = user
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sim = SimKubernetes(
        args.host,
        args.port,
        tls=tls,
        anonymous=args.anonymous,
        tokens=tokens,
        bookmark_interval=args.bookmark_interval,
        too_old=args.too_old,
    )
    nodes = args.node or ["pi-01"]
    with sim:
        if args.rbac:
            with open(args.rbac, encoding="utf-8") as f:
                sim.load_rbac(f.read())
        for name in nodes:
            sim.add_node(name)
        if args.pods:
            sim.scale(args.namespace, "web", args.pods, nodes[0], args.pod_state)
        files = f" ca={args.client_ca} cert={args.tls_cert} key={args.tls_key}" if tls else ""
        print(
            f"sim-kubernetes: {sim.url} admin-token={sim.admin_token} "
            f"nodes={','.join(nodes)} pods={args.pods}{files}",
            flush=True,
        )
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the simulated Nomad puts on the wire, and what the watcher asks of it.

- bytes of GET /v1/node/:id/allocations for 1, 8 and 30 allocations, plain and gzip
  (Nomad compresses every answer when asked; requests asks by default);
- requests the watcher sends in a few seconds to a node with one allocation when the
  answers carry no X-Nomad-Index (a stripping proxy), a zero index, do not block, or do not
  block and carry another index every time (a round-robin proxy over servers whose indexes
  differ; here: an index that moves 50 times a second while nothing visible changes).
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from blinkt_agent.sim.nomad import SimNomad, Task
from blinkt_agent.sources.nomad.client import NomadClient
from blinkt_agent.sources.nomad.discovery import NomadLocator
from blinkt_agent.sources.nomad.watcher import Watcher, WatchOptions


def wire_sizes() -> None:
    for count in (1, 8, 30):
        with SimNomad() as sim:
            node = sim.add_node("pi-01")
            for i in range(count):
                tasks = [Task("init", cpu=200, hook="prestart"), Task(f"app{i}", cpu=500)]
                sim.add_alloc(node, f"job{i}", tasks=tasks, client_status="running")
            sizes = {}
            for encoding in ("identity", "gzip"):
                response = requests.get(
                    f"{sim.url}/v1/node/{node}/allocations",
                    headers={"Accept-Encoding": encoding},
                    stream=True,
                    timeout=5,
                )
                sizes[encoding] = len(response.raw.read(decode_content=False))
        print(
            f"allocations answer, {count:2d} allocation(s): {sizes['identity']} B plain, "
            f"{sizes['gzip']} B gzip ({sizes['gzip'] / sizes['identity']:.0%})"
        )


def _churn(sim: SimNomad, node: str, stop: threading.Event) -> None:
    """Move the node's allocations index 50 times a second: a client status update of a
    "complete" allocation (not shown, so nothing on the LEDs changes)."""
    alloc = sim.add_alloc(node, "batch", client_status="complete", desired_status="stop")
    while not stop.is_set():
        sim.update_alloc(alloc, client_status="complete")
        stop.wait(0.02)


def request_rate(seconds: float = 5.0) -> None:
    for label, proxy, churn in (
        ("X-Nomad-Index stripped", {"index_header": "absent"}, False),
        ("X-Nomad-Index: 0", {"index_header": "zero"}, False),
        ("server does not block", {"blocking": False}, False),
        ("does not block, index moves 50/s", {"blocking": False}, True),
        ("real Nomad (idle node)", {}, False),
        ("real Nomad, index moves 50/s", {}, True),
    ):
        with SimNomad() as sim:
            node = sim.add_node("pi-01")
            sim.add_alloc(node, "web", client_status="running")  # index > 1
            sim.set_proxy(**proxy)
            stop = threading.Event()
            if churn:
                threading.Thread(target=_churn, args=(sim, node, stop), daemon=True).start()
            options = WatchOptions(own_node="pi-01", wait=60)
            locator = NomadLocator(None, sim.url, own_node="pi-01")
            watcher = Watcher(options, locator, NomadClient, lambda event: None)
            thread = threading.Thread(target=watcher.run, daemon=True)
            started = time.monotonic()
            thread.start()
            time.sleep(seconds)
            watcher.stop()
            stop.set()
            calls = [r for r in sim.request_log if r.path.endswith("/allocations")]
            elapsed = time.monotonic() - started
        print(
            f"watcher, {label}: {len(calls)} allocation requests in {elapsed:.1f} s "
            f"({len(calls) / elapsed:.1f}/s)"
        )


class _RoundRobin(BaseHTTPRequestHandler):
    """A proxy over two servers whose indexes differ, answering at once: every answer
    carries the other index (the one node, "n1", named pi-01, no allocations)."""

    hits = 0

    def do_GET(self) -> None:
        type(self).hits += "/allocations" in self.path
        body: object = []
        if self.path.startswith("/v1/agent/self"):
            body = {"stats": {"client": {"node_id": "n1", "num_allocations": "0"}}}
        elif self.path.startswith("/v1/node/n1") and "/allocations" not in self.path:
            body = {"ID": "n1", "Name": "pi-01"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("X-Nomad-Index", str(7 + type(self).hits % 2))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def round_robin_rate(seconds: float = 5.0) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RoundRobin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    watcher = Watcher(
        WatchOptions(own_node="pi-01", wait=60),
        NomadLocator(None, url, own_node="pi-01"),
        NomadClient,
        lambda event: None,
    )
    started = time.monotonic()
    threading.Thread(target=watcher.run, daemon=True).start()
    time.sleep(seconds)
    watcher.stop()
    elapsed = time.monotonic() - started
    server.shutdown()
    server.server_close()
    calls = _RoundRobin.hits
    print(
        f"watcher, round-robin proxy (another index on every answer): {calls} allocation "
        f"requests in {elapsed:.1f} s ({calls / elapsed:.1f}/s)"
    )


def main() -> None:
    wire_sizes()
    request_rate()
    round_robin_rate()


if __name__ == "__main__":
    main()

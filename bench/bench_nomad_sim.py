"""What the simulated Nomad puts on the wire, and what the watcher asks of it.

- bytes of GET /v1/node/:id/allocations for 1, 8 and 30 allocations, plain and gzip
  (Nomad compresses every answer when asked; requests asks by default);
- requests the watcher sends in a few seconds to a node with one allocation when the
  answers carry no X-Nomad-Index (a stripping proxy), a zero index, or do not block.
"""

import threading
import time

import requests

from blinkt_agent.discovery import NomadLocator
from blinkt_agent.nomad import NomadClient
from blinkt_agent.sim.nomad import SimNomad, Task
from blinkt_agent.watcher import Watcher, WatchOptions


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


def request_rate(seconds: float = 5.0) -> None:
    for label, proxy in (
        ("X-Nomad-Index stripped", {"index_header": "absent"}),
        ("X-Nomad-Index: 0", {"index_header": "zero"}),
        ("server does not block", {"blocking": False}),
        ("real Nomad (idle node)", {}),
    ):
        with SimNomad() as sim:
            node = sim.add_node("pi-01")
            sim.add_alloc(node, "web", client_status="running")  # index > 1
            sim.set_proxy(**proxy)
            options = WatchOptions(own_node="pi-01", wait=60)
            locator = NomadLocator(None, sim.url, own_node="pi-01")
            watcher = Watcher(options, locator, NomadClient, lambda event: None)
            thread = threading.Thread(target=watcher.run, daemon=True)
            started = time.monotonic()
            thread.start()
            time.sleep(seconds)
            watcher.stop.set()
            calls = [r for r in sim.request_log if r.path.endswith("/allocations")]
            elapsed = time.monotonic() - started
        print(f"watcher, {label}: {len(calls)} allocation requests in {elapsed:.1f} s")


def main() -> None:
    wire_sizes()
    request_rate()


if __name__ == "__main__":
    main()

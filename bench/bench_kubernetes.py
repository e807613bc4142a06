"""The Kubernetes source against the simulated API server: latency, idle cost, re-lists.

- change → frame: a pod's state changes in the simulator; the real pipeline (list +
  watch, normalise, mapping, the service loop) shows it; the display stamps the frame.
- idle: requests and bytes while nothing changes, with the default watch timeout
  (a watch per 300-600 s and collection) and a short one that shows the rhythm.
- re-list after 410: compaction and a cut watch; the time until the fresh list is shown,
  and the requests it took.
"""

import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.bench_latency import Silent, StampingDisplay
from blinkt_agent import config
from blinkt_agent.agent import Agent
from blinkt_agent.notify import Notifier
from blinkt_agent.sim.kubernetes import SimKubernetes


def kubeconfig(sim, directory):
    path = Path(directory) / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: k\n"
        f"clusters:\n- name: k\n  cluster: {{server: '{sim.url}'}}\n"
        f"users:\n- name: k\n  user: {{token: '{sim.admin_token}'}}\n"
        "contexts:\n- name: k\n  context: {cluster: k, user: k}\n"
    )
    return str(path)


def agent_on(sim, directory, **values):
    settings = config.override(
        config.defaults(),
        {
            "display": "json",
            "source": "kubernetes",
            "node": "pi-01",
            "kubernetes.kubeconfig": kubeconfig(sim, directory),
            **values,
        },
    )
    display = StampingDisplay()
    agent = Agent(settings, display, Notifier(Silent(), environ={}))
    threading.Thread(target=agent.run, daemon=True).start()
    return agent, display


def wait_frames(display, count, timeout=5.0):
    with display.changed:
        display.changed.wait_for(lambda: display.count >= count, timeout=timeout)


def latency(rounds=30, spacing=0.2):
    with SimKubernetes() as sim, tempfile.TemporaryDirectory() as tmp:
        sim.add_node("pi-01")
        sim.scale("default", "web", 3, "pi-01")
        sim.add_pod("default", "bench", "pi-01", state="Running")
        agent, display = agent_on(sim, tmp)
        wait_frames(display, 2)
        time.sleep(0.5)  # the watches are open
        delays = []
        for i in range(rounds):
            with display.changed:
                before = display.count
                started = time.perf_counter()
                state = "CrashLoopBackOff" if i % 2 == 0 else "Running"
                sim.set_pod_state("default", "bench", state)
                display.changed.wait_for(lambda b=before: display.count > b, timeout=5)
                delays.append((display.stamp - started) * 1000)
            time.sleep(spacing)
        agent.stop()
    print(
        f"pod event → frame over {rounds} changes: median {statistics.median(delays):.1f} ms, "
        f"p95 {statistics.quantiles(delays, n=20)[-1]:.1f} ms, max {max(delays):.1f} ms"
    )


def idle(seconds, watch_timeout):
    with SimKubernetes() as sim, tempfile.TemporaryDirectory() as tmp:
        sim.add_node("pi-01")
        sim.scale("default", "web", 3, "pi-01")
        agent, display = agent_on(sim, tmp, **{"kubernetes.watch_timeout": watch_timeout})
        wait_frames(display, 2)
        time.sleep(0.5)
        start, before = time.monotonic(), len(sim.request_log)
        time.sleep(seconds)
        requests = sim.request_log[before:]
        took = time.monotonic() - start
        agent.stop()
    watches = sum(1 for r in requests if r.query.get("watch"))
    print(
        f"idle {took:.0f} s, watch timeout {watch_timeout:.0f} s: {len(requests)} requests "
        f"({watches} watches, {len(requests) - watches} lists), "
        f"{len(requests) / took * 3600:.0f} per hour"
    )


def relist(rounds=10):
    took, counts = [], []
    with SimKubernetes() as sim, tempfile.TemporaryDirectory() as tmp:
        sim.add_node("pi-01")
        sim.add_node("pi-02")
        sim.scale("default", "web", 3, "pi-01")
        agent, display = agent_on(sim, tmp)
        wait_frames(display, 2)
        for i in range(rounds):
            time.sleep(0.3)
            sim.add_pod("default", f"other-{i}", "pi-02")  # not this node's: moves the revision
            sim.compact()
            before = len(sim.request_log)
            with display.changed:
                count = display.count
                started = time.perf_counter()
                sim.close_watches()
                name = f"new-{i}"
                sim.add_pod("default", name, "pi-01", state="CrashLoopBackOff")
                display.changed.wait_for(lambda c=count: display.count > c, timeout=5)
                took.append((display.stamp - started) * 1000)
            time.sleep(0.3)
            asked = sim.request_log[before:]
            counts.append(sum(1 for r in asked if r.path.endswith("/pods")))
            sim.delete_pod("default", name, graceful=False)
            wait_frames(display, display.count + 1)
        agent.stop()
    print(
        f"410 after compaction → fresh list shown: median {statistics.median(took):.1f} ms, "
        f"max {max(took):.1f} ms; pod requests per re-list: {statistics.median(counts):.0f} "
        "(the expired watch, the list, the new watch)"
    )


def main():
    latency()
    idle(20, 300.0)
    idle(30, 10.0)
    relist()


if __name__ == "__main__":
    main()

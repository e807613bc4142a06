"""The demo's k3s story: about 75 s of one node's pods, played on a SimKubernetes.

A Deployment is scaled up (ContainerCreating, then Running and ready), a pod goes into
CrashLoopBackOff, one is deleted (Terminating, then gone), a scale-up puts more pods on
the node than there are LEDs, the CPU and memory views (requests against allocatable),
the API server goes away and comes back, a Job's pod completes. In the cluster view
(`--mode nodes`) the other Pis run their pods, one is cordoned and one stops reporting.
"""

from __future__ import annotations

from collections.abc import Iterator

from blinkt_agent.sim.kubernetes import SimKubernetes
from blinkt_agent.sim.story import Player, Step, steps_for

NAMESPACE = "default"
REQUESTS = {
    "web": ("250m", "128Mi"),
    "api": ("500m", "256Mi"),
    "cache": ("100m", "64Mi"),
    "report": ("1", "512Mi"),
}

# Operations, as tuples:
#   ("scale", deployment, replicas, state)   on the agent's node; new pods in `state`
#   ("state", deployment, state)              every pod of the deployment
#   ("pod", name, state) / ("set", name, state) a bare pod (a Job's), or a state for one
#   ("delete", deployment, index)             graceful: Terminating
#   ("gone", deployment, index)               the kubelet is done: deleted
#   ("outage", down)                          the API server unreachable / back
#   ("elsewhere", deployment, node, replicas) running pods on another node
#   ("cordon", node, on) / ("lost", node, on) unschedulable; the kubelet stops reporting

STEPS: tuple[Step, ...] = (
    Step("An idle k3s node", 3),
    Step(
        "The other Pis run their pods",
        3,
        (
            ("elsewhere", "db", "pi-02", 1),
            ("elsewhere", "proxy", "pi-03", 2),
            ("elsewhere", "metrics", "pi-04", 1),
        ),
        cluster=True,
    ),
    Step(
        "Deployment web scaled to 3: ContainerCreating",
        3,
        (("scale", "web", 3, "ContainerCreating"),),
    ),
    Step("web is Running and ready", 3, (("state", "web", "Running"),)),
    Step("Deployment api: 2 pods", 3, (("scale", "api", 2, "Running"),)),
    Step("An api pod crashes: CrashLoopBackOff", 4, (("set-one", "api", 1, "CrashLoopBackOff"),)),
    Step("Job report: its pod is Running", 3, (("pod", "report", "Running"),)),
    Step("A web pod is deleted: Terminating", 4, (("delete", "web", 2),)),
    Step("It is gone", 3, (("gone", "web", 2),)),
    Step(
        "Deployment cache scaled to 6: more pods than LEDs",
        4,
        (("scale", "cache", 6, "ContainerCreating"),),
    ),
    Step("cache is Running: 10 pods > 8 LEDs", 5, (("state", "cache", "Running"),)),
    Step("CPU view: requests against the node's allocatable CPU", 6, mode="cpu"),
    Step("Memory view: requests against allocatable memory", 6, mode="memory"),
    Step("pi-03 is cordoned (kubectl drain)", 4, (("cordon", "pi-03", True),), cluster=True),
    Step("pi-04 stops reporting: NotReady (Unknown)", 5, (("lost", "pi-04", True),), cluster=True),
    Step("The API server is unreachable", 10, (("outage", True),)),
    Step("The API server is back", 4, (("outage", False),)),
    Step("pi-04 reports again", 3, (("lost", "pi-04", False),), cluster=True),
    Step("Deployment cache scaled to 0: Terminating", 4, (("scale", "cache", 0, "Running"),)),
    Step("cache is gone", 3, (("gone-all", "cache"),)),
    Step("report Completed (not shown)", 4, (("set", "report", "Completed"),)),
)


class KubeStory(Player):
    """Plays the k3s steps on the node `node` of a SimKubernetes (and its other nodes)."""

    def __init__(
        self, sim: SimKubernetes, node: str = "pi-01", *, steps: tuple[Step, ...] | None = None
    ) -> None:
        self.sim = sim
        self.node = node
        self.steps = steps_for(STEPS, None) if steps is None else steps
        self.deployments: dict[str, list[str]] = {}  # deployment -> pod names, oldest first
        self._pods: set[str] = set()
        self._cordoned: set[str] = set()
        self._lost: set[str] = set()

    def recover(self) -> None:
        self.sim.set_outage(False)  # never leave the API server down behind a stopped story

    def reset(self) -> None:
        """Every pod of the previous pass gone at once; the nodes as they were."""
        for name in self._all_pods():
            if self.sim.pod(NAMESPACE, name) is not None:
                self.sim.delete_pod(NAMESPACE, name, graceful=False)
        self.deployments.clear()
        self._pods.clear()
        for node in self._cordoned:
            self.sim.set_node(node, unschedulable=False)
        for node in self._lost:
            self.sim.set_node(node, ready=True)
        self._cordoned.clear()
        self._lost.clear()

    def _all_pods(self) -> Iterator[str]:
        yield from self._pods
        for names in self.deployments.values():
            yield from names

    def apply(self, step: Step) -> None:
        for op in step.ops:
            match op:
                case ("scale", str(name), int(replicas), str(state)):
                    self._scale(name, replicas, self.node, state)
                case ("state", str(name), str(state)):
                    for pod in self.deployments.get(name, []):
                        self.sim.set_pod_state(NAMESPACE, pod, state)
                case ("set-one", str(name), int(index), str(state)):
                    self.sim.set_pod_state(NAMESPACE, self.deployments[name][index], state)
                case ("pod", str(name), str(state)):
                    cpu, memory = REQUESTS.get(name, ("100m", "64Mi"))
                    self.sim.add_pod(
                        NAMESPACE, name, self.node, state, requests={"cpu": cpu, "memory": memory}
                    )
                    self._pods.add(name)
                case ("set", str(name), str(state)):
                    self.sim.set_pod_state(NAMESPACE, name, state)
                case ("delete", str(name), int(index)):
                    self.sim.delete_pod(NAMESPACE, self.deployments[name][index])
                case ("gone", str(name), int(index)):
                    self.sim.finish_delete(NAMESPACE, self.deployments[name].pop(index))
                case ("gone-all", str(name)):
                    for pod in self.deployments.pop(name, []):
                        if self.sim.pod(NAMESPACE, pod) is not None:
                            self.sim.finish_delete(NAMESPACE, pod)
                case ("outage", bool(down)):
                    self.sim.set_outage(down)
                case ("elsewhere", str(name), str(node), int(replicas)):
                    self._scale(name, replicas, node, "Running")
                case ("cordon", str(node), bool(on)):
                    self.sim.set_node(node, unschedulable=on)
                    (self._cordoned.add if on else self._cordoned.discard)(node)
                case ("lost", str(node), bool(on)):
                    self.sim.set_node(node, ready=None if on else True)
                    (self._lost.add if on else self._lost.discard)(node)
                case _:
                    raise ValueError(f"unknown story operation {op!r}")

    def _scale(self, name: str, replicas: int, node: str, state: str) -> None:
        cpu, memory = REQUESTS.get(name, ("100m", "64Mi"))
        requests = {"cpu": cpu, "memory": memory}
        kept = self.sim.scale(NAMESPACE, name, replicas, node, state, requests=requests)
        if replicas:
            self.deployments[name] = kept
        # Scaled down: the ones that go are Terminating until "gone-all".

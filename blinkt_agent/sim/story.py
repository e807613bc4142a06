"""The demo's scripted story: about 75 s of cluster life on one node, played on a SimCluster.

Jobs get placed (pending, then running one by one), one allocation fails, one is stopped
(desired "stop" while still running, then complete), a scale-up puts more allocations on the
node than there are LEDs, the CPU and memory views are shown, and Nomad goes away and comes
back. In the cluster view (`--mode nodes`) the other Pis run their share, one is drained and
one goes down and comes back. Steps are plain data so tests can play the story fast and
check where it ends. `Player` plays any story; sim/kubernetes/story.py tells a k3s one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from blinkt_agent.sim.cluster import SimCluster

# The other Pis of the story's cluster (the first node is the agent's own).
OTHER_PIS = ("pi-02", "pi-03", "pi-04")

# Operations, as tuples:
#   ("place", label, job, cpu, memory_mb)  new pending allocation of `job` (group = job)
#   ("client", label, client_status)       what the Nomad client reports
#   ("desired", label, desired_status)     what the scheduler wants
#   ("outage", down)                       Nomad unreachable / back
#   ("elsewhere", label, node, job)          a running allocation of `job` on another node
#   ("drain", node, on) / ("down", node, on) a node drained (or not), down (or back)
Op = (
    tuple[Literal["place"], str, str, int, int]
    | tuple[Literal["client", "desired"], str, str]
    | tuple[Literal["outage"], bool]
    | tuple[Literal["elsewhere"], str, str, str]
    | tuple[Literal["drain", "down"], str, bool]
)


@dataclass(frozen=True)
class Step:
    title: str
    hold: float  # seconds the step stays on screen at speed 1
    ops: tuple[object, ...] = ()  # the story's operations (Op here)
    mode: str = "allocations"  # display hint: "allocations", "cpu" or "memory"
    cluster: bool = False  # about other nodes: played only in the cluster view

    @property
    def only_a_view(self) -> bool:
        """A step that only switches the view (nothing happens in the cluster)."""
        return not self.ops and self.mode != "allocations"


def steps_for(steps: tuple[Step, ...], mode: str | None) -> tuple[Step, ...]:
    """The steps a demo plays: with --mode it keeps that view (no view switches), and only
    the cluster view plays the steps about other nodes."""
    return tuple(
        s
        for s in steps
        if (mode is None or not s.only_a_view) and (not s.cluster or mode == "nodes")
    )


def _place(label: str, job: str, cpu: int, memory_mb: int) -> Op:
    return ("place", label, job, cpu, memory_mb)


CACHE = tuple(f"cache{i}" for i in range(6))

STEPS: tuple[Step, ...] = (
    Step("An idle Nomad node", 3),
    Step(
        "The other Pis run their share",
        3,
        (
            ("elsewhere", "db", "pi-02", "db"),
            ("elsewhere", "proxy", "pi-03", "proxy"),
            ("elsewhere", "metrics", "pi-04", "metrics"),
        ),
        cluster=True,
    ),
    Step(
        "Job web placed: 3 allocations pending",
        3,
        tuple(_place(f"web{i}", "web", 500, 256) for i in range(3)),
    ),
    Step("web[0] is running", 2, (("client", "web0", "running"),)),
    Step("web[1] is running", 2, (("client", "web1", "running"),)),
    Step("web[2] is running", 2, (("client", "web2", "running"),)),
    Step(
        "Job api placed: 2 allocations pending",
        3,
        (_place("api0", "api", 800, 512), _place("api1", "api", 800, 512)),
    ),
    Step("api[0] is running", 2, (("client", "api0", "running"),)),
    Step("api[1] failed", 4, (("client", "api1", "failed"),)),
    Step("Batch job report placed", 3, (_place("report", "report", 1000, 1024),)),
    Step("report is running", 3, (("client", "report", "running"),)),
    Step("web[2] is stopping (desired stop, still running)", 4, (("desired", "web2", "stop"),)),
    Step("web[2] stopped (complete)", 3, (("client", "web2", "complete"),)),
    Step(
        "Job cache scaled to 6: more allocations than LEDs",
        4,
        tuple(_place(label, "cache", 200, 128) for label in CACHE),
    ),
    Step(
        "cache is running: 10 allocations > 8 LEDs",
        5,
        tuple(("client", label, "running") for label in CACHE),
    ),
    Step("CPU view: each LED is 1/8 of the CPU", 6, mode="cpu"),
    Step("Memory view: each LED is 1/8 of the memory", 6, mode="memory"),
    Step(
        "pi-03 is drained: ineligible, its work moves off",
        4,
        (("drain", "pi-03", True),),
        cluster=True,
    ),
    Step(
        "pi-04 stops reporting: down, its allocations lost",
        5,
        (("down", "pi-04", True),),
        cluster=True,
    ),
    Step("Nomad is unreachable", 10, (("outage", True),)),
    Step("Nomad is back", 4, (("outage", False),)),
    Step("pi-04 is back", 3, (("down", "pi-04", False),), cluster=True),
    Step(
        "Job cache stopped",
        4,
        tuple(("desired", label, "stop") for label in CACHE)
        + tuple(("client", label, "complete") for label in CACHE),
    ),
    Step("report finished (complete)", 4, (("client", "report", "complete"),)),
)


class Player:
    """Plays steps on a simulated cluster: `apply` one, `reset` for the next pass, and
    `recover` so that nothing is left broken (the API back) when the story stops."""

    steps: tuple[Step, ...]

    @property
    def duration(self) -> float:
        """Seconds one pass takes at speed 1."""
        return sum(step.hold for step in self.steps)

    def play(
        self,
        stop: threading.Event,
        speed: float = 1.0,
        on_step: Callable[[Step], None] | None = None,
        loop: bool = False,
    ) -> None:
        """Play to the end (or over and over with `loop`) unless `stop` is set first.
        on_step(step) is called once each step has been applied (step.title, step.mode)."""
        try:
            while not stop.is_set():
                self.reset()
                for step in self.steps:
                    self.apply(step)
                    if on_step:
                        on_step(step)
                    if stop.wait(step.hold / speed):
                        return
                if not loop:
                    return
        finally:
            self.recover()

    def apply(self, step: Step) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def recover(self) -> None:
        raise NotImplementedError


class Story(Player):
    """Plays Nomad steps against one node of a SimCluster (and, for the steps about the
    cluster, its other nodes); `alloc_ids` maps labels to alloc IDs."""

    def __init__(
        self,
        cluster: SimCluster,
        node_id: str | None = None,
        *,
        steps: tuple[Step, ...] = steps_for(STEPS, None),
    ):
        self.cluster = cluster
        self.nomad = cluster.nomad
        self.node_id = node_id or cluster.local_node_id
        self.steps = steps
        self.alloc_ids: dict[str, str] = {}
        self._drained: set[str] = set()
        self._down: set[str] = set()

    def recover(self) -> None:
        self.nomad.set_outage(False)  # never leave Nomad down behind a stopped story

    def reset(self) -> None:
        """Garbage-collect the allocations of the previous pass; the nodes back as they were."""
        for alloc_id in self.alloc_ids.values():
            self.nomad.remove_alloc(alloc_id)
        self.alloc_ids.clear()
        for name in self._down:
            self.nomad.node_up(self.nomad.node_id(name))
        for name in self._drained:
            self.nomad.drain(self.nomad.node_id(name), False, mark_eligible=True)
        self._down.clear()
        self._drained.clear()

    def apply(self, step: Step) -> None:
        for op in step.ops:
            match op:
                case ("place", str(label), str(job), int(cpu), int(memory_mb)):
                    self.alloc_ids[label] = self.nomad.add_alloc(
                        self.node_id, job, job, cpu=cpu, memory_mb=memory_mb
                    )
                case ("client", str(label), str(status)):
                    self.nomad.update_alloc(self.alloc_ids[label], client_status=status)
                case ("desired", str(label), str(status)):
                    self.nomad.update_alloc(self.alloc_ids[label], desired_status=status)
                case ("outage", bool(down)):
                    self.nomad.set_outage(down)
                case ("elsewhere", str(label), str(node), str(job)):
                    node_id = self.nomad.node_id(node)
                    self.alloc_ids[label] = self.nomad.add_alloc(
                        node_id, job, job, client_status="running"
                    )
                case ("drain", str(node), bool(on)):
                    self.nomad.drain(self.nomad.node_id(node), on, mark_eligible=not on)
                    (self._drained.add if on else self._drained.discard)(node)
                case ("down", str(node), bool(on)):
                    node_id = self.nomad.node_id(node)
                    (self.nomad.node_down if on else self.nomad.node_up)(node_id)
                    (self._down.add if on else self._down.discard)(node)
                case _:
                    raise ValueError(f"unknown story operation {op!r}")

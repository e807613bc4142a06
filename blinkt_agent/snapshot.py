"""What a source says, in words that belong to no source: nodes, their workloads, problems.

A source (Nomad, Kubernetes: blinkt_agent/sources/) turns its API's JSON into these values;
mapping and view read nothing else. A Nomad allocation and a Kubernetes pod are both a
Workload; a Nomad node and a Kubernetes node are both a Node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from blinkt_agent.errors import AgentError

# A workload's state, one shared set (README "What the LEDs mean" says what each looks like):
#   pending   being placed or started        running   running (Kubernetes: and ready)
#   stopping  asked to stop, not yet stopped failed    failed, or failing (CrashLoopBackOff)
#   lost      its node stopped reporting     unknown   anything else, or data we cannot read
# A workload that ended well (Nomad complete, Kubernetes Succeeded) is not shown at all.
STATES = ("pending", "running", "stopping", "failed", "lost", "unknown")

# A node's state, for the cluster view (mode "nodes"):
#   ready     up and taking work
#   cordoned  up, but taking no new work (Nomad: draining or ineligible; Kubernetes:
#             unschedulable, which `kubectl cordon` and `kubectl drain` set)
#   down      not reporting (Nomad: down or disconnected; Kubernetes: Ready False or Unknown)
#   unknown   anything else, or data we cannot read
NODE_STATES = ("ready", "cordoned", "down", "unknown")

# What the resource modes measure; a source offers those it can count (SourceKind.modes).
RESOURCES = ("cpu", "memory", "disk", "network")


@dataclass(frozen=True, slots=True)
class Workload:
    """One allocation or pod.

    order: oldest first; Nomad's CreateIndex, Kubernetes' creationTimestamp (s since the
    epoch); None sorts last. Ties go by id, so an LED keeps its place as others come and go.
    ended_ns: for a failed or lost workload that has ended, when (ns since the epoch): it
    stays shown for `linger` seconds after; None: shown as long as it is in that state.
    holds: what it holds of the node's capacity (RESOURCES' units: cpu in the source's own
    unit, memory in MB...); empty once it holds nothing (terminal, or not counted).
    """

    id: str
    name: str
    state: str
    order: int | None = None
    ended_ns: int | None = None
    holds: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"workload state {self.state!r}: expected one of {', '.join(STATES)}")


@dataclass(frozen=True, slots=True)
class Node:
    """A node and what runs on it.

    capacity: what the node offers to workloads, per resource (Nomad: its resources minus
    reserved; Kubernetes: status.allocatable); empty when not read (the allocations and
    nodes modes do not need it). A resource missing from a read capacity means "none".
    """

    name: str
    state: str = "ready"
    workloads: tuple[Workload, ...] = ()
    capacity: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if self.state not in NODE_STATES:
            raise ValueError(f"node state {self.state!r}: expected one of {', '.join(NODE_STATES)}")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the source last told us.

    nodes: the node shown (one) in the allocations and resource modes; every node of the
    cluster in mode "nodes". address: whom it came from ("192.168.1.14:4646"); via: how
    that was found when it is worth saying ("consul" is not: it is the usual way).
    hidden: workloads of the node that the credentials cannot read, counted another way,
    and hidden_why: why, one line naming what the credentials lack ("" when none).
    """

    nodes: tuple[Node, ...]
    address: str = ""
    via: str = ""
    hidden: int = 0
    hidden_why: str = ""

    @property
    def node(self) -> Node:
        """The node shown in the single-node modes."""
        return self.nodes[0]


@dataclass(frozen=True)
class Update:
    snapshot: Snapshot


@dataclass(frozen=True)
class Problem:
    error: AgentError
    retry_in: float


class SourceFailed(AgentError):
    """A source's thread ended on an unexpected exception (a bug); it is restarted."""

    @classmethod
    def of(cls, exc: BaseException, label: str = "source") -> SourceFailed:
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        if len(detail) > 160:
            detail = detail[:159] + "…"
        return cls(f"internal error in the {label} thread ({detail}); the log has the traceback")

"""From Kubernetes' JSON (pods, nodes) to the neutral model (blinkt_agent.snapshot): pure.

Everything here reads JSON that came from outside, so no field is trusted: a missing
key, a wrong type or a junk list entry never raises; it makes the pod "unknown", a time
None, an amount absent.

A pod's state comes from the STATUS column kubectl prints (printers.pod_status) and the
pod itself:

    kubectl STATUS                                       state
    phase Succeeded, or Completed                        not shown (None)
    phase Failed (Error, Evicted, OOMKilled, ...)        failed, ended at its last exit
    Unknown (NodeLost), phase Unknown, or any live pod   lost
      on a node whose Ready condition is Unknown
    Terminating                                          stopping
    Running, and the pod's Ready condition True          running
    Running not ready, NotReady                          pending
    Pending, SchedulingGated, ContainerCreating,         pending
      PodInitializing, Init:N/M, Init:ContainerCreating
    CrashLoopBackOff, ImagePullBackOff, ErrImagePull,    failed (failing, still alive:
      CreateContainerConfigError, ...BackOff/...Error,     not ended)
      Error, OOMKilled, ExitCode:N, Signal:N, and the
      same after Init: (a failing init container)
    anything else                                        unknown

"Running but not ready" is our choice: the containers are up but the pod does not serve
(a Service sends it no traffic: the Ready condition, readiness gates included, is what
endpoints read), so it is shown as still coming up. A pod without any Ready condition
counts as ready when kubectl's READY column is full (n/n, n > 0).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from blinkt_agent.outside import as_list, dig
from blinkt_agent.snapshot import Node, Workload
from blinkt_agent.sources.kubernetes.printers import has_ready_condition, pod_row
from blinkt_agent.sources.kubernetes.quantity import quantity_of
from blinkt_agent.sources.kubernetes.resources import holds_of

# Waiting and progress reasons: the pod is on its way up.
PENDING_REASONS = frozenset(
    {"Pending", "SchedulingGated", "ContainerCreating", "PodInitializing", "NotReady"}
)
# Reasons the kubelet and container runtimes give for a container that fails to start
# or has exited badly (pkg/kubelet/images/types.go, pkg/kubelet/container/sync_result.go,
# pkg/kubelet/kuberuntime); newer ones of the same families end in BackOff or Error.
FAILING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "ImageInspectError",
        "RegistryUnavailable",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "PreStartHookError",
        "PostStartHookError",
        "ContainerCannotRun",
        "StartError",
        "Error",
        "OOMKilled",
        "DeadlineExceeded",
        "ContainerStatusUnknown",
    }
)
_INIT_PROGRESS = re.compile(r"[0-9]+/[0-9]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def pod_state(pod: object, node_ready: str | None = "True") -> str | None:
    """The pod's state (snapshot.STATES), or None when it is not shown (it completed).

    node_ready: the status of the Ready condition of the pod's node (node_ready_status):
    "Unknown" means the kubelet stopped posting status (the node lifecycle controller
    set it), and then every pod still alive there is "lost".
    """
    if not isinstance(pod, Mapping):
        return "unknown"
    phase = dig(pod, "status", "phase")
    if phase == "Succeeded":
        return None
    if phase == "Failed":
        return "failed"
    row = pod_row(pod)
    if row.status == "Unknown" or phase == "Unknown" or node_ready == "Unknown":
        return "lost"
    if row.status == "Terminating":
        return "stopping"
    if row.status == "Completed":
        return None
    if row.status == "Running":
        conditions = as_list(dig(pod, "status", "conditions"))
        if any(dig(c, "type") == "Ready" for c in conditions):
            ready = has_ready_condition(conditions)
        else:
            ready = 0 < row.total == row.ready
        return "running" if ready else "pending"
    return _state_of_reason(row.status.removeprefix("Init:"))


def _state_of_reason(reason: str) -> str:
    if reason in PENDING_REASONS or _INIT_PROGRESS.fullmatch(reason):
        return "pending"
    if (
        reason in FAILING_REASONS
        or reason.startswith(("ExitCode:", "Signal:", "Err"))
        or reason.endswith(("BackOff", "Error"))
    ):
        return "failed"
    return "unknown"


def workload_of(pod: object, node_ready: str | None = "True") -> Workload | None:
    """One pod as a Workload; None for one that completed (not shown, holds nothing).

    id: metadata.uid (else "namespace/name"); name: "namespace/name"; order: the
    creationTimestamp in s since the epoch; ended_ns: for a pod that ended failed (phase
    Failed), when (see ended_ns), so that it lingers and then drops; holds: its requests
    as `kubectl describe node` counts them (resources.holds_of).
    """
    state = pod_state(pod, node_ready)
    if state is None:
        return None
    namespace, name = dig(pod, "metadata", "namespace"), dig(pod, "metadata", "name")
    shown = f"{_str(namespace)}/{_str(name)}"
    uid = dig(pod, "metadata", "uid")
    ended = ended_ns(pod) if dig(pod, "status", "phase") == "Failed" else None
    created = _time(dig(pod, "metadata", "creationTimestamp"))
    return Workload(
        id=uid if isinstance(uid, str) and uid else shown,
        name=shown,
        state=state,
        order=_seconds(created) if created else None,
        ended_ns=ended,
        holds=holds_of(pod),
    )


def ended_ns(pod: object) -> int | None:
    """When a pod that has ended did so (ns since the epoch): its containers' latest
    state.terminated.finishedAt, else its Ready condition's lastTransitionTime (an
    evicted pod may have no container that ran); None when neither can be read."""
    statuses = [
        *as_list(dig(pod, "status", "containerStatuses")),
        *as_list(dig(pod, "status", "initContainerStatuses")),
    ]
    finished = [_time(dig(s, "state", "terminated", "finishedAt")) for s in statuses]
    times = [t for t in finished if t is not None]
    if not times:
        for condition in as_list(dig(pod, "status", "conditions")):
            if dig(condition, "type") == "Ready":
                ready_changed = _time(dig(condition, "lastTransitionTime"))
                times += [ready_changed] if ready_changed else []
    return _nanoseconds(max(times)) if times else None


def node_ready_status(node: object) -> str | None:
    """The status of the node's Ready condition ("True", "False", "Unknown"; "" when not
    a string), None when it has none. The last Ready condition counts, as printNode's
    map of conditions keeps it."""
    status: str | None = None
    for condition in as_list(dig(node, "status", "conditions")):
        if dig(condition, "type") == "Ready":
            status = _str(dig(condition, "status"))
    return status


def node_state(node: object) -> str:
    """ready (Ready True), cordoned (spec.unschedulable, which `kubectl cordon` and
    `kubectl drain` set, on a Ready node), down (Ready False or Unknown, or no Ready
    condition yet), unknown (data we cannot read)."""
    conditions = dig(node, "status", "conditions")
    if not isinstance(node, Mapping) or not isinstance(conditions, list | None):
        return "unknown"
    ready = node_ready_status(node)
    if ready == "True":
        return "cordoned" if dig(node, "spec", "unschedulable") is True else "ready"
    if ready in (None, "False", "Unknown"):
        return "down"
    return "unknown"


def node_capacity(node: object) -> dict[str, float]:
    """What describe node divides by: status.allocatable (status.capacity when that is
    empty), cpu in cores and memory in bytes; a resource that is absent or does not
    parse is left out."""
    offered = dig(node, "status", "allocatable")
    if not isinstance(offered, Mapping) or not offered:
        offered = dig(node, "status", "capacity")
    capacity: dict[str, float] = {}
    for name in ("cpu", "memory"):
        amount = quantity_of(dig(offered, name))
        if amount is not None:
            capacity[name] = float(amount)
    return capacity


def node_of(node: object, workloads: Iterable[Workload]) -> Node:
    """The node (metadata.name, node_state, node_capacity) with the given workloads."""
    name, uid = dig(node, "metadata", "name"), dig(node, "metadata", "uid")
    return Node(
        name=_str(name),
        id=_str(uid),
        state=node_state(node),
        workloads=tuple(workloads),
        capacity=node_capacity(node),
    )


def _time(value: object) -> datetime | None:
    """A metav1.Time (RFC 3339, "2024-05-01T12:00:00Z"); None when missing or junk."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else None
    except (ValueError, OverflowError):  # not a time; or out of range once made UTC
        return None


def _seconds(when: datetime) -> int:
    delta = when - _EPOCH
    return delta.days * 86_400 + delta.seconds


def _nanoseconds(when: datetime) -> int:
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""

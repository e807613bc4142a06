"""The READY and STATUS columns of `kubectl get pods`, computed from a pod's JSON.

A port of printPod in kubernetes/kubernetes pkg/printers/internalversion/printers.go
(the version with SchedulingGated, restartable init containers and the Initialized
condition), with its helpers hasPodReadyCondition, isPodInitializedConditionTrue and
podutil.IsRestartableInitContainer. The RESTARTS and AGE columns are left out.

Go decodes the pod into typed structs first; here the JSON comes as it is, so a missing
key, a wrong type or a junk list entry reads as Go's zero value (absent, "", 0, false)
and never raises: the result is kubectl's answer for the pod as far as it can be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from blinkt_agent.outside import as_list, dig

NODE_UNREACHABLE_POD_REASON = "NodeLost"  # pkg/util/node NodeUnreachablePodReason
SCHEDULING_GATED = "SchedulingGated"  # apiv1.PodReasonSchedulingGated
TERMINAL_PHASES = ("Succeeded", "Failed")  # podutilv1.IsPodPhaseTerminal


class PodRow(NamedTuple):
    """kubectl's READY (ready/total containers, sidecars included) and STATUS."""

    ready: int
    total: int
    status: str


def pod_status(pod: object) -> str:
    """The STATUS column kubectl prints for this pod ("Running", "Init:0/2",
    "CrashLoopBackOff", "Terminating"...)."""
    return pod_row(pod).status


def pod_row(pod: object) -> PodRow:
    """printPod's READY and STATUS cells, in the order printPod decides them."""
    phase = _str(dig(pod, "status", "phase"))
    reason = _str(dig(pod, "status", "reason")) or phase
    conditions = as_list(dig(pod, "status", "conditions"))
    for condition in conditions:
        if _str(dig(condition, "type")) == "PodScheduled" and (
            _str(dig(condition, "reason")) == SCHEDULING_GATED
        ):
            reason = SCHEDULING_GATED

    spec_inits = as_list(dig(pod, "spec", "initContainers"))
    init_specs: dict[str, object] = {}
    for container in spec_inits:
        name = _str(dig(container, "name"))
        init_specs[name] = container  # a later duplicate wins, as in Go's map
    total = len(as_list(dig(pod, "spec", "containers")))
    total += sum(1 for c in spec_inits if is_restartable_init_container(c))
    ready = 0

    initializing = False
    for i, status in enumerate(as_list(dig(pod, "status", "initContainerStatuses"))):
        terminated = dig(status, "state", "terminated")
        waiting = dig(status, "state", "waiting")
        sidecar = is_restartable_init_container(init_specs.get(_str(dig(status, "name"))))
        if isinstance(terminated, Mapping) and _int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and dig(status, "started") is True:
            ready += dig(status, "ready") is True
            continue
        if isinstance(terminated, Mapping):  # initialization failed
            reason = "Init:" + _terminated_reason(terminated)
        elif isinstance(waiting, Mapping) and _str(waiting.get("reason")) not in (
            "",
            "PodInitializing",
        ):
            reason = "Init:" + _str(waiting.get("reason"))
        else:
            reason = f"Init:{i}/{len(spec_inits)}"
        initializing = True
        break

    if not initializing or _initialized(conditions):
        has_running = False
        for status in reversed(as_list(dig(pod, "status", "containerStatuses"))):
            terminated = dig(status, "state", "terminated")
            waiting = dig(status, "state", "waiting")
            if isinstance(waiting, Mapping) and _str(waiting.get("reason")):
                reason = _str(waiting.get("reason"))
            elif isinstance(terminated, Mapping):
                reason = _terminated_reason(terminated)
            elif dig(status, "ready") is True and isinstance(
                dig(status, "state", "running"), Mapping
            ):
                has_running = True
                ready += 1
        # Back to "Running" if a container still runs after another completed.
        if reason == "Completed" and has_running:
            reason = "Running" if has_ready_condition(conditions) else "NotReady"

    if dig(pod, "metadata", "deletionTimestamp") is not None:
        if _str(dig(pod, "status", "reason")) == NODE_UNREACHABLE_POD_REASON:
            reason = "Unknown"
        elif phase not in TERMINAL_PHASES:
            reason = "Terminating"
    return PodRow(ready, total, reason)


def is_restartable_init_container(container: object) -> bool:
    """A sidecar: an init container with restartPolicy Always (KEP-753)."""
    return dig(container, "restartPolicy") == "Always"


def has_ready_condition(conditions: list[object]) -> bool:
    """hasPodReadyCondition: some Ready condition is True."""
    return any(dig(c, "type") == "Ready" and dig(c, "status") == "True" for c in conditions)


def _initialized(conditions: list[object]) -> bool:
    """isPodInitializedConditionTrue: the first Initialized condition decides."""
    for condition in conditions:
        if dig(condition, "type") == "Initialized":
            return dig(condition, "status") == "True"
    return False


def _terminated_reason(terminated: Mapping[str, object]) -> str:
    """A terminated container's reason, else Signal:N, else ExitCode:N."""
    if reason := _str(terminated.get("reason")):
        return reason
    if signal := _int(terminated.get("signal")):
        return f"Signal:{signal}"
    return f"ExitCode:{_int(terminated.get('exitCode'))}"


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

"""The READY, STATUS and RESTARTS columns of `kubectl get pods`: a test oracle.

A port of printPod in pkg/printers/internalversion/printers.go (kubernetes/kubernetes,
1.29+: restartable init containers count as containers; a pod in a terminal phase is not
"Terminating"). It reads the v1 JSON the apiserver returns.
"""

from __future__ import annotations

from typing import Any, NamedTuple

Doc = dict[str, Any]
NODE_UNREACHABLE_POD_REASON = "NodeLost"  # pkg/util/node


class PodRow(NamedTuple):
    ready: str  # "1/2"
    status: str  # "Running", "Init:0/1", "CrashLoopBackOff", ...
    restarts: int


def _restartable(container: Doc | None) -> bool:
    """podutil.IsRestartableInitContainer: restartPolicy Always on an init container."""
    return container is not None and container.get("restartPolicy") == "Always"


def _condition_true(status: Doc, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or ()
    )


def print_pod(pod: Doc) -> PodRow:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    meta = pod.get("metadata") or {}
    restarts = restartable_restarts = 0
    total = len(spec.get("containers") or ())
    ready = 0
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    for condition in status.get("conditions") or ():
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = {c["name"]: c for c in spec.get("initContainers") or ()}
    total += sum(1 for c in init_specs.values() if _restartable(c))

    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, container in enumerate(init_statuses):
        restarts += container.get("restartCount", 0)
        sidecar = _restartable(init_specs.get(container["name"]))
        if sidecar:
            restartable_restarts += container.get("restartCount", 0)
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode") == 0:
            continue
        if sidecar and container.get("started"):
            if container.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            if not terminated.get("reason"):
                if terminated.get("signal"):
                    reason = f"Init:Signal:{terminated['signal']}"
                else:
                    reason = f"Init:ExitCode:{terminated.get('exitCode', 0)}"
            else:
                reason = "Init:" + terminated["reason"]
            initializing = True
        elif (
            waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing"
        ):
            reason = "Init:" + waiting["reason"]
            initializing = True
        else:
            reason = f"Init:{i}/{len(init_specs)}"
            initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
        restarts = restartable_restarts
        has_running = False
        for container in reversed(status.get("containerStatuses") or []):
            restarts += container.get("restartCount", 0)
            state = container.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated is not None:
                if terminated.get("signal"):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{terminated.get('exitCode', 0)}"
            elif container.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    deleting = meta.get("deletionTimestamp") is not None
    if deleting and status.get("reason") == NODE_UNREACHABLE_POD_REASON:
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return PodRow(f"{ready}/{total}", reason, restarts)

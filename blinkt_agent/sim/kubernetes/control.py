"""The /_sim/ control API: drive a SimKubernetes from another process (JSON in and out).

Served on the API's own port (no authentication). Errors: 400 {"error"} for a bad call,
404 for an unknown object.

    GET    /_sim/state                     resourceVersion, outage, watches, nodes, pods
                                            (each with kubectl's READY/STATUS/RESTARTS)
    GET    /_sim/requests                  the request log: [{"method", "path", "query"}]
    POST   /_sim/nodes                     {"name": "pi-02", "cpu": "4", "memory": ...,
                                            "ready": true, "unschedulable": false} -> {"uid"}
    POST   /_sim/nodes/<name>              {"ready": true|false|null, "unschedulable": ...,
                                            "memory_pressure": ...}  (null: Unknown)
    DELETE /_sim/nodes/<name>
    POST   /_sim/nodes/<name>/evict        taint eviction of its pods -> {"pods": [...]}
    POST   /_sim/pods                      {"namespace", "name", "node", "state", "requests",
                                            "init", "sidecar", ...} -> {"uid"}
    POST   /_sim/pods/<ns>/<name>          {"state": "CrashLoopBackOff"}
    DELETE /_sim/pods/<ns>/<name>          {"graceful": true, "grace_period": 30}
    POST   /_sim/pods/<ns>/<name>/finish   the kubelet finishes a graceful delete
    POST   /_sim/scale                     {"namespace", "deployment", "replicas", "node",
                                            "state"} -> {"pods": [...]}
    POST   /_sim/rbac                      {"yaml": "<manifests>"} -> {"loaded": [...]}
    POST   /_sim/tokens                    {"token", "user", "groups"} or
                                            {"namespace", "service_account"} -> {"token"}
    POST   /_sim/compact | /_sim/restart | /_sim/close_watches
    POST   /_sim/outage                    {"down": true, "seconds": 5} (must end by itself)
    POST   /_sim/fail                      {"status": 500, "count": 1, "message": "..."}
    POST   /_sim/hang                      {"seconds": 3, "count": 1}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from blinkt_agent.sim.kubernetes import SimKubernetes

Result = tuple[Any, Callable[[], None] | None]


def handle(sim: SimKubernetes, method: str, parts: list[str], data: dict[str, Any]) -> Result:
    """One control call; returns (JSON answer, something to do after answering)."""
    match method, parts:
        case "GET", ["state"]:
            return sim.state(), None
        case "GET", ["requests"]:
            log = [{"method": r.method, "path": r.path, "query": r.query} for r in sim.request_log]
            return {"requests": log}, None
        case "POST", ["nodes"]:
            return {"uid": sim.add_node(field(data, "name"), **data)}, None
        case "POST", ["nodes", name]:
            sim.set_node(name, **data)
        case "DELETE", ["nodes", name]:
            sim.delete_node(name)
        case "POST", ["nodes", name, "evict"]:
            return {"pods": sim.evict_node_pods(name)}, None
        case "POST", ["pods"]:
            namespace, name = field(data, "namespace"), field(data, "name")
            return {"uid": sim.add_pod(namespace, name, **data)}, None
        case "POST", ["pods", namespace, name]:
            sim.set_pod_state(namespace, name, field(data, "state"))
        case "DELETE", ["pods", namespace, name]:
            sim.delete_pod(namespace, name, **data)
        case "POST", ["pods", namespace, name, "finish"]:
            sim.finish_delete(namespace, name)
        case "POST", ["scale"]:
            names = sim.scale(
                field(data, "namespace"),
                field(data, "deployment"),
                int(field(data, "replicas")),
                **data,
            )
            return {"pods": names}, None
        case "POST", ["rbac"]:
            return {"loaded": sim.load_rbac(field(data, "yaml"))}, None
        case "POST", ["tokens"]:
            if "service_account" in data:
                token = sim.service_account_token(field(data, "namespace"), data["service_account"])
                return {"token": token}, None
            token = field(data, "token")
            sim.add_token(token, field(data, "user"), tuple(data.get("groups", ())))
            return {"token": token}, None
        case "POST", ["compact"]:
            sim.compact()
        case "POST", ["restart"]:
            sim.restart()
        case "POST", ["close_watches"]:
            sim.close_watches()
        case "POST", ["outage"]:
            if not data.get("down"):
                sim.set_outage(False)
                return {}, None
            if "seconds" not in data:
                raise ValueError('an outage set over HTTP needs "seconds" (the port goes away)')
            seconds = float(data["seconds"])
            return {}, lambda: sim.set_outage(True, seconds=seconds)
        case "POST", ["fail"]:
            message = data.get("message", "simulated failure")
            sim.fail_next(int(field(data, "status")), int(data.get("count", 1)), message)
        case "POST", ["hang"]:
            sim.hang_next(float(field(data, "seconds")), int(data.get("count", 1)))
        case _:
            raise ValueError(f"unknown control call {method} /_sim/{'/'.join(parts)}")
    return {}, None


def field(data: dict[str, Any], key: str) -> Any:
    """Pop a required field; a missing one is the caller's mistake (400)."""
    if key not in data:
        raise ValueError(f"missing field {key!r}")
    return data.pop(key)

"""The /_sim/ control API: drive a SimNomad from another process (JSON in, JSON out).

Served on every agent's port, beside the Nomad API. Faults and proxy settings apply to the
agent that receives the call, or to the one named by "agent" (a node name or ID; "*" for
every agent). Errors: 400 for a bad call, 404 for an unknown object.

    GET    /_sim/state                       nodes, allocations, agents, index
    GET    /_sim/requests                    every agent's request log: {"agents": [{"address",
                                              "node_id", "requests": [{"method", "path",
                                              "query"}]}]} (which client was asked what)
    POST   /_sim/nodes                       {"name": "pi-02", "host": "127.0.1.2", "port": 0,
                                              "cpu": 4000, ...} -> {"id", "address"}
                                             (host/port: its own client agent there)
    DELETE /_sim/nodes/<node>                purge the node
    POST   /_sim/nodes/<node>/down           {"lost": true}  missed heartbeats
    POST   /_sim/nodes/<node>/up             heartbeats again (same ID)
    POST   /_sim/nodes/<node>/reimage        new node ID, same name; old one down -> {"id"}
                                             ({"old_down": false}: not yet, see reimage)
    POST   /_sim/nodes/<node>/drain          {"enable": true, "mark_eligible": false}
    POST   /_sim/nodes/<node>/drain_complete the drainer is done (the node must be draining)
    POST   /_sim/nodes/<node>/eligibility    {"eligible": false} (true while draining: 400)
    POST   /_sim/namespaces                  {"name": "team-b"}
    POST   /_sim/gc                          {"threshold_s": 86400} node GC -> {"removed"}
    POST   /_sim/allocations                 {"node": NAME or ID, "job": "web", "group": "web",
                                              "tasks": [{"name", "cpu", "hook", ...}], ...}
    POST   /_sim/allocations/<id>            {"client_status": ..., "desired_status": ...}
    POST   /_sim/allocations/<id>/client_gc  the client drops its runner; servers keep it
    DELETE /_sim/allocations/<id>            server GC
    POST   /_sim/acl/policies                {"name": "blinkt", "rules": "<HCL>"}
    POST   /_sim/acl/tokens                  {"policies": ["blinkt"], "secret"?, "management"?,
                                              "expired"?} -> {"secret"}
    POST   /_sim/outage                      {"down": true, "seconds": 5}  (the port goes away,
                                              so an outage asked for over HTTP must end by itself)
    POST   /_sim/proxy                       {"index_header": "absent"|"zero"|"nomad",
                                              "blocking": false}
    POST   /_sim/fail                        {"status": 500, "count": 1, "body": "..."}
    POST   /_sim/malformed                   {"count": 1}
    POST   /_sim/hang                        {"seconds": 3, "count": 1}
    POST   /_sim/reset_index                 {"index": 5}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from blinkt_agent.sim.nomad import SimNomad
    from blinkt_agent.sim.nomad.api import NomadAgent

Result = tuple[dict[str, Any], Callable[[], None] | None]


def handle(
    sim: SimNomad, receiver: NomadAgent, method: str, parts: list[str], data: dict[str, Any]
) -> Result:
    """One control call; returns (JSON answer, something to do after answering)."""
    match method, parts:
        case "GET", ["state"]:
            return sim.state(), None
        case "GET", ["requests"]:
            return {"agents": [requests_of(agent) for agent in sim.all_agents()]}, None
        case "POST", ["nodes"]:
            name = field(data, "name")
            node_id = sim.add_node(name, **data)
            return {"id": node_id, "address": sim.agent_for(node_id).address}, None
        case "DELETE", ["nodes", node]:
            sim.remove_node(sim.node_id(node))
        case "POST", ["nodes", node, "down"]:
            sim.node_down(sim.node_id(node), lost=bool(data.get("lost", True)))
        case "POST", ["nodes", node, "up"]:
            sim.node_up(sim.node_id(node))
        case "POST", ["nodes", node, "reimage"]:
            old_down = bool(data.get("old_down", True))
            return {"id": sim.reimage(sim.node_id(node), old_down=old_down)}, None
        case "POST", ["nodes", node, "drain"]:
            sim.drain(
                sim.node_id(node),
                bool(field(data, "enable")),
                mark_eligible=bool(data.get("mark_eligible", False)),
            )
        case "POST", ["nodes", node, "drain_complete"]:
            sim.drain_complete(sim.node_id(node))
        case "POST", ["nodes", node, "eligibility"]:
            sim.set_eligibility(sim.node_id(node), bool(field(data, "eligible")))
        case "POST", ["namespaces"]:
            sim.add_namespace(str(field(data, "name")))
        case "POST", ["gc"]:
            removed = sim.gc_nodes(**({"threshold_s": float(data["threshold_s"])} if data else {}))
            return {"removed": removed}, None
        case "POST", ["allocations"]:
            node_id = sim.node_id(field(data, "node"))
            return {"id": sim.add_alloc(node_id, field(data, "job"), **data)}, None
        case "POST", ["allocations", alloc_id]:
            sim.update_alloc(alloc_id, **data)
        case "POST", ["allocations", alloc_id, "client_gc"]:
            sim.store.client_gc_alloc(alloc_id)
        case "DELETE", ["allocations", alloc_id]:
            sim.remove_alloc(alloc_id)
        case "POST", ["acl", "policies"]:
            sim.add_policy(field(data, "name"), field(data, "rules"))
        case "POST", ["acl", "tokens"]:
            return {"secret": sim.add_token(**data)}, None
        case "POST", ["outage"]:
            agents = targets(sim, receiver, data)
            if data.get("down"):
                if "seconds" not in data:
                    raise ValueError('an outage set over HTTP needs "seconds" (the port goes away)')
                seconds = float(data["seconds"])

                def go_down() -> None:  # after the answer, which the outage would cut
                    for agent in agents:
                        agent.set_outage(True, seconds=seconds)

                return {}, go_down
            for agent in agents:
                agent.set_outage(False)
        case "POST", ["proxy"]:
            for agent in targets(sim, receiver, data):
                agent.set_proxy(data.get("index_header"), data.get("blocking"))
        case "POST", ["fail"]:
            for agent in targets(sim, receiver, data):
                body = data.get("body", "simulated failure")
                agent.fail_next(int(field(data, "status")), int(data.get("count", 1)), body)
        case "POST", ["malformed"]:
            for agent in targets(sim, receiver, data):
                agent.malformed_next(int(data.get("count", 1)))
        case "POST", ["hang"]:
            for agent in targets(sim, receiver, data):
                agent.hang_next(float(field(data, "seconds")), int(data.get("count", 1)))
        case "POST", ["reset_index"]:
            sim.reset_index(int(field(data, "index")))
        case _:
            raise ValueError(f"unknown control call {method} /_sim/{'/'.join(parts)}")
    return {}, None


def requests_of(agent: NomadAgent) -> dict[str, Any]:
    return {
        "address": agent.address,
        "node_id": agent.node_id,
        "requests": [
            {"method": r.method, "path": r.path, "query": r.query} for r in list(agent.request_log)
        ],
    }


def targets(sim: SimNomad, receiver: NomadAgent, data: dict[str, Any]) -> list[NomadAgent]:
    """The agents a fault or setting applies to: data["agent"] (node name/ID, "*"), else
    the agent that received the call."""
    name = data.pop("agent", None)
    if name is None:
        return [receiver]
    if name == "*":
        return sim.all_agents()
    return [sim.agent_for(sim.node_id(name))]


def field(data: dict[str, Any], key: str) -> Any:
    """Pop a required field; a missing one is the caller's mistake (400)."""
    if key not in data:
        raise ValueError(f"missing field {key!r}")
    return data.pop(key)

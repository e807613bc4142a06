"""The JSON documents Nomad's HTTP API returns, rendered from the servers' state.

Field names and shapes follow hashicorp/nomad `nomad/structs` as the HTTP layer encodes them
(go-msgpack's JSON handle): structs.Node, structs.NodeListStub (Node.Stub), structs.Allocation
(whose `_struct` tag makes every empty top-level field omitted), AllocatedResources with
TaskLifecycles, and the pre-0.9 flat Resources/TaskResources shape for old allocations.
Callers hold the state's lock.
"""

from __future__ import annotations

from typing import Any

from blinkt_agent.sim.nomad.state import Alloc, Node, ServerState, Task, _iso

NOMAD_VERSION = "2.0.5"
OS_NAME = "debian"  # Raspberry Pi OS, as the host fingerprint names it
NOMAD_REVISION = "aa026cc99cfb74a77e519a1c1f0c78ba1b452705"
RESOURCES_SHAPES = ("new", "old", "both")  # AllocatedResources, pre-0.9 Resources, both

_CLIENT_DESCRIPTIONS = {
    "pending": "No tasks have started",
    "running": "Tasks are running",
    "complete": "All tasks have completed",
    "failed": "Failed tasks",
    "lost": "Tasks are running",  # the client never reported again; servers marked it lost
    "unknown": "Tasks are running",
}
_ZERO_TIME = "0001-01-01T00:00:00Z"
# structs.DesiredTransition: every field a *bool, nil until the drainer or an operator
# sets one; the struct itself is always encoded.
_DESIRED_TRANSITION = {
    "Migrate": None,
    "Reschedule": None,
    "ForceReschedule": None,
    "NoShutdownDelay": None,
    "MigrateDisablePlacement": None,
}


# -- nodes ------------------------------------------------------------------------------


def node_stub(
    state: ServerState, node: Node, resources: bool = False, os: bool = False
) -> dict[str, Any]:
    """structs.Node.Stub: what GET /v1/nodes lists (resources with ?resources=true, the
    `os.name` attribute with ?os=true; both `json:",omitempty"` otherwise)."""
    stub: dict[str, Any] = {
        "Address": node.address,
        "ID": node.id,
        **({"Attributes": {"os.name": OS_NAME}} if os else {}),
        "Datacenter": node.datacenter,
        "Name": node.name,
        "NodePool": node.node_pool,
        "NodeClass": node.node_class,
        "Version": NOMAD_VERSION,
        "Drain": node.drain_strategy is not None,
        "SchedulingEligibility": node.eligibility,
        "Status": node.status,
        "StatusDescription": "",
        "Drivers": _drivers(),
        "HostVolumes": None,
        "LastDrain": node.last_drain,
        "CreateIndex": node.create_index,
        "ModifyIndex": node.modify_index,
    }
    if resources:
        stub.update(node_resources(node))
    return stub


def node_doc(state: ServerState, node: Node) -> dict[str, Any]:
    """structs.Node (Sanitize'd: no SecretID, plus Drain) as GET /v1/node/:id returns it."""
    doc = {
        "ID": node.id,
        "SecretID": "",
        "Datacenter": node.datacenter,
        "Name": node.name,
        "HTTPAddr": node.http_addr,
        "TLSEnabled": False,
        "Attributes": {
            "unique.hostname": node.name,
            "nomad.version": NOMAD_VERSION,
            "nomad.revision": NOMAD_REVISION,
            "kernel.name": "linux",
            "os.name": OS_NAME,
            "cpu.arch": "arm64",
            "cpu.numcores": str(node.cores),
            "cpu.totalcompute": str(node.cpu),
            "memory.totalbytes": str(node.memory_mb * 1024 * 1024),
            "unique.network.ip-address": node.address,
        },
        **node_resources(node),
        "Links": {},
        "Meta": {"connect.sidecar_image": "", "connect.log_level": "info"},
        "NodeClass": node.node_class,
        "NodePool": node.node_pool,
        "ComputedClass": "v1:1234567890",
        "DrainStrategy": node.drain_strategy,
        "SchedulingEligibility": node.eligibility,
        "Status": node.status,
        "StatusDescription": "",
        "StatusUpdatedAt": node.status_updated_at,
        "Events": list(node.events),
        "Drivers": _drivers(),
        "CSIControllerPlugins": None,
        "CSINodePlugins": None,
        "HostVolumes": None,
        "HostNetworks": None,
        "LastDrain": node.last_drain,
        "LastMissedHeartbeatIndex": 0,
        "LastAllocUpdateIndex": 0,
        "CreateIndex": node.create_index,
        "ModifyIndex": node.modify_index,
        # The legacy field the JSON encoder adds back (structs/extensions.go nodeExt).
        "Drain": node.drain_strategy is not None,
    }
    if state.resources_shape != "new":
        doc["Resources"] = {
            "CPU": node.cpu,
            "Cores": 0,
            "MemoryMB": node.memory_mb,
            "DiskMB": node.disk_mb,
            "Networks": [_node_network(node)],
        }
        doc["Reserved"] = {
            "CPU": node.reserved_cpu,
            "MemoryMB": node.reserved_memory_mb,
            "DiskMB": node.reserved_disk_mb,
            "Networks": None,
        }
    return doc


def node_resources(node: Node) -> dict[str, Any]:
    """NodeResources (with the legacy Cpu block every 1.7+ server still fills in,
    cpucompat_linux.go Compatibility) and ReservedResources."""
    per_core = node.cpu // max(node.cores, 1)
    usable = [c for c in range(node.cores) if c not in node.reserved_cores]
    return {
        "NodeResources": {
            "Cpu": {
                "CpuShares": node.cpu,
                "TotalCpuCores": node.cores,
                "ReservableCpuCores": usable,
            },
            "Processors": {
                "Topology": {
                    "Nodes": [0],
                    "Distances": [[10]],
                    "Cores": [
                        {
                            "SocketID": 0,
                            "NodeID": 0,
                            "ID": core,
                            "Grade": True,
                            "Disable": core in node.reserved_cores,
                            "BaseSpeed": 0,
                            "MaxSpeed": per_core,
                            "GuessSpeed": 0,
                        }
                        for core in range(node.cores)
                    ],
                    "BusAssociativity": {},
                    "OverrideTotalCompute": 0,
                    "OverrideWitholdCompute": 0,
                }
            },
            "Memory": {"MemoryMB": node.memory_mb},
            "Disk": {"DiskMB": node.disk_mb},
            "Devices": None,
            "NodeNetworks": [
                {
                    "Mode": "host",
                    "Device": "eth0",
                    "MacAddress": "dc:a6:32:00:00:01",
                    "Speed": node.mbits,
                    "Addresses": [
                        {
                            "Family": "ipv4",
                            "Alias": "default",
                            "Address": node.address,
                            "ReservedPorts": "",
                            "Gateway": "",
                        }
                    ],
                }
            ],
            "Networks": [_node_network(node)],
            "MinDynamicPort": 20000,
            "MaxDynamicPort": 32000,
        },
        "ReservedResources": {
            "Cpu": {
                "CpuShares": node.reserved_cpu,
                "ReservedCpuCores": list(node.reserved_cores) or None,
            },
            "Memory": {"MemoryMB": node.reserved_memory_mb},
            "Disk": {"DiskMB": node.reserved_disk_mb},
            "Networks": {"ReservedHostPorts": ""},
        },
    }


def _node_network(node: Node) -> dict[str, Any]:
    return {
        "Mode": "host",
        "Device": "eth0",
        "CIDR": f"{node.address}/32",
        "IP": node.address,
        "MBits": node.mbits,
    }


def _drivers() -> dict[str, Any]:
    return {
        "docker": {
            "Attributes": {"driver.docker": "true"},
            "Detected": True,
            "Healthy": True,
            "HealthDescription": "Healthy",
            "UpdateTime": _ZERO_TIME,
        }
    }


# -- allocations ------------------------------------------------------------------------


def alloc_doc(state: ServerState, a: Alloc) -> dict[str, Any]:
    """structs.Allocation as GET /v1/node/:id/allocations lists it (empty fields omitted)."""
    node = state.nodes.get(a.node_id)
    address = node.address if node else "127.0.0.1"
    doc: dict[str, Any] = {
        "ID": a.id,
        "Namespace": a.namespace,
        "EvalID": a.eval_id,
        "Name": a.name,
        "NodeID": a.node_id,
        "NodeName": a.node_name,
        "JobID": a.job,
        "Job": _job(a),
        "TaskGroup": a.group,
        "DesiredStatus": a.desired_status,
        "DesiredDescription": a.desired_description,
        "DesiredTransition": dict(_DESIRED_TRANSITION),
        "ClientStatus": a.client_status,
        "ClientDescription": _CLIENT_DESCRIPTIONS[a.client_status],
        "TaskStates": {t.name: _task_state(a, t) for t in a.tasks},
        "CreateIndex": a.create_index,
        "ModifyIndex": a.modify_index,
        "AllocModifyIndex": a.alloc_modify_index,
        "CreateTime": a.create_time,
        "ModifyTime": a.modify_time,
    }
    if state.resources_shape != "old":
        doc["AllocatedResources"] = allocated_resources(a, address)
    if state.resources_shape != "new":
        doc.update(_old_resources(a, address))
    # Allocation carries `_struct bool codec:",omitempty"`: empty fields are left out.
    return {k: v for k, v in doc.items() if v not in ("", 0, None, False, {}, [])}


def alloc_stub(
    state: ServerState, a: Alloc, *, resources: bool = False, task_states: bool = True
) -> dict[str, Any]:
    """structs.AllocListStub (Allocation.Stub) as GET /v1/allocations lists it: every
    field always sent (no `_struct` tag), in the struct's order, except AllocatedResources
    (`json:",omitempty"`), there only with ?resources=true and when the allocation has it
    (not pre-0.9 ones); ?task_states=false sends TaskStates as null."""
    node = state.nodes.get(a.node_id)
    allocated = None
    if resources and state.resources_shape != "old":
        allocated = allocated_resources(a, node.address if node else "127.0.0.1")
    return {
        "ID": a.id,
        "EvalID": a.eval_id,
        "Name": a.name,
        "Namespace": a.namespace,
        "NodeID": a.node_id,
        "NodeName": a.node_name,
        "JobID": a.job,
        "JobType": "service",
        "JobVersion": 0,
        "TaskGroup": a.group,
        **({"AllocatedResources": allocated} if allocated else {}),
        "DesiredStatus": a.desired_status,
        "DesiredDescription": a.desired_description,
        "ClientStatus": a.client_status,
        "ClientDescription": _CLIENT_DESCRIPTIONS[a.client_status],
        "DesiredTransition": dict(_DESIRED_TRANSITION),
        "TaskStates": {t.name: _task_state(a, t) for t in a.tasks} if task_states else None,
        "DeploymentStatus": None,
        "FollowupEvalID": "",
        "NextAllocation": "",
        "RescheduleTracker": None,
        "PreemptedAllocations": None,
        "PreemptedByAllocation": "",
        "CreateIndex": a.create_index,
        "ModifyIndex": a.modify_index,
        "CreateTime": a.create_time,
        "ModifyTime": a.modify_time,
    }


def allocated_resources(a: Alloc, address: str) -> dict[str, Any]:
    """AllocatedResources: per-task Cpu/Memory/Networks, TaskLifecycles (every task, null
    for main tasks: scheduler/feasible/rank.go), and the group's Shared disk/networks/ports."""
    return {
        "Tasks": {
            t.name: {
                "Cpu": {"CpuShares": t.cpu, "ReservedCores": list(t.cores) or None},
                "Memory": {"MemoryMB": t.memory_mb, "MemoryMaxMB": t.memory_max_mb},
                # NetworkResource omits empty fields (msgpack omitempty, nomad#23540).
                "Networks": [_network(address, t.mbits)] if t.mbits else None,
                "Devices": None,
            }
            for t in a.tasks
        },
        "TaskLifecycles": {
            t.name: ({"Hook": t.hook, "Sidecar": t.sidecar} if t.hook else None) for t in a.tasks
        },
        "Shared": {
            "Networks": [_network(address, a.shared_mbits)] if a.shared_mbits else None,
            "DiskMB": a.disk_mb,
            "Ports": [
                {"Label": label, "Value": value, "To": 0, "HostIP": address}
                for label, value in a.ports.items()
            ]
            or None,
        },
    }


def _network(address: str, mbits: int) -> dict[str, Any]:
    cidr = f"{address}/32"
    return {"Mode": "host", "Device": "eth0", "CIDR": cidr, "IP": address, "MBits": mbits}


def _old_resources(a: Alloc, address: str) -> dict[str, Any]:
    """The pre-0.9 shape: Resources (the whole group), TaskResources, SharedResources."""
    tasks = {
        t.name: {
            "CPU": t.cpu,
            "Cores": len(t.cores),
            "MemoryMB": t.memory_mb,
            "MemoryMaxMB": t.memory_max_mb,
            "DiskMB": 0,
            "Networks": [_network(address, t.mbits)] if t.mbits else None,
        }
        for t in a.tasks
    }
    mbits = sum(t.mbits for t in a.tasks) + a.shared_mbits
    return {
        "Resources": {
            "CPU": sum(t.cpu for t in a.tasks),
            "Cores": sum(len(t.cores) for t in a.tasks),
            "MemoryMB": sum(t.memory_mb for t in a.tasks),
            "MemoryMaxMB": 0,
            "DiskMB": a.disk_mb,
            "Networks": [_network(address, mbits)] if mbits else None,
        },
        "TaskResources": tasks,
        "SharedResources": {
            "CPU": 0,
            "MemoryMB": 0,
            "DiskMB": a.disk_mb,
            "Networks": [_network(address, a.shared_mbits)] if a.shared_mbits else None,
        },
    }


def _job(a: Alloc) -> dict[str, Any]:
    return {
        "ID": a.job,
        "Name": a.job,
        "Namespace": a.namespace,
        "Region": "global",
        "Type": "service",
        "Priority": 50,
        "Datacenters": ["*"],
        "NodePool": "default",
        "Status": "running",
        "Stop": False,
        "TaskGroups": [
            {
                "Name": a.group,
                "Count": 1,
                "Tasks": [
                    {
                        "Name": t.name,
                        "Driver": "docker",
                        "Lifecycle": {"Hook": t.hook, "Sidecar": t.sidecar} if t.hook else None,
                        "Resources": {
                            "CPU": 0 if t.cores else t.cpu,
                            "Cores": len(t.cores),
                            "MemoryMB": t.memory_mb,
                            "MemoryMaxMB": t.memory_max_mb,
                        },
                    }
                    for t in a.tasks
                ],
            }
        ],
        "CreateIndex": a.create_index,
        "ModifyIndex": a.create_index,
        "JobModifyIndex": a.create_index,
    }


def _task_state(a: Alloc, t: Task) -> dict[str, Any]:
    """A TaskStates entry telling the same story as the allocation's client status and
    the task's lifecycle: an ephemeral prestart task has finished while the main tasks
    run, a poststop task waits for the others to stop; a failed main task used up the
    default service restart policy (2 attempts in 30 m, mode "fail")."""
    created, modified = a.create_time, a.modify_time
    events = [_event("Received", "Task received by client", created)]
    state, failed, started, finished = "pending", False, _ZERO_TIME, _ZERO_TIME
    restarts, last_restart = 0, _ZERO_TIME
    ran = a.client_status in ("running", "complete", "failed", "lost", "unknown")
    if t.hook == "poststop":
        ran = a.client_status in ("complete", "failed")
    if ran:
        setup = "Building Task Directory"  # structs.TaskBuildingTaskDir
        events.append(
            _event("Task Setup", setup, created, Message=setup, Details={"message": setup})
        )
        events.append(_event("Started", "Task started by client", created))
        started, state = _iso(created / 1e9), "running"
    ended = a.client_status in ("complete", "failed") or (
        a.client_status == "running" and t.hook == "prestart" and not t.sidecar
    )
    if ran and ended:
        code = 1 if a.client_status == "failed" and t.hook is None else 0
        # task_runner.go: SetExitCode, SetSignal, SetOOMKilled.
        details = {"exit_code": str(code), "signal": "0", "oom_killed": "false"}
        events.append(
            _event("Terminated", f"Exit Code: {code}", modified, ExitCode=code, Details=details)
        )
        if code:
            reason = 'Exceeded allowed attempts 2 in interval 30m0s and mode is "fail"'
            events.append(
                _event(
                    "Not Restarting",
                    reason,
                    modified,
                    RestartReason=reason,
                    FailsTask=True,
                    Details={"restart_reason": reason, "fails_task": "true"},
                )
            )
            restarts, last_restart = 2, started
        finished, state, failed = _iso(modified / 1e9), "dead", bool(code)
    return {
        "State": state,
        "Failed": failed,
        "Restarts": restarts,
        "LastRestart": last_restart,
        "StartedAt": started,
        "FinishedAt": finished,
        "Events": events,
        "Paused": "",  # TaskScheduleState: "" unless a schedule paused the task
    }


def _event(kind: str, display: str, at_ns: int, **fields: Any) -> dict[str, Any]:
    """structs.TaskEvent: every field sent; the ones the event sets in `fields`."""
    event: dict[str, Any] = {
        "Type": kind,
        "Time": at_ns,
        "Message": "",
        "DisplayMessage": display,
        "Details": {},
        "FailsTask": False,
        "RestartReason": "",
        "SetupError": "",
        "DriverError": "",
        "ExitCode": 0,
        "Signal": 0,
        "KillTimeout": 0,
        "KillError": "",
        "KillReason": "",
        "StartDelay": 0,
        "DownloadError": "",
        "ValidationError": "",
        "DiskLimit": 0,
        "FailedSibling": "",
        "VaultError": "",
        "TaskSignalReason": "",
        "TaskSignal": "",
        "DriverMessage": "",
        "GenericSource": "",
    }
    event.update(fields)
    return event


# -- the agent --------------------------------------------------------------------------


def agent_self(
    state: ServerState,
    *,
    node_id: str | None,
    server: bool,
    name_in_config: str,
    http: tuple[str, int],
    acl_enabled: bool,
) -> dict[str, Any]:
    """GET /v1/agent/self (agent_endpoint.go AgentSelfRequest): the agent's config, its
    serf member (zero for a client-only agent: it has no server), and Stats(): the
    server's sections when it is one, the client's ("client": node_id, num_allocations,
    ...) when it is one."""
    host, port = http
    node = state.nodes.get(node_id or "")
    stats: dict[str, dict[str, str]] = {"runtime": {"arch": "arm64", "version": "go1.26.5"}}
    if server:
        stats["nomad"] = {"server": "true", "leader": "true", "known_regions": "1"}
        stats["raft"] = {"state": "Leader", "applied_index": str(state.index)}
    if node_id is not None:  # the client knows its ID even if the servers purged the node
        stats["client"] = {
            "node_id": node_id,
            "known_servers": state.leader_rpc,
            "num_allocations": str(state.client_num_allocations(node_id)),
            "last_heartbeat": "3.214567891s",
            "heartbeat_ttl": "17.5s",
        }
    member: dict[str, Any] = {
        "Name": "",
        "Addr": None,
        "Port": 0,
        "Tags": None,
        "Status": "none",
        "ProtocolMin": 0,
        "ProtocolMax": 0,
        "ProtocolCur": 0,
        "DelegateMin": 0,
        "DelegateMax": 0,
        "DelegateCur": 0,
    }
    if server:
        member.update(
            Name=f"{name_in_config or (node.name if node else 'nomad-server')}.{state.region}",
            Addr=host,
            Port=4648,
            Status="alive",
            Tags={
                "role": "nomad",
                "region": state.region,
                "dc": state.datacenter,
                "build": NOMAD_VERSION,
            },
            ProtocolMin=1,
            ProtocolMax=5,
            ProtocolCur=2,
            DelegateMin=2,
            DelegateMax=5,
            DelegateCur=4,
        )
    return {
        "config": {
            "Region": state.region,
            "Datacenter": node.datacenter if node else state.datacenter,
            # Only what the agent's own config says: "" unless `name` is set there (the
            # client then registers under the host name, client/client.go).
            "NodeName": name_in_config,
            "DataDir": "/opt/nomad/data",
            "BindAddr": "0.0.0.0",
            "Version": {
                "BuildDate": "2026-08-01T00:00:00Z",
                "Revision": NOMAD_REVISION,
                "Version": NOMAD_VERSION,
                "VersionPrerelease": "",
                "VersionMetadata": "",
            },
            "Client": {"Enabled": node_id is not None},
            "Server": {"Enabled": server},
            "ACL": {"Enabled": acl_enabled, "ReplicationToken": ""},
            "Ports": {"HTTP": port, "RPC": 4647, "Serf": 4648},
            "Addresses": {"HTTP": host, "RPC": host, "Serf": host},
            "AdvertiseAddrs": {"HTTP": f"{host}:{port}", "RPC": f"{host}:4647"},
        },
        "member": member,
        "stats": stats,
    }

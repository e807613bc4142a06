"""Kubernetes pods and nodes to the neutral model: kubectl's STATUS, the state, the holds.

The STATUS table mirrors kubernetes/kubernetes pkg/printers/internalversion/printers_test.go
TestPrintPod (test1..test20) and TestPrintPodWithRestartableInitContainer (test1..test4),
written as the JSON the API server sends; the other pods are shaped as the kubelet
writes them.
"""

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blinkt_agent.snapshot import STATES, Workload
from blinkt_agent.sources.kubernetes.normalise import (
    ended_ns,
    node_capacity,
    node_of,
    node_ready_status,
    node_state,
    pod_state,
    workload_of,
)
from blinkt_agent.sources.kubernetes.printers import pod_row, pod_status
from blinkt_agent.sources.kubernetes.resources import holds_of, pod_requests

RUNNING = {"running": {"startedAt": "2024-05-01T12:00:05Z"}}
DELETED = {"deletionTimestamp": "2024-05-01T13:00:00Z", "deletionGracePeriodSeconds": 30}
SIDECAR = {"restartPolicy": "Always"}


def terminated(exit_code=0, reason="", finished="2024-05-01T12:10:00Z", signal=None):
    state = {"exitCode": exit_code, "finishedAt": finished}
    if reason:
        state["reason"] = reason
    if signal is not None:
        state["signal"] = signal
    return {"terminated": state}


def waiting(reason="", message=""):
    return {"waiting": {"reason": reason, "message": message} if reason else {}}


def status(name="", ready=False, state=None, restarts=0, started=None, last=None):
    entry = {"name": name, "ready": ready, "restartCount": restarts, "state": state or {}}
    if started is not None:
        entry["started"] = started
    if last is not None:
        entry["lastState"] = last
    return entry


def pod(
    phase="Running",
    containers=1,
    statuses=(),
    inits=(),
    init_statuses=(),
    conditions=(),
    reason="",
    meta=None,
):
    """A pod as GET /api/v1/pods returns it; containers: a count or container specs."""
    if isinstance(containers, int):
        containers = [{"name": f"c{i}", "image": "nginx:1.27"} for i in range(containers)]
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-7d4b9c6f5-x2x9k",
            "namespace": "default",
            "uid": "5f1e2d3c-0000-4000-8000-000000000001",
            "creationTimestamp": "2024-05-01T12:00:00Z",
            **(meta or {}),
        },
        "spec": {"nodeName": "pi-01", "containers": containers, "initContainers": list(inits)},
        "status": {
            "phase": phase,
            "conditions": list(conditions),
            "containerStatuses": list(statuses),
            "initContainerStatuses": list(init_statuses),
        },
    }
    if reason:
        body["status"]["reason"] = reason
    return body


def cond(kind, value="True", reason="", changed="2024-05-01T12:00:10Z"):
    entry = {"type": kind, "status": value, "lastTransitionTime": changed}
    if reason:
        entry["reason"] = reason
    return entry


READY = cond("Ready")
NOT_READY = cond("Ready", "False", "ContainersNotReady")
INITIALIZED = cond("Initialized")
NOT_INITIALIZED = cond("Initialized", "False", "ContainersNotInitialized")

# (name, pod, kubectl READY, kubectl STATUS), from TestPrintPod / ...WithRestartableInitContainer
PRINT_POD = [
    ("test1", pod("podPhase", 2, [status(ready=True, state=RUNNING), status()]), "1/2", "podPhase"),
    (
        "test2",
        pod(
            "podPhase",
            2,
            [status(ready=True, state=RUNNING), status(state=waiting("ContainerWaitingReason"))],
        ),
        "1/2",
        "ContainerWaitingReason",
    ),
    (
        "test3",
        pod(
            "podPhase",
            2,
            [
                status(state=waiting("ContainerWaitingReason")),
                status(state=terminated(0, "ContainerTerminatedReason")),
            ],
        ),
        "0/2",
        "ContainerWaitingReason",
    ),
    (
        "test4",
        pod("podPhase", 2, [status(ready=True, state=RUNNING), status(ready=True)]),
        "1/2",
        "podPhase",
    ),
    (
        "test5",
        pod(
            "podPhase",
            2,
            [status(ready=True, state=RUNNING), status(ready=True)],
            reason="podReason",
        ),
        "1/2",
        "podReason",
    ),
    (
        "test6 without Ready",
        pod(
            "Running",
            2,
            [
                status(ready=True, state=terminated(0, "Completed")),
                status(ready=True, state=RUNNING),
            ],
        ),
        "1/2",
        "NotReady",
    ),
    (
        "test6 with Ready",
        pod(
            "Running",
            2,
            [
                status(ready=True, state=terminated(0, "Completed")),
                status(ready=True, state=RUNNING),
            ],
            conditions=[READY],
        ),
        "1/2",
        "Running",
    ),
    (
        "test7",
        pod(
            "podPhase",
            1,
            [status(state={"waiting": {}})],
            [{"name": "i0"}],
            [status(state=RUNNING, restarts=3)],
        ),
        "0/1",
        "Init:0/1",
    ),
    (
        "test8",
        pod(
            "podPhase",
            1,
            [status(state={"waiting": {}})],
            [{"name": "i0"}, {"name": "i1"}],
            [status(state=RUNNING, restarts=3), status(state={"waiting": {}})],
        ),
        "0/1",
        "Init:0/2",
    ),
    (
        "test9",
        pod(
            "podPhase",
            1,
            [status(state={"waiting": {}})],
            [{"name": "i0"}, {"name": "i1"}],
            [status(state={"terminated": {}}), status(state=RUNNING, restarts=3)],
        ),
        "0/1",
        "Init:1/2",
    ),
    (
        "test11",
        pod(
            "Running",
            1,
            [status(state=RUNNING, restarts=4)],
            [{"name": "i0"}],
            [status(state={"terminated": {}})],
        ),
        "0/1",
        "Running",
    ),
    (
        "test15",
        pod("podPhase", 2, conditions=[cond("PodScheduled", "False", "SchedulingGated")]),
        "0/2",
        "SchedulingGated",
    ),
    ("test16", pod("Succeeded", 1, [status(state=terminated(0, "Completed"))]), "0/1", "Completed"),
    ("test17", pod("Failed", 1, [status(state=terminated(1, "Error"))]), "0/1", "Error"),
    (
        "test18",
        pod("Succeeded", 1, [status(state=terminated(0, "Completed"))], meta=DELETED),
        "0/1",
        "Completed",
    ),
    ("test19", pod("Running", 1, [status(state=RUNNING)], meta=DELETED), "0/1", "Terminating"),
    ("test20", pod("Pending", 1, meta=DELETED), "0/1", "Terminating"),
    (
        "sidecar test1",
        pod(
            "Pending",
            1,
            [status(state={"waiting": {}})],
            [{"name": "s1", **SIDECAR}, {"name": "s2", **SIDECAR}],
            [
                status("s1", state=RUNNING, started=False, restarts=3),
                status("s2", state={"waiting": {}}, started=False),
            ],
            [NOT_INITIALIZED],
        ),
        "0/3",
        "Init:0/2",
    ),
    (
        "sidecar test1 second",
        pod(
            "Pending",
            1,
            [status(state={"waiting": {}})],
            [{"name": "s1", **SIDECAR}, {"name": "s2", **SIDECAR}],
            [status("s1", state=RUNNING, started=True), status("s2", state=RUNNING, started=False)],
            [NOT_INITIALIZED],
        ),
        "0/3",
        "Init:1/2",
    ),
    (
        "sidecar test2",
        pod(
            "Running",
            1,
            [status(ready=True, state=RUNNING, restarts=4)],
            [{"name": "s1", **SIDECAR}, {"name": "s2", **SIDECAR}],
            [status("s1", state=RUNNING, started=True), status("s2", state=RUNNING, started=True)],
            [INITIALIZED],
        ),
        "1/3",
        "Running",
    ),
    (
        "sidecar test3",
        pod(
            "Succeeded",
            1,
            [status(state=terminated(0, "Completed"))],
            [{"name": "s1", **SIDECAR}, {"name": "s2", **SIDECAR}],
            [status("s1", state=terminated(137, "Error"), started=False)] * 2,
            [INITIALIZED],
        ),
        "0/3",
        "Completed",
    ),
    (
        "sidecar test4",
        pod(
            "Running",
            [{"name": "container1"}],
            [status("containerinvalid"), status("container1")],
            [{"name": "init1"}, {"name": "sidecar1", **SIDECAR}],
            [status("initinvalid"), status("init1"), status("sidecar1")],
        ),
        "0/2",
        "Init:0/2",
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "ready", "shown"), PRINT_POD, ids=[c[0] for c in PRINT_POD]
)
def test_status_and_ready_columns_are_kubectls(case, body, ready, shown):
    row = pod_row(body)
    assert (f"{row.ready}/{row.total}", row.status) == (ready, shown)


# --- pods as the kubelet writes them: STATUS, and the state shown ------------------------

CRASHING = pod(
    statuses=[
        status(
            "c0",
            state=waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container"),
            restarts=7,
            last=terminated(1, "Error"),
        )
    ],
    conditions=[INITIALIZED, NOT_READY],
)
KUBELET_PODS = [
    (
        "serving",
        pod(statuses=[status("c0", True, RUNNING)], conditions=[INITIALIZED, READY]),
        "Running",
        "running",
    ),
    (
        "not ready yet",
        pod(statuses=[status("c0", False, RUNNING)], conditions=[NOT_READY]),
        "Running",
        "pending",
    ),
    (
        "unschedulable",
        pod("Pending", conditions=[cond("PodScheduled", "False", "Unschedulable")]),
        "Pending",
        "pending",
    ),
    (
        "gated",
        pod("Pending", conditions=[cond("PodScheduled", "False", "SchedulingGated")]),
        "SchedulingGated",
        "pending",
    ),
    (
        "creating",
        pod("Pending", statuses=[status("c0", state=waiting("ContainerCreating"))]),
        "ContainerCreating",
        "pending",
    ),
    ("crash loop", CRASHING, "CrashLoopBackOff", "failed"),
    (
        "image pull",
        pod("Pending", statuses=[status("c0", state=waiting("ImagePullBackOff"))]),
        "ImagePullBackOff",
        "failed",
    ),
    (
        "pull error",
        pod("Pending", statuses=[status("c0", state=waiting("ErrImagePull"))]),
        "ErrImagePull",
        "failed",
    ),
    (
        "bad config",
        pod("Pending", statuses=[status("c0", state=waiting("CreateContainerConfigError"))]),
        "CreateContainerConfigError",
        "failed",
    ),
    (
        "oom restart",
        pod(statuses=[status("c0", state=terminated(137, "OOMKilled"))]),
        "OOMKilled",
        "failed",
    ),
    ("exit code", pod(statuses=[status("c0", state=terminated(3))]), "ExitCode:3", "failed"),
    ("signal", pod(statuses=[status("c0", state=terminated(0, signal=9))]), "Signal:9", "failed"),
    (
        "job done",
        pod("Succeeded", statuses=[status("c0", state=terminated(0, "Completed"))]),
        "Completed",
        None,
    ),
    (
        "job failed",
        pod("Failed", statuses=[status("c0", state=terminated(2, "Error"))]),
        "Error",
        "failed",
    ),
    (
        "evicted",
        pod(
            "Failed",
            reason="Evicted",
            statuses=[status("c0", state=terminated(137, "ContainerStatusUnknown"))],
        ),
        "ContainerStatusUnknown",
        "failed",
    ),
    ("evicted unstarted", pod("Failed", reason="Evicted"), "Evicted", "failed"),
    (
        "deleting",
        pod(statuses=[status("c0", True, RUNNING)], conditions=[READY], meta=DELETED),
        "Terminating",
        "stopping",
    ),
    ("node lost", pod(reason="NodeLost", meta=DELETED), "Unknown", "lost"),
    ("phase unknown", pod("Unknown"), "Unknown", "lost"),
    (
        "odd reason",
        pod(statuses=[status("c0", state=waiting("SomethingNew"))]),
        "SomethingNew",
        "unknown",
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "shown", "state"), KUBELET_PODS, ids=[c[0] for c in KUBELET_PODS]
)
def test_kubelet_pods_get_kubectls_status_and_their_state(case, body, shown, state):
    assert (pod_status(body), pod_state(body)) == (shown, state)


INIT_PODS = [
    (
        "Init:0/2",
        pod(
            "Pending",
            inits=[{"name": "i0"}, {"name": "i1"}],
            init_statuses=[status("i0", state=RUNNING)],
        ),
        "pending",
    ),
    (
        "Init:ContainerCreating",
        pod(
            "Pending",
            inits=[{"name": "i0"}],
            init_statuses=[status("i0", state=waiting("ContainerCreating"))],
        ),
        "pending",
    ),
    (
        "Init:CrashLoopBackOff",
        pod(
            "Pending",
            inits=[{"name": "i0"}],
            init_statuses=[status("i0", state=waiting("CrashLoopBackOff"))],
        ),
        "failed",
    ),
    (
        "Init:ImagePullBackOff",
        pod(
            "Pending",
            inits=[{"name": "i0"}],
            init_statuses=[status("i0", state=waiting("ImagePullBackOff"))],
        ),
        "failed",
    ),
    (
        "Init:Error",
        pod(
            "Pending",
            inits=[{"name": "i0"}],
            init_statuses=[status("i0", state=terminated(1, "Error"))],
        ),
        "failed",
    ),
    (
        "Init:ExitCode:1",
        pod("Pending", inits=[{"name": "i0"}], init_statuses=[status("i0", state=terminated(1))]),
        "failed",
    ),
    (
        "Init:Signal:15",
        pod(
            "Pending",
            inits=[{"name": "i0"}],
            init_statuses=[status("i0", state=terminated(1, signal=15))],
        ),
        "failed",
    ),
]


@pytest.mark.parametrize(("shown", "body", "state"), INIT_PODS, ids=[c[0] for c in INIT_PODS])
def test_init_progress_is_pending_and_a_failing_init_container_is_failed(shown, body, state):
    assert (pod_status(body), pod_state(body)) == (shown, state)


def test_pods_on_a_node_whose_kubelet_stopped_reporting_are_lost():
    serving = pod(statuses=[status("c0", True, RUNNING)], conditions=[READY])
    assert pod_state(serving, node_ready="Unknown") == "lost"
    assert pod_state(serving, node_ready="False") == "running"
    assert pod_state(pod("Succeeded"), node_ready="Unknown") is None
    assert pod_state(pod("Failed"), node_ready="Unknown") == "failed"


def test_ready_column_decides_when_a_running_pod_has_no_ready_condition():
    assert pod_state(pod(statuses=[status("c0", True, RUNNING)])) == "running"
    assert pod_state(pod(containers=2, statuses=[status("c0", True, RUNNING)])) == "pending"


# --- pod -> Workload -----------------------------------------------------------------------


def test_a_serving_pod_becomes_a_workload_with_uid_name_order_and_holds():
    containers = [{"name": "c0", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}}]
    body = pod(containers=containers, statuses=[status("c0", True, RUNNING)], conditions=[READY])
    assert workload_of(body) == Workload(
        id="5f1e2d3c-0000-4000-8000-000000000001",
        name="default/web-7d4b9c6f5-x2x9k",
        state="running",
        order=1714564800,
        holds={"cpu": 0.25, "memory": 64 * 2**20},
    )


def test_a_pod_without_uid_is_known_by_namespace_and_name_and_junk_time_has_no_order():
    body = pod(meta={"uid": None, "creationTimestamp": "yesterday"})
    workload = workload_of(body)
    assert workload is not None
    assert (workload.id, workload.order) == ("default/web-7d4b9c6f5-x2x9k", None)


def test_a_failed_pod_ended_at_its_last_container_exit_and_holds_nothing():
    body = pod(
        "Failed",
        containers=[{"name": "c0", "resources": {"requests": {"cpu": "1"}}}],
        statuses=[
            status("c0", state=terminated(1, "Error", "2024-05-01T12:10:00Z")),
            status("c1", state=terminated(1, "Error", "2024-05-01T12:11:30.5Z")),
        ],
    )
    workload = workload_of(body)
    assert workload is not None
    assert (workload.state, workload.ended_ns, dict(workload.holds)) == (
        "failed",
        1714565490_500_000_000,
        {},
    )


def test_an_evicted_pod_without_exits_ended_when_it_stopped_being_ready():
    body = pod(
        "Failed",
        reason="Evicted",
        conditions=[cond("Ready", "False", changed="2024-05-01T12:20:00Z")],
    )
    assert ended_ns(body) == 1714566000 * 10**9


def test_a_crash_looping_pod_is_failing_but_has_not_ended():
    workload = workload_of(CRASHING)
    assert workload is not None
    assert (workload.state, workload.ended_ns) == ("failed", None)
    assert workload.holds == {"cpu": 0.0, "memory": 0.0}


def test_a_completed_pod_is_not_a_workload():
    assert (
        workload_of(pod("Succeeded", statuses=[status("c0", state=terminated(0, "Completed"))]))
        is None
    )


# --- holds: PodRequests as describe node sums it --------------------------------------------


def requests_pod(containers=(), inits=(), overhead=None, pod_level=None, phase="Running"):
    body = pod(
        phase,
        containers=[
            {"name": f"c{i}", "resources": {"requests": r}} for i, r in enumerate(containers)
        ],
    )
    body["spec"]["initContainers"] = [
        {
            "name": f"i{i}",
            "resources": {"requests": r},
            **({"restartPolicy": "Always"} if side else {}),
        }
        for i, (r, side) in enumerate(inits)
    ]
    if overhead:
        body["spec"]["overhead"] = overhead
    if pod_level:
        body["spec"]["resources"] = {"requests": pod_level}
    return body


def test_containers_are_summed_and_a_larger_init_container_sets_the_floor():
    body = requests_pod(
        [{"cpu": "100m", "memory": "64Mi"}, {"cpu": "200m"}],
        [({"cpu": "500m", "memory": "16Mi"}, False)],
    )
    assert holds_of(body) == {"cpu": 0.5, "memory": 64 * 2**20}


def test_sidecars_add_to_the_containers_and_to_later_init_containers():
    # KEP-753: init i1 runs beside sidecar i0, so its peak is 300m + 700m.
    sidecar, later = ({"cpu": "300m"}, True), ({"cpu": "700m"}, False)
    assert holds_of(requests_pod([{"cpu": "100m"}], [sidecar, later])) == {
        "cpu": 1.0,
        "memory": 0.0,
    }
    assert holds_of(requests_pod([{"cpu": "100m"}], [later, sidecar])) == {
        "cpu": 0.7,
        "memory": 0.0,
    }


def test_pod_overhead_is_added_and_pod_level_requests_replace_the_containers():
    body = requests_pod(
        [{"cpu": "100m", "memory": "1Gi"}], overhead={"cpu": "10m", "memory": "8Mi"}
    )
    assert holds_of(body) == {"cpu": 0.11, "memory": 2**30 + 8 * 2**20}
    body = requests_pod([{"cpu": "100m", "memory": "1Gi"}], pod_level={"cpu": "2"})
    assert holds_of(body) == {"cpu": 2.0, "memory": 2**30}


def test_terminated_pods_hold_nothing_and_pending_ones_hold_their_requests():
    assert holds_of(requests_pod([{"cpu": "1"}], phase="Succeeded")) == {}
    assert holds_of(requests_pod([{"cpu": "1"}], phase="Failed")) == {}
    assert holds_of(requests_pod([{"cpu": "1"}], phase="Pending")) == {"cpu": 1.0, "memory": 0.0}


quantities = st.builds(
    lambda n, s: f"{n}{s}", st.integers(0, 4000), st.sampled_from(["m", "", "Mi", "k"])
)
resource_lists = st.dictionaries(st.sampled_from(["cpu", "memory"]), quantities)


@given(st.lists(resource_lists, max_size=4), st.lists(resource_lists, max_size=4))
def test_init_containers_count_as_their_max_and_containers_as_their_sum(containers, inits):
    from blinkt_agent.sources.kubernetes.quantity import parse_quantity

    got = pod_requests(requests_pod(containers, [(r, False) for r in inits]))
    for name in ("cpu", "memory"):
        summed = sum(parse_quantity(c[name]) for c in containers if name in c)
        peak = max((parse_quantity(i[name]) for i in inits if name in i), default=0)
        named = any(name in r for r in (*containers, *inits))
        assert got.get(name) == (max(summed, peak) if named else None)


# --- nodes -----------------------------------------------------------------------------------


def node(ready="True", unschedulable=None, allocatable=None, capacity=None):
    body = {
        "metadata": {"name": "pi-01", "uid": "n-1"},
        "spec": {} if unschedulable is None else {"unschedulable": unschedulable},
        "status": {
            "conditions": [
                cond("MemoryPressure", "False"),
                *([] if ready is None else [cond("Ready", ready, "KubeletReady")]),
            ],
            "capacity": capacity or {"cpu": "4", "memory": "3930936Ki", "pods": "110"},
            "allocatable": allocatable
            if allocatable is not None
            else {"cpu": "4", "memory": "3930936Ki", "pods": "110"},
        },
    }
    return body


@pytest.mark.parametrize(
    ("ready", "unschedulable", "state"),
    [("True", None, "ready"), ("True", True, "cordoned"), ("False", None, "down"),
     ("False", True, "down"), ("Unknown", None, "down"), (None, None, "down"),
     ("Maybe", None, "unknown")],
)  # fmt: skip
def test_node_state_follows_ready_and_cordon(ready, unschedulable, state):
    assert node_state(node(ready, unschedulable)) == state


def test_junk_nodes_are_unknown():
    assert node_state("pi-01") == "unknown"
    assert node_state({"status": {"conditions": "Ready"}}) == "unknown"


def test_node_ready_status_takes_the_last_ready_condition_as_printnode_does():
    body = node("True")
    body["status"]["conditions"].append(cond("Ready", "Unknown", "NodeStatusUnknown"))
    assert node_ready_status(body) == "Unknown"
    assert node_ready_status(node(None)) is None


def test_node_capacity_is_allocatable_in_cores_and_bytes_else_capacity():
    assert node_capacity(node(allocatable={"cpu": "3500m", "memory": "3Gi"})) == {
        "cpu": 3.5,
        "memory": 3 * 2**30,
    }
    assert node_capacity(node(allocatable={}, capacity={"cpu": "4", "memory": "4Gi"})) == {
        "cpu": 4.0,
        "memory": 4 * 2**30,
    }
    assert node_capacity(node(allocatable={"cpu": "lots", "memory": "1Gi"})) == {"memory": 2**30}


def test_node_of_carries_name_state_workloads_and_capacity():
    workload = workload_of(pod(statuses=[status("c0", True, RUNNING)], conditions=[READY]))
    assert workload is not None
    made = node_of(node(unschedulable=True), [workload])
    assert (made.name, made.state, made.workloads) == ("pi-01", "cordoned", (workload,))
    assert made.capacity == {"cpu": 4.0, "memory": 3930936 * 1024}


# --- whatever comes from outside -------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
words = st.sampled_from(
    ["Running", "Pending", "Failed", "Succeeded", "Unknown", "Ready", "True", "False",
     "Always", "Initialized", "PodScheduled", "SchedulingGated", "NodeLost", "Completed",
     "c0", "", "1Gi", "100m"]
)  # fmt: skip
leaves = words | json_values


def some(**fields):
    """A mapping with any of `fields`, or junk in its place."""
    return st.fixed_dictionaries({}, optional=fields) | leaves


def some_list(elements):
    return st.lists(elements, max_size=3) | leaves


def jsonish_pod():
    state = some(
        running=some(startedAt=leaves),
        waiting=some(reason=words, message=leaves),
        terminated=some(
            exitCode=st.integers(-5, 300) | leaves,
            signal=st.integers(0, 64) | leaves,
            reason=words,
            finishedAt=leaves,
        ),
    )
    container_status = some(name=words, ready=leaves, started=leaves, state=state)
    condition = some(type=words, status=words, reason=words, lastTransitionTime=leaves)
    container = some(name=words, restartPolicy=words, resources=some(requests=resource_lists))
    return some(
        metadata=some(
            uid=leaves,
            name=leaves,
            namespace=leaves,
            deletionTimestamp=leaves,
            creationTimestamp=leaves,
        ),
        spec=some(
            containers=some_list(container),
            initContainers=some_list(container),
            overhead=resource_lists | leaves,
            resources=some(requests=resource_lists),
        ),
        status=some(
            phase=words,
            reason=words,
            conditions=some_list(condition),
            containerStatuses=some_list(container_status),
            initContainerStatuses=some_list(container_status),
        ),
    )


@settings(max_examples=400)
@given(jsonish_pod(), st.sampled_from(["True", "False", "Unknown", None, ""]))
def test_any_jsonish_pod_gives_a_status_and_a_state_and_never_raises(body, node_ready):
    original = copy.deepcopy(body)
    assert isinstance(pod_status(body), str)
    assert pod_state(body, node_ready) in (*STATES, None)
    workload = workload_of(body, node_ready)
    assert workload is None or isinstance(workload, Workload)
    assert body == original  # read, never changed


@given(
    json_values
    | st.fixed_dictionaries(
        {}, optional={"status": json_values, "spec": json_values, "metadata": json_values}
    )
)
def test_any_jsonish_node_gives_a_node(body):
    made = node_of(body, ())
    assert made.state in ("ready", "cordoned", "down", "unknown")
    assert isinstance(made.name, str) and all(
        isinstance(v, float) for v in (made.capacity or {}).values()
    )

"""SimKubernetes' pods as the kubelet writes them and nodes as k3s reports them.

Every catalogue state prints as its STATUS through the port of kubectl's printPod; the
transitions (create, state changes, graceful and immediate deletes) are watch events;
nodes carry a Pi 4's capacity, the kubelet's conditions and the controller's taints.
"""

import re

import pytest

from blinkt_agent.sim.kubernetes import CATALOGUE, SimKubernetes, print_pod
from blinkt_agent.sim.kubernetes.catalogue import back_off
from tests.k8s_helpers import Watch, get, rv


@pytest.fixture
def k8s():
    with SimKubernetes() as sim:
        sim.add_node("pi-01")
        yield sim


def conditions(doc):
    return {c["type"]: (c["status"], c.get("reason", "")) for c in doc["status"]["conditions"]}


def served(k8s, name, namespace="default"):
    return get(k8s, f"/api/v1/namespaces/{namespace}/pods/{name}").json()


# -- the catalogue -------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(CATALOGUE))
def test_every_catalogue_state_prints_as_its_kubectl_status(k8s, state):
    entry = CATALOGUE[state]
    k8s.add_pod("default", "p", "pi-01", state=state, init=entry.init)
    row = print_pod(served(k8s, "p"))
    assert (row.ready, row.status) == (entry.ready, entry.status)


def test_a_running_pod_with_a_sidecar_is_ready_2_of_2(k8s):
    k8s.add_pod("default", "p", "pi-01", state="Running", sidecar=True)
    pod = served(k8s, "p")
    assert pod["spec"]["initContainers"][0]["restartPolicy"] == "Always"
    assert print_pod(pod)[:2] == ("2/2", "Running")
    (sidecar,) = pod["status"]["initContainerStatuses"]
    assert (sidecar["ready"], sidecar["started"], "running" in sidecar["state"]) == (
        True,
        True,
        True,
    )


def test_a_sidecar_counts_in_init_progress(k8s):
    k8s.add_pod("default", "p", "pi-01", state="Init:0/1", init=True, sidecar=True)
    assert print_pod(served(k8s, "p"))[:2] == ("0/2", "Init:0/2")


def test_an_unscheduled_pod_has_only_podscheduled_false_unschedulable(k8s):
    k8s.add_pod("default", "p", "pi-01", state="Pending")
    pod = served(k8s, "p")
    assert "nodeName" not in pod["spec"] and "containerStatuses" not in pod["status"]
    (cond,) = pod["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == (
        "PodScheduled",
        "False",
        "Unschedulable",
    )
    assert cond["message"].startswith("0/1 nodes are available: 1 Insufficient memory.")


def test_a_running_pod_has_the_kubelets_conditions_addresses_and_qos(k8s):
    k8s.add_pod("default", "p", "pi-01", requests={"cpu": "100m", "memory": "64Mi"})
    pod = served(k8s, "p")
    assert list(conditions(pod)) == [
        "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled",
    ]  # fmt: skip
    assert {s for s, _ in conditions(pod).values()} == {"True"}
    status = pod["status"]
    assert status["hostIP"] == "192.168.1.10" and re.match(r"^10\.42\.0\.\d+$", status["podIP"])
    assert status["podIPs"] == [{"ip": status["podIP"]}] and status["qosClass"] == "Burstable"
    (app,) = status["containerStatuses"]
    assert app["containerID"].startswith("containerd://") and app["imageID"].startswith(
        "docker.io/library/nginx@sha256:"
    )
    assert pod["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "64Mi"}
    }


def test_qos_class_follows_requests_and_limits(k8s):
    k8s.add_pod("default", "best", "pi-01")
    k8s.add_pod("default", "guaranteed", "pi-01", limits={"cpu": "1", "memory": "1Gi"})
    assert served(k8s, "best")["status"]["qosClass"] == "BestEffort"
    assert served(k8s, "guaranteed")["status"]["qosClass"] == "Guaranteed"


def test_container_creating_waits_without_image_or_ip(k8s):
    k8s.add_pod("default", "p", "pi-01", state="ContainerCreating")
    status = served(k8s, "p")["status"]
    (app,) = status["containerStatuses"]
    assert app["state"] == {"waiting": {"reason": "ContainerCreating"}} and app["imageID"] == ""
    assert (
        "podIP" not in status
        and conditions(served(k8s, "p"))["PodReadyToStartContainers"][0] == "False"
    )


def test_a_not_ready_pod_says_which_containers(k8s):
    k8s.add_pod("default", "p", "pi-01", state="RunningNotReady")
    ready = next(c for c in served(k8s, "p")["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ContainersNotReady")
    assert ready["message"] == "containers with unready status: [app]"


def test_init_conditions_name_the_incomplete_init_container(k8s):
    k8s.add_pod("default", "p", "pi-01", state="Init:0/1", init=True)
    init = next(c for c in served(k8s, "p")["status"]["conditions"] if c["type"] == "Initialized")
    assert (init["reason"], init["message"]) == (
        "ContainersNotInitialized",
        "containers with incomplete status: [init]",
    )


def test_crash_loop_back_off_counts_restarts_and_says_how_long(k8s):
    uid = k8s.add_pod("default", "p", "pi-01", state="CrashLoopBackOff")
    (app,) = served(k8s, "p")["status"]["containerStatuses"]
    assert app["restartCount"] == 5 and app["lastState"]["terminated"]["reason"] == "Error"
    assert (
        app["state"]["waiting"]["message"]
        == f"back-off 2m40s restarting failed container=app pod=p_default({uid})"
    )
    assert [back_off(n) for n in (1, 2, 3, 6, 9)] == ["10s", "20s", "40s", "5m0s", "5m0s"]
    k8s.set_pod_state("default", "p", "Running")
    assert print_pod(served(k8s, "p")) == ("1/1", "Running", 5)


def test_image_pull_errors_wait_with_the_runtime_message(k8s):
    k8s.add_pod("default", "p", "pi-01", state="ErrImagePull", image="nginx:nope")
    (app,) = served(k8s, "p")["status"]["containerStatuses"]
    assert app["state"]["waiting"]["message"] == (
        "rpc error: code = NotFound desc = failed to pull and unpack image "
        '"docker.io/library/nginx:nope": failed to resolve reference '
        '"docker.io/library/nginx:nope": docker.io/library/nginx:nope: not found'
    )


def test_an_evicted_pod_is_failed_with_reason_evicted(k8s):
    k8s.add_pod("default", "p", "pi-01", state="Evicted")
    status = served(k8s, "p")["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "Evicted")
    assert status["message"].startswith("The node was low on resource: memory.")
    assert conditions(served(k8s, "p"))["Ready"] == ("False", "PodFailed")


def test_states_that_need_an_init_container_refuse_a_pod_without_one(k8s):
    k8s.add_pod("default", "p", "pi-01")
    with pytest.raises(ValueError, match="init container"):
        k8s.set_pod_state("default", "p", "PodInitializing")
    with pytest.raises(ValueError, match="unknown pod state"):
        k8s.set_pod_state("default", "p", "Sleepy")


# -- transitions as watch events -----------------------------------------------------------


def test_create_is_added_pending_then_the_kubelet_modifies(k8s):
    start = k8s.resource_version
    k8s.add_pod("default", "p", "pi-01", state="ContainerCreating")
    k8s.set_pod_state("default", "p", "Running")
    with Watch(k8s, resourceVersion=start) as w:
        events = w.take(3)
    assert [(t, print_pod(o).status) for t, o in events] == [
        ("ADDED", "Pending"), ("MODIFIED", "ContainerCreating"), ("MODIFIED", "Running"),
    ]  # fmt: skip


def test_graceful_delete_is_terminating_then_gone_when_the_kubelet_finishes(k8s):
    k8s.add_pod("default", "p", "pi-01")
    start = k8s.resource_version
    k8s.delete_pod("default", "p")
    k8s.finish_delete("default", "p")
    with Watch(k8s, resourceVersion=start) as w:
        (t1, deleting), (t2, stopped), (t3, gone) = w.take(3)
    assert (t1, print_pod(deleting).status) == ("MODIFIED", "Terminating")
    assert deleting["metadata"]["deletionGracePeriodSeconds"] == 30
    assert (t2, stopped["status"]["phase"], t3) == ("MODIFIED", "Succeeded", "DELETED")
    assert rv(gone) == k8s.resource_version and k8s.pod("default", "p") is None


def test_unbound_or_forced_deletes_are_immediate(k8s):
    k8s.add_pod("default", "pending", "pi-01", state="Pending")
    k8s.add_pod("default", "forced", "pi-01")
    start = k8s.resource_version
    k8s.delete_pod("default", "pending")
    k8s.delete_pod("default", "forced", graceful=False)
    with Watch(k8s, resourceVersion=start) as w:
        assert [t for t, _ in w.take(2)] == ["DELETED", "DELETED"]


def test_unknown_is_a_deleting_pod_with_reason_node_lost(k8s):
    k8s.add_pod("default", "p", "pi-01")
    k8s.set_pod_state("default", "p", "Unknown")
    pod = served(k8s, "p")
    assert pod["status"]["reason"] == "NodeLost"
    assert pod["status"]["message"] == "Node pi-01 which was running pod p is unresponsive"
    assert "deletionTimestamp" in pod["metadata"] and print_pod(pod).status == "Unknown"


# -- nodes ---------------------------------------------------------------------------------


def test_a_pi_4_node_reports_capacity_allocatable_and_node_info(k8s):
    status = get(k8s, "/api/v1/nodes/pi-01").json()["status"]
    assert status["capacity"]["cpu"] == "4" and status["capacity"]["pods"] == "110"
    assert status["capacity"]["memory"] == "3882140Ki"
    assert status["allocatable"]["memory"] == "3779740Ki"  # minus eviction-hard 100Mi
    assert int(status["allocatable"]["ephemeral-storage"]) == 30358348 * 1024 * 9 // 10 + 1
    info = status["nodeInfo"]
    assert (info["kubeletVersion"], info["architecture"]) == ("v1.30.6+k3s1", "arm64")
    assert info["osImage"] == "Debian GNU/Linux 12 (bookworm)"


def test_a_ready_node_has_the_kubelets_four_conditions(k8s):
    node = get(k8s, "/api/v1/nodes/pi-01").json()
    assert conditions(node) == {
        "MemoryPressure": ("False", "KubeletHasSufficientMemory"),
        "DiskPressure": ("False", "KubeletHasNoDiskPressure"),
        "PIDPressure": ("False", "KubeletHasSufficientPID"),
        "Ready": ("True", "KubeletReady"),
    }


def test_a_node_that_stops_reporting_goes_unknown_tainted_and_its_pods_not_ready(k8s):
    k8s.add_pod("default", "p", "pi-01")
    k8s.set_node("pi-01", ready=None)
    node = get(k8s, "/api/v1/nodes/pi-01").json()
    assert {s for s, _ in conditions(node).values()} == {"Unknown"}
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["reason"], ready["message"]) == (
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    )
    assert [(t["key"], t["effect"]) for t in node["spec"]["taints"]] == [
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    ]  # fmt: skip
    assert conditions(served(k8s, "p"))["Ready"] == ("False", "")  # MarkPodsNotReady
    assert print_pod(served(k8s, "p")) == ("1/1", "Running", 0)  # the kubelet's last word


def test_taint_eviction_marks_the_pods_and_deletes_them_gracefully(k8s):
    k8s.add_pod("default", "p", "pi-01")
    k8s.set_node("pi-01", ready=None)
    assert k8s.evict_node_pods("pi-01") == ["p"]
    pod = served(k8s, "p")
    assert conditions(pod)["DisruptionTarget"] == ("True", "DeletionByTaintManager")
    assert print_pod(pod).status == "Terminating"


def test_a_node_back_ready_drops_its_taints_and_pods_are_ready_again(k8s):
    k8s.add_pod("default", "p", "pi-01")
    k8s.set_node("pi-01", ready=False)
    node = get(k8s, "/api/v1/nodes/pi-01").json()
    assert conditions(node)["Ready"] == ("False", "KubeletNotReady")
    assert {t["key"] for t in node["spec"]["taints"]} == {"node.kubernetes.io/not-ready"}
    k8s.set_node("pi-01", ready=True)
    assert "taints" not in get(k8s, "/api/v1/nodes/pi-01").json()["spec"]
    assert conditions(served(k8s, "p"))["Ready"] == ("True", "")


def test_cordon_sets_unschedulable_and_its_taint(k8s):
    k8s.set_node("pi-01", unschedulable=True)
    spec = get(k8s, "/api/v1/nodes/pi-01").json()["spec"]
    (taint,) = spec["taints"]
    assert spec["unschedulable"] is True
    assert (taint["key"], taint["effect"]) == ("node.kubernetes.io/unschedulable", "NoSchedule")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", taint["timeAdded"])


def test_memory_pressure_is_a_condition_and_a_no_schedule_taint(k8s):
    k8s.set_node("pi-01", memory_pressure=True)
    node = get(k8s, "/api/v1/nodes/pi-01").json()
    assert conditions(node)["MemoryPressure"] == ("True", "KubeletHasInsufficientMemory")
    assert [t["key"] for t in node["spec"]["taints"]] == ["node.kubernetes.io/memory-pressure"]


def test_a_node_bookmark_is_an_empty_node():
    with SimKubernetes(bookmark_interval=0.2) as sim:
        sim.add_node("pi-01")
        sim.add_node("pi-02")
        only_pi01 = {"fieldSelector": "metadata.name=pi-01", "allowWatchBookmarks": "1"}
        with Watch(sim, "/api/v1/nodes", resourceVersion=sim.resource_version, **only_pi01) as w:
            sim.set_node("pi-02", unschedulable=True)
            kind, obj = w.next()
    assert kind == "BOOKMARK" and obj["spec"] == {}
    assert obj["status"]["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 0}}
    assert set(obj["status"]["nodeInfo"].values()) == {""}

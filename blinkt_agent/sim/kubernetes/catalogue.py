"""Pods as the kubelet writes them: one catalogue entry per STATUS `kubectl get pods` shows.

Each entry makes the status a 1.30 kubelet (k3s) writes for that situation, read from
kubernetes/kubernetes:

- container statuses (pkg/kubelet/kubelet_pods.go convertToAPIContainerStatuses): a
  container without a runtime status waits with reason ContainerCreating, or
  PodInitializing when the pod has init containers; back-off messages are
  `back-off 40s restarting failed container=app pod=NAME_NS(UID)` (10 s doubling to 5 min,
  pkg/kubelet/kuberuntime/kuberuntime_manager.go doBackOff); completed init containers are
  ready (pkg/kubelet/prober/prober_manager.go UpdatePodStatus).
- conditions (pkg/kubelet/status/generate.go, kubelet_pods.go generateAPIPodStatus):
  PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled, with
  reasons ContainersNotReady (`containers with unready status: [app]`),
  ContainersNotInitialized (`containers with incomplete status: [init]`), PodCompleted,
  PodFailed; an unscheduled pod only has PodScheduled False/Unschedulable (scheduler).
- qosClass (pkg/apis/core/helper/qos GetPodQOS), tolerations for not-ready/unreachable for
  300 s (DefaultTolerationSeconds admission), the projected service-account volume.
- what the control plane writes: graceful deletion sets deletionTimestamp and
  deletionGracePeriodSeconds (only for a bound, non-terminal pod:
  pkg/registry/core/pod/strategy.go CheckGracefulDelete); MarkPodsNotReady sets Ready
  False on a lost node's pods (pkg/controller/util/node/controller_utils.go); taint
  eviction adds DisruptionTarget/DeletionByTaintManager and deletes
  (pkg/controller/tainteviction/taint_eviction.go addConditionAndDeletePod); status.reason
  NodeLost (STATUS Unknown) came from SetPodTerminationReason, called only by the
  pre-1.27 eviction path without taints (node_lifecycle_controller.go evictPods).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from blinkt_agent.sim.kubernetes.documents import Doc, digest, rfc3339

NODE_LOST = "NodeLost"  # pkg/util/node NodeUnreachablePodReason
NODE_LOST_MESSAGE = "Node {} which was running pod {} is unresponsive"  # ...PodMessage
TAINT_EVICTION = ("DeletionByTaintManager", "Taint manager: deleting due to NoExecute taint")
SCHEDULER_MESSAGE = (
    "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: "
    "1 No preemption victims found for incoming pod."
)
EVICTION_MESSAGE = (
    "The node was low on resource: memory. Threshold quantity: 100Mi, available: 86012Ki. "
    "Container {} was using 3012348Ki, request is 64Mi, has larger consumption of memory. "
)
SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery/pkg/util/rand


@dataclass(frozen=True)
class Entry:
    """A catalogue state: what kubectl prints for it (READY and STATUS) with the canonical
    spec (one container `app`; `init`: also a regular init container `init`)."""

    name: str
    status: str
    ready: str
    summary: str
    init: bool = False
    restart_policy: str = "Always"


CATALOGUE: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("Pending", "Pending", "0/1", "not scheduled: PodScheduled False, Unschedulable"),
        Entry("ContainerCreating", "ContainerCreating", "0/1", "bound, sandbox being made"),
        Entry("Init:0/1", "Init:0/1", "0/1", "init container running", init=True),
        Entry(
            "Init:CrashLoopBackOff",
            "Init:CrashLoopBackOff",
            "0/1",
            "init container keeps failing",
            init=True,
        ),
        Entry("PodInitializing", "PodInitializing", "0/1", "init done, app starting", init=True),
        Entry("Running", "Running", "1/1", "running and ready"),
        Entry("RunningNotReady", "Running", "0/1", "running, readiness probe failing"),
        Entry("CrashLoopBackOff", "CrashLoopBackOff", "0/1", "app keeps crashing, backing off"),
        Entry("Error", "Error", "0/1", "exited 1 (restartPolicy Never)", restart_policy="Never"),
        Entry("OOMKilled", "OOMKilled", "0/1", "killed for memory, about to restart"),
        Entry("ImagePullBackOff", "ImagePullBackOff", "0/1", "image pull failed, backing off"),
        Entry("ErrImagePull", "ErrImagePull", "0/1", "image pull just failed"),
        Entry(
            "Completed",
            "Completed",
            "0/1",
            "exited 0 (restartPolicy Never)",
            restart_policy="Never",
        ),
        # A 1.30 kubelet kills an evicted pod's containers (137): kubectl shows Error.
        Entry("Evicted", "Error", "0/1", "phase Failed, reason Evicted (memory pressure)"),
        Entry("Terminating", "Terminating", "1/1", "running, deletionTimestamp set"),
        Entry("Unknown", "Unknown", "1/1", "deletionTimestamp and reason NodeLost (pre-1.27)"),
    )
}
STATES = tuple(CATALOGUE)
# States whose status the pod carries on the node (the rest: not bound yet).
_NEEDS_INIT = {name for name, entry in CATALOGUE.items() if entry.init}
_NO_INIT = {"ContainerCreating"}  # with init containers the pod shows Init:0/N instead


@dataclass
class Container:
    name: str
    image: str
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    sidecar: bool = False  # an init container with restartPolicy Always


@dataclass
class Pod:
    """What the sim knows of a pod; documents are made from it at every write."""

    namespace: str
    name: str
    uid: str
    node: str | None
    state: str
    containers: list[Container]
    init_containers: list[Container]
    created: float
    restart_policy: str = "Always"
    labels: dict[str, str] = field(default_factory=dict)
    owner: Doc | None = None
    generate_name: str = ""
    bound_at: float | None = None
    since: float = 0.0  # when the current state began
    restarts: int = 0
    ip: str = ""
    deletion: tuple[float, int] | None = None  # (deletionTimestamp, grace seconds)
    not_ready_at: float | None = None  # MarkPodsNotReady
    disruption: Doc | None = None  # DisruptionTarget condition
    node_lost: bool = False
    final_phase: str | None = None  # the kubelet's terminal status before the last delete

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @property
    def phase(self) -> str:
        if self.final_phase:
            return self.final_phase
        return PHASES[self.state]

    @property
    def volume(self) -> str:
        return "kube-api-access-" + suffix(self.uid)


PHASES = {
    "Pending": "Pending",
    "ContainerCreating": "Pending",
    "Init:0/1": "Pending",
    "Init:CrashLoopBackOff": "Pending",
    "PodInitializing": "Pending",
    "Running": "Running",
    "RunningNotReady": "Running",
    "CrashLoopBackOff": "Running",
    "Error": "Failed",
    "OOMKilled": "Running",
    "ImagePullBackOff": "Pending",
    "ErrImagePull": "Pending",
    "Completed": "Succeeded",
    "Evicted": "Failed",
    "Terminating": "Running",
    "Unknown": "Running",
}


def check_state(pod: Pod, state: str) -> None:
    """A state must exist and fit the pod's (immutable) spec."""
    if state not in CATALOGUE:
        raise ValueError(f"unknown pod state {state!r}; one of {', '.join(STATES)}")
    regular_init = [c for c in pod.init_containers if not c.sidecar]
    if state in _NEEDS_INIT and not regular_init:
        raise ValueError(f"state {state!r} needs an init container (add the pod with init=True)")
    if state in _NO_INIT and pod.init_containers:
        raise ValueError(f"a pod with init containers shows Init:0/N, not {state!r}")
    if state != "Pending" and not pod.node:
        raise ValueError(f"state {state!r} needs a node")


def suffix(seed: str, n: int = 5) -> str:
    """generateName's random suffix (utilrand.String), stable for a seed."""
    value = int(digest(seed), 16)
    return "".join(SAFE_ALPHANUMS[(value >> (5 * i)) % len(SAFE_ALPHANUMS)] for i in range(n))


def template_hash(deployment: str) -> str:
    """pod-template-hash: SafeEncodeString of a 32-bit FNV-style hash's decimal digits."""
    number = str(zlib.crc32(deployment.encode()))
    return "".join(SAFE_ALPHANUMS[int(d)] for d in number)


# -- spec ------------------------------------------------------------------------------------


def container_spec(c: Container, volume: str, init: bool) -> Doc:
    resources: Doc = {}
    if c.limits:
        resources["limits"] = dict(sorted(c.limits.items()))
    if c.requests or c.limits:
        resources["requests"] = dict(sorted({**c.limits, **c.requests}.items()))
    doc: Doc = {"name": c.name, "image": c.image, "resources": resources}
    if c.sidecar:
        doc["restartPolicy"] = "Always"
    doc["volumeMounts"] = [
        {
            "name": volume,
            "readOnly": True,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        }
    ]
    if not init:
        doc["readinessProbe"] = {
            "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
            "timeoutSeconds": 1,
            "periodSeconds": 10,
            "successThreshold": 1,
            "failureThreshold": 3,
        }
    doc["terminationMessagePath"] = "/dev/termination-log"
    doc["terminationMessagePolicy"] = "File"
    doc["imagePullPolicy"] = "IfNotPresent"
    return doc


def pod_spec(pod: Pod, bound: bool) -> Doc:
    volume = {
        "name": pod.volume,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
            "defaultMode": 420,
        },
    }
    spec: Doc = {"volumes": [volume]}
    if pod.init_containers:
        spec["initContainers"] = [container_spec(c, pod.volume, True) for c in pod.init_containers]
    spec["containers"] = [container_spec(c, pod.volume, False) for c in pod.containers]
    spec["restartPolicy"] = pod.restart_policy
    spec["terminationGracePeriodSeconds"] = 30
    spec["dnsPolicy"] = "ClusterFirst"
    spec["serviceAccountName"] = "default"
    spec["serviceAccount"] = "default"
    if bound:
        spec["nodeName"] = pod.node
    spec["securityContext"] = {}
    spec["schedulerName"] = "default-scheduler"
    spec["tolerations"] = [
        {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
    ]
    spec["priority"] = 0
    spec["enableServiceLinks"] = True
    spec["preemptionPolicy"] = "PreemptLowerPriority"
    return spec


def qos_class(pod: Pod) -> str:
    """GetPodQOS: BestEffort without any request or limit; Guaranteed when every container
    limits cpu and memory and requests equal limits; else Burstable."""
    containers = [*pod.init_containers, *pod.containers]
    if not any(c.requests or c.limits for c in containers):
        return "BestEffort"
    for c in containers:
        requests = {**c.limits, **c.requests}
        for resource in ("cpu", "memory"):
            if resource not in c.limits or requests.get(resource) != c.limits[resource]:
                return "Burstable"
    return "Guaranteed"


# -- status ----------------------------------------------------------------------------------


def go_duration(seconds: int) -> str:
    """time.Duration.String() for whole seconds: 40s, 2m40s, 5m0s."""
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def back_off(restarts: int) -> str:
    """The kubelet's crash back-off: 10 s doubling per restart, capped at 5 min."""
    return go_duration(min(10 * 2 ** max(restarts - 1, 0), 300))


class _Status:
    """Builds one pod status; `t` is the time of the write."""

    def __init__(self, pod: Pod, node_ip: str, t: float):
        self.pod, self.node_ip, self.t = pod, node_ip, t
        self.since = rfc3339(pod.since or t)
        self.bound_at = rfc3339(pod.bound_at or t)

    def image(self, c: Container) -> str:
        return c.image if "/" in c.image.split(":")[0] else f"docker.io/library/{c.image}"

    def container_status(
        self,
        c: Container,
        state: Doc,
        *,
        ready: bool = False,
        started: bool = False,
        restarts: int = 0,
        last: Doc | None = None,
        created: bool = True,
    ) -> Doc:
        """v1.ContainerStatus: a created container has a resolved image, imageID and
        containerID; one still waiting for its image has neither."""
        doc: Doc = {
            "name": c.name,
            "state": state,
            "lastState": last or {},
            "ready": ready,
            "restartCount": restarts,
            "image": self.image(c) if created else c.image,
            "imageID": f"{self.image(c).rsplit(':', 1)[0]}@sha256:{digest(c.image)}"
            if created
            else "",
        }
        if created:
            doc["containerID"] = "containerd://" + digest(self.pod.uid, c.name, str(restarts))
        doc["started"] = started
        return doc

    def running(self) -> Doc:
        return {"running": {"startedAt": self.since}}

    def terminated(self, c: Container, code: int, reason: str, restarts: int = 0) -> Doc:
        started = self.pod.bound_at or self.t
        return {
            "terminated": {
                "exitCode": code,
                "reason": reason,
                "startedAt": rfc3339(started),
                "finishedAt": self.since,
                "containerID": "containerd://" + digest(self.pod.uid, c.name, str(restarts)),
            }
        }

    def crashed(self, c: Container, reason: str = "Error", code: int = 1) -> Doc:
        """The lastState of a container that has restarted."""
        return self.terminated(c, code, reason, max(self.pod.restarts - 1, 0))

    def waiting(self, reason: str, message: str | None = None) -> Doc:
        inner = {"reason": reason}
        if message:
            inner["message"] = message
        return {"waiting": inner}

    def condition(self, kind: str, value: bool, reason: str = "", message: str = "") -> Doc:
        doc: Doc = {
            "type": kind,
            "status": "True" if value else "False",
            "lastProbeTime": None,
            "lastTransitionTime": self.bound_at if kind == "PodScheduled" else self.since,
        }
        if reason:
            doc["reason"] = reason
        if message:
            doc["message"] = message
        return doc

    def names(self, containers: list[Container]) -> str:
        return "[" + " ".join(c.name for c in containers) + "]"  # Go's %s of a []string


def pod_status(pod: Pod, node_ip: str, t: float) -> Doc:
    """The status the kubelet (or, unbound, the scheduler) last wrote for the pod's state."""
    s = _Status(pod, node_ip, t)
    state = pod.state
    if state == "Pending":
        scheduled = s.condition("PodScheduled", False, "Unschedulable", SCHEDULER_MESSAGE)
        scheduled["lastTransitionTime"] = rfc3339(pod.created)
        return {"phase": "Pending", "conditions": [scheduled], "qosClass": qos_class(pod)}

    regular = [c for c in pod.init_containers if not c.sidecar]
    sidecars = [c for c in pod.init_containers if c.sidecar]
    main = pod.containers
    init_statuses: dict[str, Doc] = {}
    statuses: dict[str, Doc] = {}
    default_wait = s.waiting("PodInitializing" if pod.init_containers else "ContainerCreating")
    for c in pod.init_containers:
        init_statuses[c.name] = s.container_status(c, default_wait, created=False)
    for c in main:
        statuses[c.name] = s.container_status(c, default_wait, created=False)

    def init_done() -> None:
        for c in regular:
            done = s.terminated(c, 0, "Completed")
            init_statuses[c.name] = s.container_status(c, done, ready=True)
        for c in sidecars:
            init_statuses[c.name] = s.container_status(c, s.running(), ready=True, started=True)

    def all_main(state_doc: Doc, **kwargs: Any) -> None:
        for c in main:
            statuses[c.name] = s.container_status(c, state_doc, **kwargs)

    restarts = pod.restarts
    last = (lambda c: s.crashed(c)) if restarts else (lambda c: None)
    phase = pod.phase
    reason = message = ""
    sandbox, initialized, ready = True, True, False
    kubelet_ready = {"reason": "PodCompleted"} if state == "Completed" else {}
    if state == "ContainerCreating":
        sandbox = False
    elif state == "Init:0/1":
        initialized = False
        first = regular[0]
        init_statuses[first.name] = s.container_status(first, s.running(), started=True)
    elif state == "Init:CrashLoopBackOff":
        initialized = False
        first = regular[0]
        message = f"back-off {back_off(restarts)} restarting failed container={first.name} "
        message += f"pod={pod.name}_{pod.namespace}({pod.uid})"
        init_statuses[first.name] = s.container_status(
            first,
            s.waiting("CrashLoopBackOff", message),
            restarts=restarts,
            last=s.crashed(first),
        )
        message = ""
    elif state == "PodInitializing":
        init_done()
    elif state in ("Running", "Terminating", "Unknown", "RunningNotReady"):
        init_done()
        ready = state != "RunningNotReady"
        for c in main:
            statuses[c.name] = s.container_status(
                c, s.running(), ready=ready, started=True, restarts=restarts, last=last(c)
            )
    elif state == "CrashLoopBackOff":
        init_done()
        for c in main:
            wait = f"back-off {back_off(restarts)} restarting failed container={c.name} "
            wait += f"pod={pod.name}_{pod.namespace}({pod.uid})"
            statuses[c.name] = s.container_status(
                c, s.waiting("CrashLoopBackOff", wait), restarts=restarts, last=s.crashed(c)
            )
    elif state == "OOMKilled":
        init_done()
        for c in main:
            statuses[c.name] = s.container_status(
                c,
                s.terminated(c, 137, "OOMKilled", restarts),
                restarts=restarts,
                last=s.crashed(c, "OOMKilled", 137) if restarts else None,
            )
    elif state in ("ImagePullBackOff", "ErrImagePull"):
        init_done()
        for c in main:
            ref = s.image(c)
            text = (
                f'Back-off pulling image "{c.image}"'
                if state == "ImagePullBackOff"
                else f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
                f'failed to resolve reference "{ref}": {ref}: not found'
            )
            statuses[c.name] = s.container_status(c, s.waiting(state, text), created=False)
    elif state in ("Error", "Completed", "Evicted"):
        init_done()
        sandbox = False
        for c in sidecars:
            done = s.terminated(c, 0, "Completed")
            init_statuses[c.name] = s.container_status(c, done)
        code, why = {"Error": (1, "Error"), "Completed": (0, "Completed")}.get(
            state, (137, "Error")
        )
        for c in main:
            statuses[c.name] = s.container_status(c, s.terminated(c, code, why), last=last(c))
        kubelet_ready = {"reason": "PodCompleted" if state == "Completed" else "PodFailed"}
        if state == "Evicted":
            reason, message = "Evicted", EVICTION_MESSAGE.format(main[0].name)
    if pod.final_phase:  # the kubelet stopped every container before the final delete
        sandbox = False
        for c in main:
            statuses[c.name] = s.container_status(c, s.terminated(c, 0, "Completed"))
        for c in sidecars:
            init_statuses[c.name] = s.container_status(c, s.terminated(c, 0, "Completed"))
        kubelet_ready = {"reason": "PodCompleted"}

    unready = [c for c in sidecars if not init_statuses[c.name]["ready"]]
    unready += [c for c in main if not statuses[c.name]["ready"]]
    containers_ready = not unready
    conditions: list[Doc] = []
    if pod.disruption:
        conditions.append(pod.disruption)
    conditions.append(s.condition("PodReadyToStartContainers", sandbox))
    if initialized:
        extra = ("PodCompleted",) if state == "Completed" else ()
        conditions.append(s.condition("Initialized", True, *extra))
    else:
        incomplete = [c for c in regular if not init_statuses[c.name]["ready"]]
        conditions.append(
            s.condition(
                "Initialized",
                False,
                "ContainersNotInitialized",
                f"containers with incomplete status: {s.names(incomplete)}",
            )
        )
    if kubelet_ready:
        ready_doc = s.condition("Ready", False, kubelet_ready["reason"])
        cr_doc = s.condition("ContainersReady", False, kubelet_ready["reason"])
    elif containers_ready:
        ready_doc = s.condition("Ready", True)
        cr_doc = s.condition("ContainersReady", True)
    else:
        text = f"containers with unready status: {s.names(unready)}"
        ready_doc = s.condition("Ready", False, "ContainersNotReady", text)
        cr_doc = s.condition("ContainersReady", False, "ContainersNotReady", text)
    if pod.not_ready_at is not None and ready_doc["status"] == "True":
        # MarkPodsNotReady: only the status flips; reason and message stay as they were.
        ready_doc = {
            **ready_doc,
            "status": "False",
            "lastTransitionTime": rfc3339(pod.not_ready_at),
        }
    conditions += [ready_doc, cr_doc, s.condition("PodScheduled", True)]

    doc: Doc = {"phase": phase, "conditions": conditions}
    if pod.node_lost:
        reason, message = NODE_LOST, NODE_LOST_MESSAGE.format(pod.node, pod.name)
    if message:
        doc["message"] = message
    if reason:
        doc["reason"] = reason
    doc["hostIP"] = node_ip
    doc["hostIPs"] = [{"ip": node_ip}]
    if state not in ("ContainerCreating",):
        doc["podIP"] = pod.ip
        doc["podIPs"] = [{"ip": pod.ip}]
    doc["startTime"] = s.bound_at
    if pod.init_containers:
        doc["initContainerStatuses"] = [init_statuses[c.name] for c in pod.init_containers]
    doc["containerStatuses"] = [statuses[c.name] for c in main]
    doc["qosClass"] = qos_class(pod)
    return doc


def pod_doc(pod: Pod, node_ip: str, t: float) -> Doc:
    """The whole Pod object (resourceVersion filled in by the store)."""
    bound = pod.state != "Pending"
    meta: Doc = {"name": pod.name}
    if pod.generate_name:
        meta["generateName"] = pod.generate_name
    meta["namespace"] = pod.namespace
    meta["uid"] = pod.uid
    meta["resourceVersion"] = ""
    meta["creationTimestamp"] = rfc3339(pod.created)
    if pod.deletion:
        at, grace = pod.deletion
        meta["deletionTimestamp"] = rfc3339(at)
        meta["deletionGracePeriodSeconds"] = grace
    if pod.labels:
        meta["labels"] = dict(sorted(pod.labels.items()))
    if pod.owner:
        meta["ownerReferences"] = [pod.owner]
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": meta,
        "spec": pod_spec(pod, bound),
        "status": pod_status(pod, node_ip, t),
    }

"""A simulated Kubernetes API server (k3s on Raspberry Pis) on loopback, built from
kubernetes/kubernetes' code, for clients that list and watch pods and nodes.

    state      the revision, objects, watch caches with their history window, watchers
    documents  the JSON the apiserver writes: Status, lists, bookmarks, k3s nodes
    catalogue  pods as the kubelet writes them, one entry per `kubectl get pods` STATUS
    printers   kubectl's READY/STATUS/RESTARTS columns (printPod), the tests' oracle
    selectors  fieldSelector and labelSelector
    auth       client certificates, bearer and service-account tokens, RBAC from YAML
    api        the HTTP(S) server: filters, list, get, chunked watch streams, faults
    control    the /_sim/ control API for tests that drive the sim from another process

Python API (everything takes effect at once, as one or more writes, each a new
resourceVersion and a watch event):

    with SimKubernetes(tls=TLSFiles(cert, key, client_ca), bookmark_interval=0.2) as k8s:
        k8s.url, k8s.admin_token, k8s.resource_version
        k8s.add_node("pi-01")                                  # Ready, 4 CPUs, 3.7 GiB
        k8s.set_node("pi-01", ready=None)                      # stopped posting: Unknown
        k8s.set_node("pi-01", unschedulable=True)              # cordon (+ taint)
        k8s.evict_node_pods("pi-01")                           # taint eviction after 300 s
        uid = k8s.add_pod("default", "web-1", "pi-01", state="ContainerCreating",
                          requests={"cpu": "100m", "memory": "64Mi"})
        k8s.set_pod_state("default", "web-1", "Running")       # catalogue.STATES
        k8s.delete_pod("default", "web-1")                     # graceful: Terminating
        k8s.finish_delete("default", "web-1")                  # the kubelet is done: gone
        k8s.scale("default", "web", 3, "pi-01")                # web-7d9f8b6c5d-x2x8q ...
        k8s.load_rbac(manifest_yaml); token = k8s.service_account_token("ns", "name")
        k8s.compact(); k8s.restart(); k8s.close_watches()
        k8s.set_outage(True); k8s.fail_next(500); k8s.hang_next(3.0); k8s.request_log

`python -m blinkt_agent.sim.kubernetes` runs one as a process. docs/CONFORMANCE.md lists
what each part copies from Kubernetes, the tests that pin it, and the known differences.
"""

from __future__ import annotations

import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blinkt_agent.sim.kubernetes import control
from blinkt_agent.sim.kubernetes.api import (
    BOOKMARK_INTERVAL_S,
    MIN_REQUEST_TIMEOUT_S,
    KubeAPIServer,
    LoggedRequest,
    Settings,
)
from blinkt_agent.sim.kubernetes.auth import MASTERS, RBAC, Authenticator, User
from blinkt_agent.sim.kubernetes.catalogue import (
    CATALOGUE,
    STATES,
    TAINT_EVICTION,
    Container,
    Pod,
    check_state,
    pod_doc,
    suffix,
    template_hash,
)
from blinkt_agent.sim.kubernetes.documents import Doc, Node, new_uid, node_doc, rfc3339, taint
from blinkt_agent.sim.kubernetes.printers import PodRow, print_pod
from blinkt_agent.sim.kubernetes.state import LOWER_CAPACITY, UPPER_CAPACITY, Store
from blinkt_agent.sim.loopback import StartStop

__all__ = [
    "CATALOGUE",
    "STATES",
    "LoggedRequest",
    "PodRow",
    "SimKubernetes",
    "TLSFiles",
    "print_pod",
]

KEEP: Any = object()  # set_node: leave this as it is
ADMIN = User("system:admin", (MASTERS,))  # k3s' admin kubeconfig: CN=system:admin, O=system:masters
TERMINATION_GRACE_S = 30  # PodSpec terminationGracePeriodSeconds default
PRESSURE_TAINTS = {  # node_lifecycle_controller.go nodeConditionToTaintKeyStatusMap
    "MemoryPressure": "node.kubernetes.io/memory-pressure",
    "DiskPressure": "node.kubernetes.io/disk-pressure",
    "PIDPressure": "node.kubernetes.io/pid-pressure",
}
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


@dataclass(frozen=True)
class TLSFiles:
    """PEM files: the server's certificate and key; client_ca verifies client certificates."""

    cert: Path | str
    key: Path | str
    client_ca: Path | str | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        if self.client_ca:
            context.verify_mode = ssl.CERT_OPTIONAL  # a certificate is one way to log in
            context.load_verify_locations(self.client_ca)
        return context


class SimKubernetes(StartStop):
    """One kube-apiserver (with its etcd, kubelets and controllers played by the methods).

    anonymous: --anonymous-auth (k3s: false). authorization: "RBAC" (with system:masters
    allowed everything), or "AlwaysAllow". tokens: {token: user name}; a name
    `system:serviceaccount:NS:NAME` is that service account's token. too_old: "event"
    (200 + ERROR event, the default since 1.3) or "http" (a 410 answer). watch_cache False
    serves watches from "etcd" (history until compaction, etcd's error text).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: TLSFiles | None = None,
        anonymous: bool = False,
        authorization: str = "RBAC",
        tokens: dict[str, str] | None = None,
        bookmark_interval: float = BOOKMARK_INTERVAL_S,
        too_old: str = "event",
        watch_cache: bool = True,
        watch_cache_capacity: tuple[int, int] = (LOWER_CAPACITY, UPPER_CAPACITY),
        min_request_timeout: float = MIN_REQUEST_TIMEOUT_S,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.clock = clock
        self.store = Store(watch_cache_capacity, monotonic)
        self.rbac = RBAC()
        self.authn = Authenticator(self.rbac, anonymous)
        self.admin_token = secrets.token_hex(16)
        self.authn.tokens[self.admin_token] = ADMIN
        for token, name in (tokens or {}).items():
            self.add_token(token, name)
        settings = Settings(
            authorization, bookmark_interval, too_old, watch_cache, min_request_timeout
        )
        self.api = KubeAPIServer(
            self.store,
            self.authn,
            settings,
            host,
            port,
            tls=tls.context() if tls else None,
            control=self._control,
            monotonic=monotonic,
        )
        self.host = host
        self._nodes: dict[str, Node] = {}
        self._pods: dict[str, Pod] = {}
        self._ips: dict[str, int] = {}
        self._replica_sets: dict[tuple[str, str], str] = {}
        self._writes = threading.Lock()  # one change at a time, like one apiserver

    # -- lifecycle and address ---------------------------------------------------------------

    def start(self) -> SimKubernetes:
        self.api.start()
        return self

    def stop(self) -> None:
        self.api.stop()

    @property
    def url(self) -> str:
        return self.api.url

    @property
    def address(self) -> str:
        return self.api.address

    @property
    def port(self) -> int:
        return self.api.port

    @property
    def resource_version(self) -> int:
        with self.store.lock:
            return self.store.rv

    @property
    def request_log(self) -> list[LoggedRequest]:
        return list(self.api.request_log)

    def _control(self, method: str, parts: list[str], data: dict[str, Any]) -> control.Result:
        return control.handle(self, method, parts, data)

    # -- faults and history -------------------------------------------------------------------

    def set_outage(self, down: bool, *, seconds: float | None = None) -> None:
        """The port stops accepting connections (open ones are cut), or serves again."""
        self.api.set_outage(down, seconds=seconds)

    @property
    def outage(self) -> bool:
        return self.api.outage

    def fail_next(self, code: int, count: int = 1, message: str = "simulated failure") -> None:
        """The next `count` API requests get this Status error (reason from the code)."""
        self.api.fail_next(code, count, message)

    def hang_next(self, seconds: float, count: int = 1) -> None:
        self.api.hang_next(seconds, count)

    def compact(self) -> None:
        """etcd compaction at the current revision: older history is gone for every watch."""
        with self.store.lock:
            self.store.compact()

    def restart(self) -> None:
        """The apiserver restarts: open watches end, the caches re-list (older revisions
        are then too old), the port stays."""
        with self.store.lock:
            self.store.relist()

    def close_watches(self) -> None:
        """Every open watch ends cleanly; history stays."""
        with self.store.lock:
            self.store.close_watches()

    # -- authentication ----------------------------------------------------------------------

    def add_token(self, token: str, user: str, groups: tuple[str, ...] = ()) -> None:
        """A bearer token for a user (static token file), or for a service account when
        user is `system:serviceaccount:NS:NAME` (the account is created if missing)."""
        if user.startswith("system:serviceaccount:"):
            namespace, _, name = user.removeprefix("system:serviceaccount:").partition(":")
            self.rbac.service_accounts.add((namespace, name))
            self.authn.sa_tokens[token] = (namespace, name)
        else:
            self.authn.tokens[token] = User(user, groups)

    def service_account_token(self, namespace: str, name: str) -> str:
        """A new token of this service account (which must exist for it to work)."""
        token = secrets.token_urlsafe(24)
        self.authn.sa_tokens[token] = (namespace, name)
        return token

    def load_rbac(self, manifest: str) -> list[str]:
        """Roles, ClusterRoles, bindings and ServiceAccounts from YAML; returns Kind/name."""
        return self.rbac.load(manifest)

    # -- nodes -------------------------------------------------------------------------------

    def add_node(
        self,
        name: str,
        *,
        cpu: str = "4",
        memory: str = "3882140Ki",
        pods: str = "110",
        storage: str = "30358348Ki",
        ready: bool = True,
        unschedulable: bool = False,
        ip: str = "",
        labels: dict[str, str] | None = None,
    ) -> str:
        """A node registers (the kubelet's create), then reports ready or not."""
        with self._writes:
            if name in self._nodes:
                raise ValueError(f"node {name!r} exists")
            now = self.clock()
            node = Node(name, new_uid(), len(self._nodes), now, cpu, memory, pods, storage, ip)
            node.labels = dict(labels or {})
            node.ready = ready
            self._nodes[name] = node
            self._put_node(node)
        if unschedulable:
            self.set_node(name, unschedulable=True)
        return node.uid

    def node(self, name: str) -> Doc | None:
        with self.store.lock:
            return self.store.objects["nodes"].get(name)

    def nodes(self) -> list[Doc]:
        with self.store.lock:
            return list(self.store.objects["nodes"].values())

    def set_node(
        self,
        name: str,
        *,
        ready: bool | None = KEEP,
        unschedulable: bool = KEEP,
        memory_pressure: bool = KEEP,
        disk_pressure: bool = KEEP,
        pid_pressure: bool = KEEP,
    ) -> None:
        """The kubelet reports (ready True/False, pressure), stops reporting (ready None:
        the node lifecycle controller sets every condition Unknown, taints the node
        unreachable and marks its pods not ready), or the node is cordoned."""
        with self._writes:
            node = self._nodes[name]
            now = self.clock()
            pressures = {
                "MemoryPressure": memory_pressure,
                "DiskPressure": disk_pressure,
                "PIDPressure": pid_pressure,
            }
            changed = False
            if ready is not KEEP and ready != node.ready:
                kinds = (
                    ["Ready"]
                    if ready is not None and node.ready is not None
                    else list((*PRESSURE_TAINTS, "Ready"))
                )
                for kind in kinds:
                    node.transitions[kind] = now
                node.ready = ready
                changed = True
            for kind, value in pressures.items():
                if value is not KEEP and value != node.pressure.get(kind, False):
                    node.pressure[kind] = value
                    node.transitions[kind] = now
                    changed = True
            if changed:
                if node.ready is not None:
                    node.heartbeat = now  # the kubelet posted this
                self._put_node(node)
            if unschedulable is not KEEP and unschedulable != node.unschedulable:
                node.unschedulable = unschedulable
                self._put_node(node)  # kubectl cordon: spec.unschedulable
            self._retaint(node, now)
            if ready is not KEEP:
                self._pods_follow_node(node, now)

    def _retaint(self, node: Node, now: float) -> None:
        """doNoScheduleTaintingPass and doNoExecuteTaintingPass: the taints that the node's
        conditions and spec.unschedulable call for (one write when they change)."""
        wanted: list[tuple[str, str]] = []
        if node.ready is None:
            wanted += [(UNREACHABLE_TAINT, "NoSchedule"), (UNREACHABLE_TAINT, "NoExecute")]
        elif not node.ready:
            wanted += [(NOT_READY_TAINT, "NoSchedule"), (NOT_READY_TAINT, "NoExecute")]
        else:
            wanted += [
                (key, "NoSchedule")
                for kind, key in PRESSURE_TAINTS.items()
                if node.pressure.get(kind)
            ]
        if node.unschedulable:
            wanted.append((UNSCHEDULABLE_TAINT, "NoSchedule"))
        have = {(t["key"], t["effect"]): t for t in node.taints}
        if set(have) == set(wanted):
            return
        node.taints = [have.get(k) or taint(k[0], k[1], now) for k in wanted]
        self._put_node(node)

    def _pods_follow_node(self, node: Node, now: float) -> None:
        for pod in self._pods.values():
            if pod.node != node.name or pod.state == "Pending" or pod.terminal:
                continue
            if node.ready is not True and pod.not_ready_at is None:
                pod.not_ready_at = now  # MarkPodsNotReady
            elif node.ready is True and pod.not_ready_at is not None:
                pod.not_ready_at = None  # the kubelet reports again
            else:
                continue
            self._put_pod(pod)

    def delete_node(self, name: str) -> None:
        with self._writes:
            self._nodes.pop(name)
            with self.store.lock:
                self.store.delete("nodes", name)

    def evict_node_pods(self, name: str) -> list[str]:
        """What the taint eviction controller does 300 s after the NoExecute taint (the
        pods' tolerationSeconds): DisruptionTarget, then a graceful delete each."""
        names = []
        with self._writes:
            now = self.clock()
            for pod in list(self._pods.values()):
                if pod.node != name or pod.deletion or pod.state == "Pending" or pod.terminal:
                    continue
                reason, message = TAINT_EVICTION
                pod.disruption = {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": rfc3339(now),
                    "reason": reason,
                    "message": message,
                }
                self._put_pod(pod)
                pod.deletion = (now + TERMINATION_GRACE_S, TERMINATION_GRACE_S)
                self._put_pod(pod)
                names.append(pod.name)
        return names

    def _put_node(self, node: Node) -> None:
        with self.store.lock:
            self.store.put("nodes", node.name, node_doc(node))

    # -- pods --------------------------------------------------------------------------------

    def add_pod(
        self,
        namespace: str,
        name: str,
        node: str | None = None,
        state: str = "Running",
        *,
        image: str = "nginx:1.27",
        container: str = "app",
        requests: dict[str, str] | None = None,
        limits: dict[str, str] | None = None,
        init: bool = False,
        sidecar: bool = False,
        labels: dict[str, str] | None = None,
        restart_policy: str | None = None,
        owner: Doc | None = None,
        generate_name: str = "",
    ) -> str:
        """Create a pod and bring it to `state` (catalogue.STATES): the create is one
        write (ADDED); a state other than Pending is a second (MODIFIED), as the
        scheduler binds it and the kubelet reports. init adds a regular init container
        `init`, sidecar a restartable one `log-shipper`. Returns the uid."""
        if state not in CATALOGUE:
            raise ValueError(f"unknown pod state {state!r}; one of {', '.join(STATES)}")
        with self._writes:
            key = f"{namespace}/{name}"
            if key in self._pods:
                raise ValueError(f"pod {key} exists")
            if node is not None and node not in self._nodes:
                raise KeyError(f"node {node!r}")
            main = Container(container, image, dict(requests or {}), dict(limits or {}))
            inits = []
            if init:
                inits.append(Container("init", "busybox:1.36"))
            if sidecar:
                inits.append(Container("log-shipper", "fluent/fluent-bit:3.1", sidecar=True))
            now = self.clock()
            pod = Pod(
                namespace,
                name,
                new_uid(),
                node,
                "Pending",
                [main],
                inits,
                now,
                restart_policy or CATALOGUE[state].restart_policy,
                dict(labels or {}),
                owner,
                generate_name,
                since=now,
            )
            check_state(pod, state)
            self._pods[key] = pod
            self._put_pod(pod)
            if state != "Pending":
                self._enter(pod, state)
            return pod.uid

    def pod(self, namespace: str, name: str) -> Doc | None:
        with self.store.lock:
            return self.store.objects["pods"].get(f"{namespace}/{name}")

    def pods(self) -> list[Doc]:
        with self.store.lock:
            return list(self.store.objects["pods"].values())

    def set_pod_state(self, namespace: str, name: str, state: str) -> None:
        """The kubelet (or, for Terminating and Unknown, the control plane) writes the
        status of this catalogue state: one MODIFIED event."""
        with self._writes:
            pod = self._pods[f"{namespace}/{name}"]
            check_state(pod, state)
            self._enter(pod, state)

    def _enter(self, pod: Pod, state: str) -> None:
        now = self.clock()
        if state != "Pending" and pod.bound_at is None:
            pod.bound_at = now
            count = self._ips.get(pod.node or "", 0)
            self._ips[pod.node or ""] = count + 1
            pod.ip = self._nodes[pod.node or ""].pod_ip(count) if pod.node in self._nodes else ""
        if state == "CrashLoopBackOff":
            pod.restarts = max(pod.restarts + 1, 5)
        elif state == "Init:CrashLoopBackOff":
            pod.restarts = max(pod.restarts + 1, 3)
        elif state == "OOMKilled":
            pod.restarts += 1
        if state in ("Terminating", "Unknown") and pod.deletion is None:
            pod.deletion = (now + TERMINATION_GRACE_S, TERMINATION_GRACE_S)
        if state == "Unknown":
            pod.node_lost = True
            pod.not_ready_at = pod.not_ready_at or now
        pod.state = state
        pod.since = now
        self._put_pod(pod)

    def delete_pod(
        self, namespace: str, name: str, graceful: bool = True, grace_period: int | None = None
    ) -> None:
        """DELETE: graceful sets deletionTimestamp = now + grace (MODIFIED) and the kubelet
        finishes later (finish_delete); an unbound or finished pod, or graceful=False
        (--force --grace-period=0), goes at once (DELETED)."""
        with self._writes:
            key = f"{namespace}/{name}"
            pod = self._pods[key]
            grace = TERMINATION_GRACE_S if grace_period is None else grace_period
            if not graceful or grace == 0 or pod.state == "Pending" or pod.terminal:
                self._remove_pod(key)
                return
            if pod.deletion is None:
                pod.deletion = (self.clock() + grace, grace)
                self._put_pod(pod)

    def finish_delete(self, namespace: str, name: str) -> None:
        """The kubelet has stopped the containers: it writes the terminal status, then
        deletes the pod with grace 0 (pkg/kubelet/status/status_manager.go)."""
        with self._writes:
            key = f"{namespace}/{name}"
            pod = self._pods[key]
            if pod.deletion is None:
                raise ValueError(f"pod {key} is not being deleted")
            if not pod.terminal:
                pod.final_phase = "Succeeded"
                pod.since = self.clock()
                self._put_pod(pod)
            self._remove_pod(key)

    def scale(
        self,
        namespace: str,
        deployment: str,
        replicas: int,
        node: str | None = None,
        state: str = "Running",
        *,
        requests: dict[str, str] | None = None,
    ) -> list[str]:
        """A Deployment's ReplicaSet creates pods named `DEPLOYMENT-HASH-xxxxx` (new ones
        in `state`, each container requesting `requests`) or gracefully deletes the
        newest. Returns the names that stay."""
        hash_ = template_hash(deployment)
        rs = f"{deployment}-{hash_}"
        rs_uid = self._replica_sets.setdefault((namespace, rs), new_uid())
        mine = [
            p
            for p in self._pods.values()
            if p.namespace == namespace and p.owner and p.owner["name"] == rs and not p.deletion
        ]
        mine.sort(key=lambda p: p.created)
        while len(mine) > replicas:
            victim = mine.pop()
            self.delete_pod(namespace, victim.name)
        while len(mine) < replicas:
            pod_name = f"{rs}-{suffix(rs + new_uid())}"
            owner = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": rs,
                "uid": rs_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
            labels = {"app": deployment, "pod-template-hash": hash_}
            self.add_pod(
                namespace,
                pod_name,
                node,
                state,
                container=deployment,
                requests=requests,
                labels=labels,
                owner=owner,
                generate_name=f"{rs}-",
            )
            mine.append(self._pods[f"{namespace}/{pod_name}"])
        return [p.name for p in mine]

    def _put_pod(self, pod: Pod) -> None:
        node = self._nodes.get(pod.node or "")
        doc = pod_doc(pod, node.ip if node else "", self.clock())
        with self.store.lock:
            self.store.put("pods", f"{pod.namespace}/{pod.name}", doc)

    def _remove_pod(self, key: str) -> None:
        self._pods.pop(key)
        with self.store.lock:
            self.store.delete("pods", key)

    # -- the control API's view --------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self._writes, self.store.lock:
            pods = self.store.objects["pods"]
            return {
                "resourceVersion": self.store.rv,
                "outage": self.api.outage,
                "watches": len(self.store.watchers),
                "nodes": [
                    {"name": n.name, "ready": n.ready, "unschedulable": n.unschedulable}
                    for n in self._nodes.values()
                ],
                "pods": [
                    {
                        "namespace": p.namespace,
                        "name": p.name,
                        "node": p.node,
                        "state": p.state,
                        "phase": p.phase,
                        "deleting": p.deletion is not None,
                        "kubectl": print_pod(pods[k])._asdict(),
                    }
                    for k, p in self._pods.items()
                ],
            }

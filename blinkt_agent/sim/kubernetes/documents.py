"""The JSON the apiserver writes: Status errors, lists, bookmarks, nodes and pod specs.

Shapes follow the Go types in k8s.io/api/core/v1 (types.go) as encoding/json writes them:
fields in struct order, empty `omitempty` fields left out, a zero metav1.Time as null
(`creationTimestamp: null` in a bookmark), map keys sorted, and <, >, & escaped.

- Status (apimachinery/pkg/api/errors/errors.go): {kind, apiVersion, metadata: {}, status:
  "Failure", message, reason, details, code}.
- Lists (e.g. PodList): kind, apiVersion, metadata.resourceVersion, and items WITHOUT kind
  and apiVersion: the cacher keeps internal objects, whose type meta the scheme clears
  (apimachinery/pkg/runtime/scheme.go, setTargetKind for the internal version), and the
  encoder sets it on the list only (serializer/versioning/versioning.go). Objects in
  watch events and single GETs are encoded one by one, so they carry both.
- A bookmark (cacher.go dispatchEvents) is `newFunc()` with only metadata.resourceVersion
  set: an empty Pod or Node as Go encodes it.
- Nodes as a k3s kubelet on a Raspberry Pi 4 reports them (pkg/kubelet/nodestatus/
  setters.go): capacity from cAdvisor in Ki, allocatable = capacity minus k3s' default
  eviction-hard thresholds (memory.available<100Mi, nodefs.available<10%), conditions
  MemoryPressure, DiskPressure, PIDPressure, Ready in that order.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Doc = dict[str, Any]

K3S_VERSION = "v1.30.6+k3s1"
CONTAINERD_VERSION = "containerd://1.7.22-k3s1"
KERNEL_VERSION = "6.6.51+rpt-rpi-v8"
OS_IMAGE = "Debian GNU/Linux 12 (bookworm)"

# pkg/apis/core/v1: NewNotFound etc. set these reasons; fail_next maps a code to one.
REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPE = re.compile("[<>&\u2028\u2029]")
_QUANTITY = re.compile(r"^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T|m)?$")
_BINARY = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def go_json(obj: Any) -> bytes:
    """Compact JSON with Go's HTML-safe escapes, UTF-8 as is."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return _GO_ESCAPE.sub(lambda m: _GO_ESCAPES[m.group(0)], text).encode()


def rfc3339(t: float) -> str:
    """metav1.Time: RFC 3339 in UTC, whole seconds."""
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def digest(*parts: str) -> str:
    """A stable 64-hex-digit id (container and image IDs) from what names the thing."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


# -- errors --------------------------------------------------------------------------------


def status(code: int, message: str, reason: str | None = None, details: Doc | None = None) -> Doc:
    """A metav1.Status error body."""
    doc: Doc = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or REASONS.get(code, "Unknown"),
    }
    if details is not None:
        doc["details"] = details
    doc["code"] = code
    return doc


def resource_details(resource: str, name: str = "") -> Doc:
    """StatusDetails for a core resource: {name, kind} (group "" is left out)."""
    return {"name": name, "kind": resource} if name else {"kind": resource}


def not_found(resource: str, name: str) -> Doc:
    """errors.NewNotFound: `pods "x" not found`."""
    return status(404, f'{resource} "{name}" not found', details=resource_details(resource, name))


# -- lists and bookmarks -------------------------------------------------------------------


def list_doc(kind: str, rv: int, items: Iterable[Doc]) -> Doc:
    """A PodList/NodeList: items without kind and apiVersion (see the module docstring)."""
    bare = [{k: v for k, v in item.items() if k not in ("kind", "apiVersion")} for item in items]
    return {
        "kind": kind,
        "apiVersion": "v1",
        "metadata": {"resourceVersion": str(rv)},
        "items": bare,
    }


def bookmark(resource: str, rv: int) -> Doc:
    """The empty object a BOOKMARK event carries (cacher.go dispatchEvents: c.newFunc())."""
    meta = {"resourceVersion": str(rv), "creationTimestamp": None}
    if resource == "pods":
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": meta,
            "spec": {"containers": None},
            "status": {},
        }
    info = (
        "machineID systemUUID bootID kernelVersion osImage containerRuntimeVersion "
        "kubeletVersion kubeProxyVersion operatingSystem architecture"
    )
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": meta,
        "spec": {},
        "status": {
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": dict.fromkeys(info.split(), ""),
        },
    }


# -- quantities ----------------------------------------------------------------------------


def quantity_bytes(text: str) -> int:
    """A memory or storage quantity in bytes (the integer forms the kubelet writes)."""
    match = _QUANTITY.match(text)
    if not match or match.group(2) == "m":
        raise ValueError(f"unsupported quantity {text!r} (use e.g. 3882140Ki, 4Gi, 64Mi)")
    number, suffix = int(match.group(1)), match.group(2)
    return number * (_BINARY.get(suffix or "", 0) or _DECIMAL.get(suffix or "", 1))


def binary_si(n: int) -> str:
    """resource.Quantity in BinarySI, canonical: the biggest power of 1024 that divides it."""
    for suffix, size in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if n and n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)


# -- nodes ---------------------------------------------------------------------------------

NODE_CONDITIONS = {
    # pkg/kubelet/nodestatus/setters.go: (type, reason, message) when fine / under pressure
    "MemoryPressure": (
        ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
    ),
    "DiskPressure": (
        ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("KubeletHasDiskPressure", "kubelet has disk pressure"),
    ),
    "PIDPressure": (
        ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
    ),
}
READY_TRUE = ("KubeletReady", "kubelet is posting ready status")
READY_FALSE = (  # setters.go ReadyCondition with a runtime network error, as k3s reports it
    "KubeletNotReady",
    "container runtime network not ready: NetworkReady=false "
    "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
)
# pkg/controller/nodelifecycle/node_lifecycle_controller.go tryUpdateNodeHealth
UNKNOWN = ("NodeStatusUnknown", "Kubelet stopped posting node status.")
EVICTION_HARD_MEMORY = 100 << 20  # k3s' default --eviction-hard memory.available<100Mi
EVICTION_HARD_NODEFS = 0.10  # nodefs.available<10%


@dataclass
class Node:
    """A k3s node as its kubelet and the node lifecycle controller write it."""

    name: str
    uid: str
    index: int  # 0, 1, ...: picks the pod CIDR and the address
    created: float
    cpu: str = "4"
    memory: str = "3882140Ki"
    pods: str = "110"
    storage: str = "30358348Ki"
    ip: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    ready: bool | None = True  # None: the kubelet stopped posting (Unknown)
    pressure: dict[str, bool] = field(default_factory=dict)
    unschedulable: bool = False
    taints: list[Doc] = field(default_factory=list)
    heartbeat: float = 0.0  # the kubelet's last status post
    transitions: dict[str, float] = field(default_factory=dict)  # condition -> since

    def __post_init__(self) -> None:
        self.ip = self.ip or f"192.168.1.{10 + self.index}"
        self.heartbeat = self.heartbeat or self.created

    @property
    def pod_cidr(self) -> str:
        return f"10.42.{self.index}.0/24"

    def pod_ip(self, n: int) -> str:
        return f"10.42.{self.index}.{n % 250 + 2}"


def node_doc(node: Node) -> Doc:
    labels = {
        "beta.kubernetes.io/arch": "arm64",
        "beta.kubernetes.io/instance-type": "k3s",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "arm64",
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "k3s",
        **node.labels,
    }
    annotations = {
        "alpha.kubernetes.io/provided-node-ip": node.ip,
        "flannel.alpha.coreos.com/backend-type": "vxlan",
        "flannel.alpha.coreos.com/kube-subnet-manager": "true",
        "flannel.alpha.coreos.com/public-ip": node.ip,
        "k3s.io/hostname": node.name,
        "k3s.io/internal-ip": node.ip,
        "k3s.io/node-args": '["agent"]',
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
    }
    spec: Doc = {
        "podCIDR": node.pod_cidr,
        "podCIDRs": [node.pod_cidr],
        "providerID": f"k3s://{node.name}",
    }
    if node.unschedulable:
        spec["unschedulable"] = True
    if node.taints:
        spec["taints"] = node.taints
    memory = quantity_bytes(node.memory)
    storage = quantity_bytes(node.storage)
    hugepages = {f"hugepages-{size}": "0" for size in ("1Gi", "2Mi", "32Mi", "64Ki")}
    capacity = {
        "cpu": node.cpu,
        "ephemeral-storage": binary_si(storage),
        **hugepages,
        "memory": binary_si(memory),
        "pods": node.pods,
    }
    allocatable = {
        **capacity,
        "ephemeral-storage": binary_si(storage - int(storage * EVICTION_HARD_NODEFS)),
        "memory": binary_si(memory - EVICTION_HARD_MEMORY),
    }
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": node.name,
            "uid": node.uid,
            "resourceVersion": "",
            "creationTimestamp": rfc3339(node.created),
            "labels": dict(sorted(labels.items())),
            "annotations": dict(sorted(annotations.items())),
            "finalizers": ["wrangler.cattle.io/node"],
        },
        "spec": spec,
        "status": {
            "capacity": dict(sorted(capacity.items())),
            "allocatable": dict(sorted(allocatable.items())),
            "conditions": node_conditions(node),
            "addresses": [
                {"type": "InternalIP", "address": node.ip},
                {"type": "Hostname", "address": node.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": digest("machine", node.name)[:32],
                "systemUUID": "",
                "bootID": str(uuid.UUID(digest("boot", node.uid)[:32])),
                "kernelVersion": KERNEL_VERSION,
                "osImage": OS_IMAGE,
                "containerRuntimeVersion": CONTAINERD_VERSION,
                "kubeletVersion": K3S_VERSION,
                "kubeProxyVersion": K3S_VERSION,
                "operatingSystem": "linux",
                "architecture": "arm64",
            },
        },
    }


def node_conditions(node: Node) -> list[Doc]:
    """The kubelet's four conditions; all Unknown once the controller gave up on it."""
    out = []
    for kind in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready"):
        if node.ready is None:
            value, (reason, message) = "Unknown", UNKNOWN
        elif kind == "Ready":
            value, (reason, message) = (
                ("True", READY_TRUE) if node.ready else ("False", READY_FALSE)
            )
        else:
            under = node.pressure.get(kind, False)
            value, (reason, message) = str(under), NODE_CONDITIONS[kind][under]
        out.append(
            {
                "type": kind,
                "status": value,
                "lastHeartbeatTime": rfc3339(node.heartbeat),
                "lastTransitionTime": rfc3339(node.transitions.get(kind, node.created)),
                "reason": reason,
                "message": message,
            }
        )
    return out


def taint(key: str, effect: str, at: float) -> Doc:
    """A controller-added taint (SwapNodeControllerTaint sets timeAdded on each)."""
    return {"key": key, "effect": effect, "timeAdded": rfc3339(at)}

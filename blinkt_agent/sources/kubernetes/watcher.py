"""Follow pods and nodes with list + watch, as client-go's reflector does.

Each collection is a `Reflector` (a sources.follow.Watch): list it (a consistent read:
no resourceVersion), then watch from the list's resourceVersion with
allowWatchBookmarks=true and a timeoutSeconds drawn from [T, 2T) as client-go's
reflector draws it (tools/cache/reflector.go: minWatchTimeout * (1 + rand)). ADDED,
MODIFIED and DELETED change what it holds; BOOKMARK only moves the resourceVersion
(so that the next watch resumes without a list); a watch the server ends resumes from
the last resourceVersion; 410 Expired, as HTTP status or as an ERROR event, means list
again. Any other failure is a Problem (sources/follow.py backs off, then lists again).

Two reflectors make a picture: the node (metadata.name=<node>) and its pods
(spec.nodeName=<node>); or, for the cluster view, every node and every scheduled pod
(spec.nodeName!=).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from blinkt_agent.errors import NodeUnknown
from blinkt_agent.outside import dig
from blinkt_agent.snapshot import Node, Problem, Snapshot, Update
from blinkt_agent.sources.follow import Follow, Watch
from blinkt_agent.sources.kubernetes.client import (
    CONNECT_TIMEOUT,
    READ_SLACK,
    Expired,
    KubeClient,
    selector_value,
)
from blinkt_agent.sources.kubernetes.normalise import node_of, node_ready_status, workload_of

log = logging.getLogger(__name__)

CHANGES = ("ADDED", "MODIFIED", "DELETED")


class Reflector(Watch):
    """One collection: what it holds now (by namespace/name) and where its watch resumes."""

    def __init__(
        self,
        name: str,
        client: KubeClient,
        path: str,
        params: dict[str, str],
        watch_timeout: float,
        rng: random.Random | None = None,
        must_exist: str = "",
    ) -> None:
        self.name = name
        self._client = client
        self._path = path
        self._params = params
        self._timeout = watch_timeout
        self._rng = rng or random.Random()
        self._must_exist = must_exist  # a node name: its absence is NodeUnknown
        self.objects: dict[str, dict[str, Any]] = {}
        self.version = ""  # "": list first
        self.lists = 0  # how many lists so far (a figure for tests and benchmarks)

    def budget(self) -> float:
        return CONNECT_TIMEOUT + 2 * self._timeout + READ_SLACK + 10

    def start_over(self) -> None:
        self.version = ""

    def read_once(self) -> None:
        self._list()

    def step(self, stopped: threading.Event, changed: Callable[[], None]) -> None:
        if not self.version:
            self._list()
            changed()
            return
        timeout = int(self._timeout * (1 + self._rng.random()))
        try:
            for kind, obj in self._client.watch(self._path, self._params, self.version, timeout):
                if stopped.is_set():
                    return
                version = dig(obj, "metadata", "resourceVersion")
                if isinstance(version, str) and version:
                    self.version = version
                if kind not in CHANGES:
                    continue  # BOOKMARK: only the resourceVersion moves
                key = _key(obj)
                if kind == "DELETED":
                    self.objects.pop(key, None)
                else:
                    self.objects[key] = obj
                self._check_exists()
                changed()
        except Expired as err:
            log.info("%s: %s: listing again", self.name, err)
            self.version = ""

    def _list(self) -> None:
        items, version = self._client.list(self._path, self._params)
        self.lists += 1
        self.objects = {_key(item): item for item in items if isinstance(item, dict)}
        self.version = version
        self._check_exists()

    def _check_exists(self) -> None:
        if self._must_exist and not self.objects:
            self.version = ""  # listed again after the backoff: it may be registered by then
            raise NodeUnknown(
                f"node: no Kubernetes node is named {self._must_exist!r} "
                "(`kubectl get nodes` lists them; set `node`)"
            )


def _key(obj: object) -> str:
    namespace, name = dig(obj, "metadata", "namespace"), dig(obj, "metadata", "name")
    uid = dig(obj, "metadata", "uid")
    return f"{namespace or ''}/{name or uid or id(obj)}"


class KubeWatcher(Follow):
    """The Kubernetes source: one node and its pods, or (cluster) every node and pod."""

    def __init__(
        self,
        client: KubeClient,
        emit: Callable[[Update | Problem], None],
        node: str = "",
        namespace: str = "",
        watch_timeout: float = 300.0,
        backoff_max: float = 60.0,
        with_capacity: bool = False,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._with_capacity = with_capacity
        pods_path = f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"
        if node:  # one node
            name = selector_value(node)
            on_node = {"fieldSelector": f"spec.nodeName={name}"}
            self.pods = Reflector("pods", client, pods_path, on_node, watch_timeout, rng)
            self.nodes = Reflector(
                "node",
                client,
                "/api/v1/nodes",
                {"fieldSelector": f"metadata.name={name}"},
                watch_timeout,
                rng,
                must_exist=node,
            )
        else:  # the cluster: every pod on a node (not those still waiting for one)
            scheduled = {"fieldSelector": "spec.nodeName!="}
            self.pods = Reflector("pods", client, pods_path, scheduled, watch_timeout, rng)
            self.nodes = Reflector("nodes", client, "/api/v1/nodes", {}, watch_timeout, rng)
        super().__init__(
            (self.pods, self.nodes), self._snapshot, emit, backoff_max=backoff_max, clock=clock
        )

    def stop(self) -> None:
        super().stop()
        self._client.close()  # ends the open watches now, not at their timeout

    def _snapshot(self) -> Snapshot:
        by_node: dict[str, list[object]] = {}
        for pod in self.pods.objects.values():
            by_node.setdefault(str(dig(pod, "spec", "nodeName") or ""), []).append(pod)
        nodes = []
        for node in self.nodes.objects.values():
            name = str(dig(node, "metadata", "name") or "")
            ready = node_ready_status(node)
            workloads = [workload_of(pod, ready) for pod in by_node.get(name, [])]
            shown = node_of(node, [w for w in workloads if w is not None])
            if not self._with_capacity:
                shown = Node(shown.name, shown.id, shown.state, shown.workloads)
            nodes.append(shown)
        return Snapshot(nodes=tuple(nodes), address=self._client.hostport)

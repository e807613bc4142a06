"""SimKubernetes through real HTTP, pinned to what kubernetes/kubernetes does (docs/CONFORMANCE.md).

Objects and resourceVersions, list and get shapes, field and label selectors, watches
(resume, bookmarks, timeouts, too-old errors in both forms, chunked framing on the wire),
faults, the control API and the standalone process.
"""

import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from blinkt_agent.sim.kubernetes import SimKubernetes
from blinkt_agent.sim.kubernetes.api import GoChunkWriter
from tests.k8s_helpers import Watch, get, rv

ROOT = Path(__file__).resolve().parents[1]
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def k8s():
    with SimKubernetes(bookmark_interval=0.2) as sim:
        sim.add_node("pi-01")
        sim.add_node("pi-02")
        yield sim


def later(seconds, fn, *args):
    timer = threading.Timer(seconds, fn, args)
    timer.start()
    return timer


# -- objects and resourceVersion -----------------------------------------------------------


def test_every_write_takes_the_next_global_resource_version(k8s):
    start = k8s.resource_version
    k8s.add_pod("default", "web-1", "pi-01", state="Pending")  # one write: created
    k8s.set_pod_state("default", "web-1", "Running")  # one write: bound and reported
    k8s.set_node("pi-02", unschedulable=True)  # spec, then the controller's taint
    assert k8s.resource_version == start + 4
    assert k8s.pod("default", "web-1")["metadata"]["resourceVersion"] == str(start + 2)
    assert rv(k8s.node("pi-02")) == start + 4


def test_objects_carry_uid_and_an_rfc3339_creation_timestamp(k8s):
    uid = k8s.add_pod("default", "web-1", "pi-01")
    meta = k8s.pod("default", "web-1")["metadata"]
    assert meta["uid"] == uid and re.match(r"^[0-9a-f-]{36}$", uid)
    assert RFC3339.match(meta["creationTimestamp"])


def test_scaled_pods_are_named_and_owned_like_replica_set_pods(k8s):
    names = k8s.scale("default", "web", 3, "pi-01")
    assert len(names) == 3
    for name in names:
        assert re.match(
            r"^web-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$", name
        )
        meta = k8s.pod("default", name)["metadata"]
        assert meta["generateName"] == name[:-5]
        (owner,) = meta["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["controller"]) == (
            "ReplicaSet",
            name[:-6],
            True,
        )
        assert meta["labels"]["pod-template-hash"] == name.split("-")[1]
    assert len(k8s.scale("default", "web", 1, "pi-01")) == 1


# -- list and get --------------------------------------------------------------------------


def test_pod_list_has_kind_and_resource_version_and_items_have_neither(k8s):
    k8s.add_pod("default", "web-1", "pi-01")
    body = get(k8s, "/api/v1/pods").json()
    assert (body["kind"], body["apiVersion"]) == ("PodList", "v1")
    assert body["metadata"] == {"resourceVersion": str(k8s.resource_version)}
    (item,) = body["items"]
    assert "kind" not in item and "apiVersion" not in item
    assert list(item) == ["metadata", "spec", "status"]


def test_a_single_get_has_kind_and_api_version(k8s):
    k8s.add_pod("kube-system", "coredns-1", "pi-01")
    pod = get(k8s, "/api/v1/namespaces/kube-system/pods/coredns-1").json()
    assert (pod["kind"], pod["apiVersion"], pod["metadata"]["name"]) == ("Pod", "v1", "coredns-1")
    node = get(k8s, "/api/v1/nodes/pi-01").json()
    assert (node["kind"], node["metadata"]["name"]) == ("Node", "pi-01")


def test_unknown_objects_are_404_status_not_found(k8s):
    response = get(k8s, "/api/v1/namespaces/default/pods/nope")
    assert response.status_code == 404
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "pods"},
        "code": 404,
    }
    assert get(k8s, "/api/v1/nodes/pi-09").json()["message"] == 'nodes "pi-09" not found'


def test_namespaced_list_holds_only_that_namespace(k8s):
    k8s.add_pod("default", "web-1", "pi-01")
    k8s.add_pod("kube-system", "coredns-1", "pi-01")
    items = get(k8s, "/api/v1/namespaces/kube-system/pods").json()["items"]
    assert [p["metadata"]["name"] for p in items] == ["coredns-1"]
    assert get(k8s, "/api/v1/namespaces/empty/pods").json()["items"] == []


def test_a_list_from_the_watch_cache_has_the_resources_own_revision(k8s):
    k8s.add_pod("default", "web-1", "pi-01")
    pods_rv = k8s.resource_version
    k8s.set_node("pi-02", ready=False)  # writes to nodes only
    assert rv(get(k8s, "/api/v1/pods", resourceVersion="0").json()) == pods_rv
    assert rv(get(k8s, "/api/v1/pods").json()) == k8s.resource_version  # etcd: current


def test_big_lists_are_gzipped_when_the_client_accepts_it(k8s):
    for i in range(60):  # about 2.6 KiB each: over 128 KiB
        k8s.add_pod("default", f"web-{i}", "pi-01")
    response = get(k8s, "/api/v1/pods")
    assert response.headers["Content-Encoding"] == "gzip" and len(response.json()["items"]) == 60
    assert "Content-Encoding" not in get(k8s, "/api/v1/nodes").headers


def test_every_answer_has_an_audit_id_and_no_cache(k8s):
    headers = get(k8s, "/api/v1/nodes").headers
    assert re.match(r"^[0-9a-f-]{36}$", headers["Audit-Id"])
    assert headers["Cache-Control"] == "no-cache, private"
    assert headers["Content-Type"] == "application/json"


# -- field and label selectors -------------------------------------------------------------


def names(response):
    return sorted(p["metadata"]["name"] for p in response.json()["items"])


def test_field_selectors_filter_pods_by_node_and_phase(k8s):
    k8s.add_pod("default", "a", "pi-01")
    k8s.add_pod("default", "b", "pi-02")
    k8s.add_pod("default", "c", "pi-01", state="Completed")
    assert names(get(k8s, "/api/v1/pods", fieldSelector="spec.nodeName=pi-01")) == ["a", "c"]
    assert names(
        get(k8s, "/api/v1/pods", fieldSelector="spec.nodeName==pi-01,status.phase!=Succeeded")
    ) == ["a"]
    assert names(get(k8s, "/api/v1/pods", fieldSelector="spec.host=pi-02")) == ["b"]
    assert names(
        get(k8s, "/api/v1/pods", fieldSelector="metadata.namespace=default,metadata.name=b")
    ) == ["b"]


def test_node_field_selectors_know_only_name_and_unschedulable(k8s):
    k8s.set_node("pi-02", unschedulable=True)
    assert names(get(k8s, "/api/v1/nodes", fieldSelector="spec.unschedulable=true")) == ["pi-02"]
    response = get(k8s, "/api/v1/nodes", fieldSelector="metadata.namespace=default")
    assert response.json()["message"] == "field label not supported: metadata.namespace"


def test_an_unsupported_field_label_is_a_400_bad_request(k8s):
    response = get(k8s, "/api/v1/pods", fieldSelector="spec.nodeName=pi-01,status.hostIP=1.2.3.4")
    assert response.status_code == 400
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "field label not supported: status.hostIP",
        "reason": "BadRequest",
        "code": 400,
    }


def test_a_field_selector_that_does_not_parse_says_what_it_cannot_understand(k8s):
    response = get(k8s, "/api/v1/pods", fieldSelector="spec.nodeName")
    assert response.status_code == 400
    assert (
        response.json()["message"]
        == "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'"
    )


def test_label_selectors_take_equality_existence_and_sets(k8s):
    k8s.add_pod("default", "a", "pi-01", labels={"app": "web", "tier": "front"})
    k8s.add_pod("default", "b", "pi-01", labels={"app": "db"})
    assert names(get(k8s, "/api/v1/pods", labelSelector="app=web")) == ["a"]
    assert names(get(k8s, "/api/v1/pods", labelSelector="app in (web,db),!tier")) == ["b"]
    assert names(get(k8s, "/api/v1/pods", labelSelector="tier,app!=db")) == ["a"]


# -- watch ---------------------------------------------------------------------------------


def test_watch_is_a_chunked_200_of_json_events_in_order(k8s):
    start = k8s.resource_version
    k8s.add_pod("default", "web-1", "pi-01", state="ContainerCreating")
    k8s.delete_pod("default", "web-1", graceful=False)
    with Watch(k8s, resourceVersion=start) as w:
        assert w.response.status_code == 200
        assert w.response.headers["Transfer-Encoding"] == "chunked"
        assert w.response.headers["Content-Type"] == "application/json"
        events = w.take(3)
    assert [t for t, _ in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert [rv(o) for _, o in events] == [start + 1, start + 2, start + 3]
    assert all((o["kind"], o["apiVersion"]) == ("Pod", "v1") for _, o in events)
    assert events[2][1]["status"] == events[1][1]["status"]  # the last state, at the new rv


def test_watch_resumes_from_a_listed_resource_version(k8s):
    k8s.add_pod("default", "web-1", "pi-01", state="ContainerCreating")
    listed = get(k8s, "/api/v1/pods").json()
    later(0.2, k8s.set_pod_state, "default", "web-1", "Running")
    with Watch(k8s, resourceVersion=listed["metadata"]["resourceVersion"]) as w:
        kind, pod = w.next()
    assert kind == "MODIFIED" and pod["status"]["phase"] == "Running"


def test_watch_from_zero_or_without_rv_starts_with_synthetic_added_events(k8s):
    k8s.add_pod("default", "web-1", "pi-01")
    k8s.add_pod("default", "web-2", "pi-02")
    for params in ({"resourceVersion": "0"}, {}):
        with Watch(k8s, timeoutSeconds=1, **params) as w:
            events, _ = w.rest()
        assert [(t, o["metadata"]["name"]) for t, o in events] == [
            ("ADDED", "web-1"),
            ("ADDED", "web-2"),
        ]


def test_watch_true_is_a_watch_too(k8s):
    with Watch(k8s, "/api/v1/nodes", watch="true", resourceVersion="0", timeoutSeconds=1) as w:
        events, _ = w.rest()
    assert [o["metadata"]["name"] for _, o in events] == ["pi-01", "pi-02"]


def test_timeout_seconds_ends_the_stream_cleanly_at_the_deadline(k8s):
    with Watch(k8s, resourceVersion=k8s.resource_version, timeoutSeconds=1) as w:
        events, took = w.rest()  # the stream's last chunk arrives: no exception
    assert events == [] and 0.9 < took < 2.0


def test_without_timeout_seconds_the_deadline_is_random_between_1800_and_3600_s(k8s):
    with Watch(k8s, resourceVersion=k8s.resource_version):
        time.sleep(0.2)
        deadlines = [w.deadline - time.monotonic() for w in k8s.store.watchers]
    assert len(deadlines) == 1 and 1790 < deadlines[0] <= 3600


def test_field_selector_watch_sends_deleted_when_a_pod_moves_out(k8s):
    k8s.add_pod("default", "web-1", "pi-01")
    start = k8s.resource_version
    later(0.2, k8s.set_pod_state, "default", "web-1", "Evicted")  # phase Failed
    later(0.4, k8s.add_pod, "default", "web-2", "pi-01")
    with Watch(k8s, fieldSelector="status.phase=Running", resourceVersion=start) as w:
        (gone_type, gone), (new_type, new) = w.take(2)
    assert (gone_type, gone["metadata"]["name"]) == ("DELETED", "web-1")
    assert gone["status"]["phase"] == "Running" and rv(gone) == start + 1  # old object, new rv
    assert (new_type, new["metadata"]["name"]) == ("ADDED", "web-2")


def test_field_selector_watch_sends_added_when_a_pod_moves_in(k8s):
    k8s.add_pod("default", "web-1", "pi-01", state="Pending")
    later(0.2, k8s.set_pod_state, "default", "web-1", "ContainerCreating")
    with Watch(k8s, fieldSelector="spec.nodeName=pi-01", resourceVersion=k8s.resource_version) as w:
        kind, pod = w.next()
    assert kind == "ADDED" and pod["spec"]["nodeName"] == "pi-01"


def test_bookmarks_only_when_allowed(k8s):
    later(0.1, k8s.add_pod, "default", "web-1", "pi-02")
    with Watch(
        k8s,
        fieldSelector="spec.nodeName=pi-01",
        resourceVersion=k8s.resource_version,
        timeoutSeconds=1,
    ) as w:
        assert w.rest()[0] == []


def test_a_bookmark_is_an_empty_object_with_the_caches_resource_version(k8s):
    later(0.1, k8s.add_pod, "default", "web-1", "pi-02")  # not what this watch selects
    with Watch(
        k8s,
        fieldSelector="spec.nodeName=pi-01",
        resourceVersion=k8s.resource_version,
        allowWatchBookmarks="true",
    ) as w:
        kind, obj = w.next()
    assert kind == "BOOKMARK"
    assert obj == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": str(k8s.resource_version), "creationTimestamp": None},
        "spec": {"containers": None},
        "status": {},
    }


def test_no_bookmark_until_the_cache_passes_the_watch_start(k8s):
    k8s.add_pod("default", "web-1", "pi-01")
    later(0.5, k8s.set_pod_state, "default", "web-1", "RunningNotReady")
    with Watch(
        k8s, resourceVersion=k8s.resource_version - 1, allowWatchBookmarks="1", timeoutSeconds=3
    ) as w:
        events, _ = w.rest()
    kinds = [t for t, _ in events]  # replayed up to the cache's head: no bookmark before the write
    assert (
        kinds[:2] == ["MODIFIED", "MODIFIED"] and set(kinds[2:]) == {"BOOKMARK"} and len(kinds) > 3
    )


def test_a_bookmark_comes_two_seconds_before_the_deadline(k8s):
    k8s.api.settings.bookmark_interval = 60.0
    later(0.1, k8s.add_pod, "default", "web-1", "pi-02")
    start = time.monotonic()
    with Watch(
        k8s,
        fieldSelector="spec.nodeName=pi-01",
        resourceVersion=k8s.resource_version,
        allowWatchBookmarks="1",
        timeoutSeconds=3,
    ) as w:
        assert w.next()[0] == "BOOKMARK"
        assert 0.9 < time.monotonic() - start < 1.6
        assert w.rest()[0] == []


def test_too_old_is_a_200_with_an_error_event_after_compaction(k8s):
    old = k8s.resource_version
    k8s.add_pod("default", "web-1", "pi-01")
    k8s.compact()
    with Watch(k8s, resourceVersion=old - 1) as w:
        assert w.response.status_code == 200
        events, _ = w.rest()
    assert events == [
        (
            "ERROR",
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": f"too old resource version: {old - 1} ({k8s.resource_version})",
                "reason": "Expired",
                "code": 410,
            },
        )
    ]


def test_too_old_can_be_an_http_410_as_before_kubernetes_1_3():
    with SimKubernetes(too_old="http") as sim:
        sim.add_node("pi-01")
        sim.compact()
        response = get(sim, "/api/v1/nodes", watch="1", resourceVersion="1")
    assert response.status_code == 410
    assert response.json()["message"] == "too old resource version: 1 (2)"
    assert response.json()["reason"] == "Expired"


def test_without_the_watch_cache_too_old_has_etcds_message():
    with SimKubernetes(watch_cache=False) as sim:
        for name in ("pi-01", "pi-02", "pi-03"):
            sim.add_node(name)
        assert (
            len(Watch(sim, "/api/v1/nodes", resourceVersion="1", timeoutSeconds=1).rest()[0]) == 3
        )
        sim.compact()
        events, _ = Watch(sim, "/api/v1/nodes", resourceVersion="2").rest()
    ((kind, status),) = events
    assert (kind, status["code"], status["reason"]) == ("ERROR", 410, "Expired")
    assert status["message"] == "The resourceVersion for the provided watch is too old."


def test_the_watch_cache_window_is_bounded():
    with SimKubernetes(watch_cache_capacity=(4, 4)) as sim:
        sim.add_node("pi-01")
        for _ in range(5):
            sim.set_node("pi-01", ready=False)
            sim.set_node("pi-01", ready=True)
        oldest = sim.resource_version - 4 + 1  # the window holds the last four events
        events, _ = Watch(sim, "/api/v1/nodes", resourceVersion=oldest - 2).rest()
        assert events[0][1]["message"] == f"too old resource version: {oldest - 2} ({oldest - 1})"
        events, _ = Watch(sim, "/api/v1/nodes", resourceVersion=oldest - 1, timeoutSeconds=1).rest()
    assert len(events) == 4


def test_after_an_apiserver_restart_older_revisions_are_too_old(k8s):
    seen = k8s.resource_version
    with Watch(k8s, resourceVersion=seen) as w:
        k8s.restart()
        assert w.rest()[0] == []  # the open watch ends
    with Watch(k8s, resourceVersion=seen, timeoutSeconds=1) as w:
        assert w.rest()[0] == []  # nothing happened since: resuming works
    k8s.add_pod("default", "web-1", "pi-01")
    k8s.restart()
    events, _ = Watch(k8s, resourceVersion=seen).rest()
    assert events[0][0] == "ERROR" and events[0][1]["code"] == 410


def test_close_watches_ends_streams_and_keeps_history(k8s):
    seen = k8s.resource_version
    later(0.3, k8s.close_watches)
    assert Watch(k8s, resourceVersion=seen).rest()[0] == []
    k8s.add_pod("default", "web-1", "pi-01")
    assert Watch(k8s, resourceVersion=seen).take(1)[0][0] == "ADDED"


# -- chunked framing -----------------------------------------------------------------------


def read_raw(sim, path):
    """One request on a raw socket: (head, chunks) until the stream's last chunk."""
    with socket.create_connection((sim.host, sim.port), timeout=5) as s:
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {sim.admin_token}\r\n\r\n".encode()
        )
        data = b""
        while not data.endswith(b"\r\n0\r\n\r\n") and not data.endswith(b"\r\n\r\n0\r\n\r\n"):
            data += s.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    chunks: list[bytes] = []
    while True:
        size_line, body = body.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            return head.decode(), chunks
        chunks.append(body[:size])
        assert body[size : size + 2] == b"\r\n"
        body = body[size + 2 :]


def test_watch_events_are_flushed_one_chunk_each_on_the_wire(k8s):
    start = k8s.resource_version
    later(0.2, k8s.add_pod, "default", "web-1", "pi-01", "Pending")
    later(0.4, k8s.set_pod_state, "default", "web-1", "ContainerCreating")
    head, chunks = read_raw(k8s, f"/api/v1/pods?watch=1&resourceVersion={start}&timeoutSeconds=1")
    assert head.startswith("HTTP/1.1 200 OK") and "Transfer-Encoding: chunked" in head
    assert "Content-Length" not in head
    assert len(chunks) == 2 and all(c.endswith(b"}\n") and c.count(b"\n") == 1 for c in chunks)


def test_events_written_together_share_2048_byte_chunks_like_go():
    out = io.BytesIO()
    writer = GoChunkWriter(out)
    writer.write(b"a" * 1500 + b"\n")
    writer.write(b"b" * 1500 + b"\n")
    writer.write(b"c" * 5000)  # the buffer is not empty: fill, flush, then the rest at once
    writer.close()
    sizes = [int(s, 16) for s in re.findall(rb"(?:^|\r\n)([0-9a-f]+)\r\n", out.getvalue())]
    assert sizes[:2] == [2048, 2048] and sum(sizes) == 8002 and sizes[-1] == 0


def test_an_event_longer_than_go_s_buffer_is_a_chunk_of_its_own(k8s):
    for i in range(5):
        k8s.add_pod("default", f"web-{i}", "pi-01")
    _, chunks = read_raw(k8s, "/api/v1/pods?watch=1&resourceVersion=0&timeoutSeconds=1")
    assert len(chunks) == 5 and all(len(c) > 2048 and c.count(b"\n") == 1 for c in chunks)


# -- faults --------------------------------------------------------------------------------


def test_fail_next_answers_a_status_error(k8s):
    k8s.fail_next(503, count=2, message="etcd is down")
    for _ in range(2):
        response = get(k8s, "/api/v1/pods")
        assert response.status_code == 503
        assert (response.json()["reason"], response.json()["message"]) == (
            "ServiceUnavailable",
            "etcd is down",
        )
    assert get(k8s, "/api/v1/pods").ok


def test_hang_next_delays_the_answer(k8s):
    k8s.hang_next(0.5)
    start = time.monotonic()
    assert get(k8s, "/api/v1/nodes").ok and time.monotonic() - start >= 0.5


def test_an_outage_refuses_connections_and_cuts_open_watches(k8s):
    with Watch(k8s, resourceVersion=k8s.resource_version) as w:
        later(0.2, k8s.set_outage, True)
        with pytest.raises(requests.exceptions.RequestException):
            w.rest()
    with pytest.raises(requests.ConnectionError):
        get(k8s, "/api/v1/nodes")
    k8s.set_outage(False)
    assert get(k8s, "/api/v1/nodes").ok


def test_the_request_log_records_method_path_query_and_headers(k8s):
    get(k8s, "/api/v1/pods", fieldSelector="spec.nodeName=pi-01")
    (entry,) = k8s.request_log
    assert (entry.method, entry.path) == ("GET", "/api/v1/pods")
    assert entry.query == {"fieldSelector": "spec.nodeName=pi-01"}
    assert entry.headers["Authorization"] == f"Bearer {k8s.admin_token}"


def test_several_sims_listen_on_their_own_loopback_addresses():
    with SimKubernetes(host="127.0.1.5") as one, SimKubernetes(host="127.0.1.6") as two:
        one.add_node("pi-05")
        assert one.url.startswith("http://127.0.1.5:") and two.url.startswith("http://127.0.1.6:")
        assert (
            names(get(one, "/api/v1/nodes")) == ["pi-05"] and names(get(two, "/api/v1/nodes")) == []
        )


# -- control API and process ---------------------------------------------------------------


def test_the_control_api_drives_pods_nodes_and_faults(k8s):
    def call(method, path, **data):
        return requests.request(method, f"{k8s.url}/_sim/{path}", json=data, timeout=5)

    assert call(
        "POST", "pods", namespace="default", name="web-1", node="pi-01", state="ErrImagePull"
    ).ok
    assert call("POST", "pods/default/web-1", state="ImagePullBackOff").ok
    assert call("POST", "nodes/pi-02", ready=None).ok
    state = call("GET", "state").json()
    (pod,) = state["pods"]
    assert pod["kubectl"] == {"ready": "0/1", "status": "ImagePullBackOff", "restarts": 0}
    assert [n["ready"] for n in state["nodes"]] == [True, None]
    assert call("POST", "pods", namespace="default", name="x", state="Nope").status_code == 400
    assert call("DELETE", "pods/default/missing").status_code == 404
    assert call("POST", "fail", status=500).ok and get(k8s, "/api/v1/pods").status_code == 500
    assert call("GET", "requests").json()["requests"][-1]["path"] == "/api/v1/pods"


@pytest.mark.slow
def test_the_kubernetes_sim_process_serves_until_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "blinkt_agent.sim.kubernetes", "--port", "0",
         "--node", "pi-01", "--node", "pi-02", "--pods", "2"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        match = re.match(
            r"^sim-kubernetes: (http://127\.0\.0\.1:\d+) admin-token=(\w+) "
            r"nodes=pi-01,pi-02 pods=2$",
            line,
        )
        assert match, line
        url, token = match.groups()
        pods = requests.get(
            url + "/api/v1/pods", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert len(pods.json()["items"]) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()

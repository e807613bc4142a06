"""The Kubernetes source against the simulated API server, over real HTTP(S) on loopback.

List, then watch from the list's resourceVersion; events as they come; a watch the
server ends resumes without a list; bookmarks move the resourceVersion; 410 (as an ERROR
event or as the HTTP status) lists again; 401/403 say what is wrong; an unknown node,
a node that stops reporting, and the credentials of a k3s kubeconfig (inline client
certificate over TLS).
"""

import base64
import queue
import shutil
import threading
import time

import pytest

from blinkt_agent import config
from blinkt_agent.agent import source_of
from blinkt_agent.errors import AccessDenied, ConfigError, NodeUnknown, Unreachable
from blinkt_agent.sim.kubernetes import STATES, SimKubernetes, TLSFiles, print_pod
from blinkt_agent.snapshot import Problem, Update
from blinkt_agent.sources.kubernetes.client import RBAC_HINT
from blinkt_agent.sources.kubernetes.normalise import pod_state
from tests.k8s_helpers import make_pki

WATCH_TIMEOUT = 10.0


def kubeconfig(path, server, user):
    """A kubeconfig as k3s writes one (/etc/rancher/k3s/k3s.yaml), for `user` (YAML)."""
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: default\n  cluster:\n    server: {server}\n{cluster_extra(path)}"
        f"users:\n- name: default\n  user:\n{user}"
        "contexts:\n- name: default\n  context: {cluster: default, user: default}\n"
        "current-context: default\n"
    )
    return path


def cluster_extra(path):
    ca = path.parent / "server-ca.pem"
    if not ca.exists():
        return ""
    return f"    certificate-authority-data: {base64.b64encode(ca.read_bytes()).decode()}\n"


def token_user(token):
    return f"    token: {token}\n"


def settings_for(path, **values):
    base = {
        "source": "kubernetes",
        "node": "pi-01",
        "kubernetes.kubeconfig": str(path),
        "kubernetes.watch_timeout": WATCH_TIMEOUT,
        "kubernetes.backoff_max": 1.0,
    }
    return config.override(config.defaults(), base | values)


@pytest.fixture
def k3s(tmp_path):
    with SimKubernetes(bookmark_interval=0.2) as sim:
        sim.add_node("pi-01")
        sim.add_node("pi-02")
        sim.scale("default", "web", 3, "pi-01")
        sim.add_pod("default", "db", "pi-02")
        yield sim


@pytest.fixture
def admin_config(k3s, tmp_path):
    return kubeconfig(tmp_path / "kubeconfig", k3s.url, token_user(k3s.admin_token))


class Running:
    """A source in its thread, its events in a queue."""

    def __init__(self, settings):
        self.events: queue.Queue[Update | Problem] = queue.Queue()
        self.source = source_of(settings, self.events.put)
        self.thread = threading.Thread(target=self.source.run, daemon=True)
        self.thread.start()

    def next(self, kind=Update, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(event, kind):
                return event

    def until(self, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            update = self.next(Update, max(0.01, deadline - time.monotonic()))
            if predicate(update.snapshot):
                return update.snapshot

    def stop(self):
        self.source.stop()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


@pytest.fixture
def running():
    started = []

    def start(settings):
        started.append(Running(settings))
        return started[-1]

    yield start
    for one in started:
        one.source.stop()


def states(snapshot):
    return sorted(w.state for w in snapshot.node.workloads)


def pod_requests(sim):
    return [r for r in sim.request_log if r.path.endswith("/pods")]


def watches(sim, count, timeout=5.0):
    """The first `count` pod watch requests, once that many have come."""
    deadline = time.monotonic() + timeout
    while len(found := [r for r in pod_requests(sim) if r.query.get("watch")]) < count:
        assert time.monotonic() < deadline, found
        time.sleep(0.01)
    return found[:count]


# -- list, then watch -----------------------------------------------------------------------------


def test_it_lists_the_nodes_pods_then_watches_from_the_lists_resource_version(
    k3s, admin_config, running
):
    source = running(settings_for(admin_config))
    first = source.next().snapshot
    assert (first.node.name, states(first)) == ("pi-01", ["running"] * 3)
    assert first.address == k3s.address
    k3s.add_pod("default", "late", "pi-01", state="ContainerCreating")
    assert states(source.next().snapshot) == ["pending"] + ["running"] * 3
    listed, watched = pod_requests(k3s)[:2]
    assert listed.query == {"fieldSelector": "spec.nodeName=pi-01"}
    assert watched.query["watch"] == "1" and watched.query["allowWatchBookmarks"] == "true"
    assert watched.query["fieldSelector"] == "spec.nodeName=pi-01"
    assert WATCH_TIMEOUT <= int(watched.query["timeoutSeconds"]) < 2 * WATCH_TIMEOUT
    assert int(watched.query["resourceVersion"]) <= k3s.resource_version


def test_another_nodes_pods_are_not_asked_for_nor_shown(k3s, admin_config, running):
    source = running(settings_for(admin_config))
    source.next()
    k3s.add_pod("default", "elsewhere", "pi-02", state="CrashLoopBackOff")
    k3s.add_pod("default", "here", "pi-01", state="CrashLoopBackOff")
    assert states(source.next().snapshot) == ["failed"] + ["running"] * 3


def test_a_watch_the_server_ends_resumes_from_the_last_resource_version_without_a_list(
    k3s, admin_config, running
):
    source = running(settings_for(admin_config))
    source.next()
    k3s.add_pod("default", "late", "pi-01")
    source.next()
    version = str(k3s.resource_version)
    k3s.close_watches()  # an apiserver restart, or the watch's timeoutSeconds
    k3s.set_pod_state("default", "late", "Error")
    source.until(lambda s: "failed" in states(s))
    lists = [r for r in pod_requests(k3s) if "watch" not in r.query]
    resumed = [r for r in pod_requests(k3s) if r.query.get("watch")][-1]
    assert len(lists) == 1
    assert int(resumed.query["resourceVersion"]) >= int(version) - 1


def test_bookmarks_move_the_resource_version_the_next_watch_resumes_from(
    k3s, admin_config, running
):
    source = running(settings_for(admin_config))
    source.next()
    watches(k3s, 1)
    for i in range(3):  # writes elsewhere: this watch sees none, but bookmarks carry them
        k3s.add_pod("kube-system", f"other-{i}", "pi-02")
    time.sleep(0.6)  # bookmark_interval 0.2 s
    k3s.close_watches()
    first, second = watches(k3s, 2)
    assert int(second.query["resourceVersion"]) > int(first.query["resourceVersion"])


@pytest.mark.parametrize("too_old", ["event", "http"])
def test_a_too_old_resource_version_lists_again_as_410_event_or_status(tmp_path, running, too_old):
    with SimKubernetes(too_old=too_old) as sim:
        sim.add_node("pi-01")
        sim.add_pod("default", "web", "pi-01")
        path = kubeconfig(tmp_path / "kubeconfig", sim.url, token_user(sim.admin_token))
        source = running(settings_for(path))
        source.next()
        sim.add_pod("default", "gone-by", "pi-01", state="Error")
        source.next()
        sim.add_node("pi-02")
        sim.add_pod("default", "elsewhere", "pi-02")  # the pods watch does not see these
        sim.compact()  # etcd compaction: the watch's resourceVersion is history now
        sim.close_watches()
        sim.delete_pod("default", "gone-by", graceful=False)
        assert states(source.until(lambda s: len(s.node.workloads) == 1)) == ["running"]
        lists = [r for r in sim.request_log if r.path.endswith("/pods") and "watch" not in r.query]
        assert len(lists) == 2
        assert source.events.empty() or not any(
            isinstance(e, Problem) for e in list(source.events.queue)
        )


def test_an_outage_is_a_problem_and_the_first_answer_after_it_is_a_fresh_list(
    k3s, admin_config, running
):
    source = running(settings_for(admin_config))
    source.next()
    k3s.set_outage(True)
    problem = source.next(Problem)
    assert isinstance(problem.error, Unreachable) and problem.retry_in > 0
    k3s.add_pod("default", "meanwhile", "pi-01", state="ContainerCreating")
    k3s.set_outage(False)
    # Within the backoff (backoff_max 1 s): a fresh list, not a watch that would wait.
    back = source.until(lambda s: len(s.node.workloads) == 4, timeout=3)
    assert states(back) == ["pending"] + ["running"] * 3


def test_stop_ends_an_open_watch_at_once(k3s, admin_config):
    source = Running(settings_for(admin_config, **{"kubernetes.watch_timeout": 3000.0}))
    source.next()
    started = time.monotonic()
    source.stop()
    assert time.monotonic() - started < 2


# -- the node ----------------------------------------------------------------------------------


def test_an_unknown_node_is_a_problem_until_it_registers(k3s, admin_config, running):
    source = running(settings_for(admin_config, node="pi-09"))
    problem = source.next(Problem)
    assert isinstance(problem.error, NodeUnknown) and "'pi-09'" in str(problem.error)
    k3s.add_node("pi-09")
    assert source.next(Update, timeout=5).snapshot.node.name == "pi-09"


def test_pods_of_a_node_that_stopped_reporting_are_lost(k3s, admin_config, running):
    source = running(settings_for(admin_config))
    source.next()
    k3s.set_node("pi-01", ready=None)  # the kubelet stopped posting status: Ready Unknown
    lost = source.until(lambda s: s.node.state == "down")
    assert states(lost) == ["lost"] * 3


def test_resource_modes_read_the_nodes_allocatable(k3s, admin_config, running):
    k3s.add_pod("default", "hungry", "pi-01", requests={"cpu": "1", "memory": "1Gi"})
    source = running(settings_for(admin_config, mode="cpu"))
    node = source.until(lambda s: len(s.node.workloads) == 4).node
    assert node.capacity["cpu"] == 4.0
    assert sum(w.holds.get("cpu", 0) for w in node.workloads) >= 1.0


def test_one_namespace_lists_and_watches_only_there(k3s, admin_config, running):
    k3s.add_pod("blinkt", "mine", "pi-01", state="CrashLoopBackOff")
    source = running(settings_for(admin_config, **{"kubernetes.namespace": "blinkt"}))
    assert states(source.next().snapshot) == ["failed"]
    assert all(
        r.path in ("/api/v1/namespaces/blinkt/pods", "/api/v1/nodes") for r in k3s.request_log
    )


# -- the cluster view ---------------------------------------------------------------------------


def test_the_cluster_view_watches_every_node_and_every_scheduled_pod(k3s, admin_config, running):
    k3s.add_pod("default", "unscheduled", None, state="Pending")
    source = running(settings_for(admin_config, mode="nodes"))
    snapshot = source.next().snapshot
    assert sorted((n.name, len(n.workloads)) for n in snapshot.nodes) == [
        ("pi-01", 3),
        ("pi-02", 1),
    ]
    k3s.set_node("pi-02", unschedulable=True)
    cordoned = source.until(lambda s: any(n.state == "cordoned" for n in s.nodes))
    assert [n.name for n in cordoned.nodes if n.state == "cordoned"] == ["pi-02"]
    listed = next(r for r in pod_requests(k3s) if "watch" not in r.query)
    assert listed.query == {"fieldSelector": "spec.nodeName!="}


# -- credentials --------------------------------------------------------------------------------


def test_a_wrong_token_is_401_naming_where_the_credentials_came_from(k3s, tmp_path):
    path = kubeconfig(tmp_path / "kubeconfig", k3s.url, token_user("not-a-token"))
    events: list[Update | Problem] = []
    source_of(settings_for(path), events.append).check()
    (problem,) = events
    assert isinstance(problem, Problem)
    assert isinstance(problem.error, AccessDenied)
    assert "401 Unauthorized" in str(problem.error) and str(path) in str(problem.error)
    assert "not-a-token" not in str(problem.error)


def test_a_token_without_rbac_is_403_quoting_the_server_and_naming_the_rules(k3s, tmp_path):
    k3s.load_rbac(ACCOUNT_ONLY)
    token = k3s.service_account_token("blinkt-agent", "blinkt-agent")
    path = kubeconfig(tmp_path / "kubeconfig", k3s.url, token_user(token))
    events: list[Update | Problem] = []
    source_of(settings_for(path), events.append).check()
    (problem,) = events
    assert isinstance(problem, Problem)
    message = str(problem.error)
    assert isinstance(problem.error, AccessDenied) and "403" in message
    assert 'cannot list resource \\"pods\\"' in message or 'cannot list resource "pods"' in message
    assert message.endswith(RBAC_HINT) and token not in message


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_a_k3s_kubeconfig_with_an_inline_client_certificate_over_tls(tmp_path, running):
    pki = make_pki(tmp_path)
    tls = TLSFiles(pki / "server.pem", pki / "server.key", pki / "client-ca.pem")
    with SimKubernetes(tls=tls) as sim:
        sim.load_rbac(VIEWER)
        sim.add_node("pi-01")
        sim.add_pod("default", "web", "pi-01")
        data = {
            n: base64.b64encode((pki / n).read_bytes()).decode() for n in ("agent.pem", "agent.key")
        }
        user = (
            f"    client-certificate-data: {data['agent.pem']}\n"
            f"    client-key-data: {data['agent.key']}\n"
        )
        path = kubeconfig(tmp_path / "kubeconfig", sim.url, user)
        source = running(settings_for(path))
        assert states(source.next().snapshot) == ["running"]
        assert sim.url.startswith("https://")


ACCOUNT_ONLY = """
apiVersion: v1
kind: Namespace
metadata: {name: blinkt-agent}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: blinkt-agent, namespace: blinkt-agent}
"""

VIEWER = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: viewer}
rules:
- {apiGroups: [""], resources: [pods, nodes], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: viewer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: viewer}
subjects:
- {kind: User, name: blinkt-agent}
"""


# -- the simulator's pods, through the agent's reading ------------------------------------------

# What the agent makes of each state the simulated kubelet writes (normalise.py's table).
EXPECTED = {
    "Pending": "pending",
    "ContainerCreating": "pending",
    "Init:0/1": "pending",
    "Init:CrashLoopBackOff": "failed",
    "PodInitializing": "pending",
    "Running": "running",
    "RunningNotReady": "pending",
    "CrashLoopBackOff": "failed",
    "Error": "failed",
    "OOMKilled": "failed",
    "ImagePullBackOff": "failed",
    "ErrImagePull": "failed",
    "Completed": None,
    "Evicted": "failed",
    "Terminating": "stopping",
    "Unknown": "lost",
}


NEEDS_INIT = ("Init:0/1", "Init:CrashLoopBackOff", "PodInitializing")


@pytest.mark.parametrize("state", STATES)
def test_every_catalogue_state_is_read_as_kubectl_prints_it(state):
    with SimKubernetes() as sim:
        sim.add_node("pi-01")
        node = None if state == "Pending" else "pi-01"
        sim.add_pod("default", "p", node, state=state, init=state in NEEDS_INIT)
        pod = sim.pod("default", "p")
    assert pod is not None
    assert pod_state(pod) == EXPECTED[state], print_pod(pod)


# -- names -----------------------------------------------------------------------------------------


def test_a_selector_value_is_escaped_as_fields_escape_value_does():
    from blinkt_agent.sources.kubernetes.client import selector_value

    assert selector_value("pi-01") == "pi-01"
    assert selector_value("a,b=c\\d") == "a\\,b\\=c\\\\d"


def test_the_node_defaults_to_the_host_name_in_lower_case_as_the_kubelet_registers_it(
    monkeypatch,
):
    from blinkt_agent.sources import kubernetes

    monkeypatch.setattr("socket.gethostname", lambda: "Pi-07.lan")
    assert kubernetes.node_name(config.defaults()) == "pi-07.lan"
    named = config.override(config.defaults(), {"source": "kubernetes", "node": "pi-02"})
    assert kubernetes.node_name(named) == "pi-02"


def test_a_node_name_kubernetes_could_not_have_is_refused_naming_it():
    with pytest.raises(ConfigError, match=r"node = 'pi_01,x': not a Kubernetes node name"):
        config.override(config.defaults(), {"source": "kubernetes", "node": "pi_01,x"})

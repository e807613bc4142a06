"""deploy/kubernetes/: the RBAC manifests and make-kubeconfig.sh, against the simulated k3s.

The simulator loads the very manifests a user applies and evaluates RBAC as kube-apiserver
does; a token of the service account they create must let the real agent (its source, and
`blinkt-agent once` as a process) show its node, and nothing more. make-kubeconfig.sh runs
as a user runs it, with a fake `kubectl` on PATH that answers from the simulator's state
(the token the token controller would have put in the Secret, the admin's kubeconfig) and
refuses any call it does not expect.
"""

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from blinkt_agent import config, hostnames
from blinkt_agent.agent import source_of
from blinkt_agent.errors import AccessDenied
from blinkt_agent.sim.kubernetes import SimKubernetes, TLSFiles
from blinkt_agent.snapshot import Problem, Update
from blinkt_agent.sources.kubernetes.client import RBAC_HINT, RBAC_RULES
from tests.k8s_helpers import make_ca, make_cert

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy" / "kubernetes"
RBAC = DEPLOY / "rbac.yaml"
TOKEN_SECRET = DEPLOY / "token-secret.yaml"
SCRIPT = DEPLOY / "make-kubeconfig.sh"
NAMESPACE = ACCOUNT = "blinkt-agent"
NODE = "pi-01"


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def only(docs: list[dict], kind: str) -> dict:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"{kind}: {len(found)} of them"
    return found[0]


# -- the manifests -----------------------------------------------------------------------------


def test_the_cluster_role_grants_exactly_what_the_agent_says_it_does():
    """RBAC_RULES is said with every 403: it must be what the ClusterRole grants."""
    role = only(documents(RBAC), "ClusterRole")
    said = []
    for rule in role["rules"]:
        assert rule["apiGroups"] == [""], rule  # the core group, no other
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule  # no names, no URLs
        assert "*" not in rule["verbs"] + rule["resources"], rule
        said += [f"{resource}: {', '.join(rule['verbs'])}" for resource in rule["resources"]]
    assert "; ".join(said) == RBAC_RULES
    assert "deploy/kubernetes/rbac.yaml" in RBAC_HINT


def test_the_manifests_bind_that_role_to_the_service_account_alone():
    docs = documents(RBAC)
    assert sorted(doc["kind"] for doc in docs) == [
        "ClusterRole", "ClusterRoleBinding", "Namespace", "ServiceAccount",
    ]  # fmt: skip
    assert only(docs, "Namespace")["metadata"]["name"] == NAMESPACE
    account = only(docs, "ServiceAccount")
    assert account["metadata"] == {"name": ACCOUNT, "namespace": NAMESPACE}
    assert account["automountServiceAccountToken"] is False
    binding = only(docs, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": only(docs, "ClusterRole")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}
    ]
    (secret,) = documents(TOKEN_SECRET)
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["namespace"] == NAMESPACE
    assert secret["metadata"]["annotations"] == {"kubernetes.io/service-account.name": ACCOUNT}


# -- the simulated k3s with the manifests applied ---------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("k3s-pki")
    make_ca(d, "server-ca")
    make_cert(d, "server", "/CN=k3s", "server-ca", "IP:127.0.0.1")
    return d


def k3s(pki: Path, manifest: str) -> SimKubernetes:
    """A simulated k3s (start it with `with`) with `manifest` applied: pi-01 runs 3 pods of
    a Deployment, pi-02 one that crashes (which an agent for pi-01 must not show)."""
    sim = SimKubernetes(tls=TLSFiles(pki / "server.pem", pki / "server.key"))
    sim.load_rbac(manifest)
    sim.add_node(NODE)
    sim.add_node("pi-02")
    sim.scale("default", "web", 3, NODE)
    sim.add_pod("kube-system", "svclb-traefik-x7k2p", "pi-02", "CrashLoopBackOff")
    return sim


@pytest.fixture
def sim(pki):
    with k3s(pki, RBAC.read_text() + "---\n" + TOKEN_SECRET.read_text()) as sim:
        yield sim


def test_the_simulator_takes_the_account_the_role_and_the_binding(pki):
    with SimKubernetes() as sim:
        loaded = sim.load_rbac(RBAC.read_text() + "---\n" + TOKEN_SECRET.read_text())
    assert loaded == [
        f"{kind}/blinkt-agent" for kind in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")
    ]


def test_the_token_reads_pods_and_nodes_and_nothing_else(sim, pki):
    headers = {"Authorization": f"Bearer {sim.service_account_token(NAMESPACE, ACCOUNT)}"}

    def status(path: str, **params: str) -> int:
        verify = pki / "server-ca.pem"
        with requests.get(
            sim.url + path, params, headers=headers, verify=verify, timeout=5, stream=True
        ) as response:
            return response.status_code

    for path in ("/api/v1/pods", "/api/v1/nodes", f"/api/v1/nodes/{NODE}"):
        assert status(path) == 200, path
        assert status(path, watch="1", timeoutSeconds="1") == 200 or path.endswith(NODE)
    for path in ("/api/v1/secrets", f"/api/v1/namespaces/{NAMESPACE}/secrets", "/api/v1/events"):
        assert status(path) == 403, path


# -- make-kubeconfig.sh with a fake kubectl -----------------------------------------------------

FAKE_KUBECTL = """\
#!{python}
# A kubectl that answers the calls make-kubeconfig.sh makes, from a JSON world file, and
# logs each call; any other call fails, as a real kubectl would fail on a typo.
import json, os, sys
world = json.load(open(os.environ["FAKE_KUBECTL_WORLD"]))
args = sys.argv[1:]
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
context, namespace = world["current-context"], "default"
while args and args[0] in ("--context", "--namespace"):
    if args[0] == "--context":
        context = args[1]
    else:
        namespace = args[1]
    args = args[2:]
cluster = world["contexts"].get(context)
if cluster is None:
    sys.exit(f'error: context "{{context}}" does not exist')
view = ["config", "view", "--raw", "--minify", "--flatten", "-o"]
if args == view + ["jsonpath={{.clusters[0].cluster.server}}"]:
    print(cluster["server"], end="")
elif args == view + ["jsonpath={{.clusters[0].cluster.certificate-authority-data}}"]:
    print(cluster["ca"], end="")
elif args[:2] == ["get", "secret"] and args[3:] == ["-o", "jsonpath={{.data.token}}"]:
    secret = world["secrets"].get(f"{{namespace}}/{{args[2]}}")
    if secret is None:
        sys.exit(f'Error from server (NotFound): secrets "{{args[2]}}" not found')
    print(secret, end="")
elif args[:2] == ["create", "token"] and len(args) == 5 and args[3] == "--duration":
    token = world["tokens"].get(f"{{namespace}}/{{args[2]}}")
    if token is None:
        sys.exit(f'error: failed to create token: serviceaccounts "{{args[2]}}" not found')
    print(token)
else:
    sys.exit("fake kubectl: unexpected call: " + " ".join(sys.argv[1:]))
"""


class Kubectl:
    """The fake kubectl's world (an admin's kubeconfig and the cluster's Secrets) and log."""

    def __init__(self, directory: Path, sim: SimKubernetes, pki: Path) -> None:
        self.bin = directory / "bin"
        self.bin.mkdir()
        script = self.bin / "kubectl"
        script.write_text(FAKE_KUBECTL.format(python=sys.executable))
        script.chmod(0o755)
        self.world_file, self.log_file = directory / "world.json", directory / "kubectl.log"
        ca = base64.b64encode((pki / "server-ca.pem").read_bytes()).decode()
        secret_token = sim.service_account_token(NAMESPACE, ACCOUNT)
        self.world: dict[str, Any] = {
            "current-context": "default",
            "contexts": {"default": {"server": sim.url, "ca": ca}},
            # What the token controller writes into the Secret: the token, base64.
            "secrets": {
                f"{NAMESPACE}/blinkt-agent-token": base64.b64encode(secret_token.encode()).decode()
            },
            "tokens": {f"{NAMESPACE}/{ACCOUNT}": sim.service_account_token(NAMESPACE, ACCOUNT)},
        }
        self.tokens = {
            "secret": secret_token,
            "create": self.world["tokens"][f"{NAMESPACE}/{ACCOUNT}"],
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.world_file.write_text(json.dumps(self.world))
        env = dict(os.environ, FAKE_KUBECTL_WORLD=str(self.world_file))
        env["FAKE_KUBECTL_LOG"] = str(self.log_file)
        env["PATH"] = f"{self.bin}:/usr/bin:/bin"
        return subprocess.run(
            [str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60
        )

    def calls(self) -> list[list[str]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]


@pytest.fixture
def kubectl(tmp_path, sim, pki):
    return Kubectl(tmp_path, sim, pki)


def agent_settings(tmp_path: Path, kubeconfig: str, **extra: str) -> config.Settings:
    path = tmp_path / "agent.kubeconfig"
    path.write_text(kubeconfig)
    toml = tmp_path / "config.toml"
    lines = ['source = "kubernetes"', 'display = "json"', f'node = "{NODE}"', "[kubernetes]"]
    lines.append(f'kubeconfig = "{path}"')
    lines += [f'{key} = "{value}"' for key, value in extra.items()]
    toml.write_text("\n".join(lines) + "\n")
    return config.load(toml, environ={})


def check(settings: config.Settings) -> Update | Problem:
    """One round of the agent's source, as `blinkt-agent once` makes it."""
    events: list[Update | Problem] = []
    source = source_of(settings, events.append)
    try:
        source.check()
    finally:
        source.stop()
    (event,) = events
    return event


def pods_shown(event: Update | Problem) -> list[tuple[str, str]]:
    assert isinstance(event, Update), event
    (node,) = event.snapshot.nodes
    assert node.name == NODE
    return sorted((w.name, w.state) for w in node.workloads)


def test_the_minted_kubeconfig_lets_the_agent_show_its_node(kubectl, sim, tmp_path):
    done = kubectl.run("--server", sim.url)
    assert done.returncode == 0, done.stderr
    assert kubectl.tokens["secret"] not in done.stderr
    kubeconfig = yaml.safe_load(done.stdout)
    assert kubeconfig["users"] == [
        {"name": "blinkt-agent", "user": {"token": kubectl.tokens["secret"]}}
    ]
    assert kubeconfig["clusters"][0]["cluster"]["server"] == sim.url
    assert kubectl.calls() == [
        ["config", "view", "--raw", "--minify", "--flatten", "-o",
         "jsonpath={.clusters[0].cluster.certificate-authority-data}"],
        ["--namespace", NAMESPACE, "get", "secret", "blinkt-agent-token", "-o",
         "jsonpath={.data.token}"],
    ]  # fmt: skip

    shown = pods_shown(check(agent_settings(tmp_path, done.stdout)))
    expected = sorted(
        (f"{p['metadata']['namespace']}/{p['metadata']['name']}", "running")
        for p in sim.pods()
        if p["spec"]["nodeName"] == NODE
    )
    assert len(expected) == 3 and shown == expected


def test_once_with_the_minted_kubeconfig_prints_the_node_and_exits_0(kubectl, sim, tmp_path):
    output = tmp_path / "blinkt-agent.kubeconfig"
    done = kubectl.run("--server", sim.url, "-o", str(output))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert done.stdout == "" and kubectl.tokens["secret"] not in done.stderr
    agent_settings(tmp_path, output.read_text())  # writes config.toml beside it
    once = subprocess.run(
        [sys.executable, "-m", "blinkt_agent", "--config", str(tmp_path / "config.toml"),
         "once", "--display", "terminal"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, TERM="dumb"),
    )  # fmt: skip
    assert once.returncode == 0, once.stderr
    assert f"node {NODE}: 3 pods (3 running) via 127.0.0.1:{sim.port}" in once.stdout


def test_the_server_comes_from_the_context_unless_it_is_loopback(kubectl, sim, tmp_path):
    kubectl.world["contexts"]["lab"] = {"server": "https://k3s.example:6443", "ca": "Zm9v"}
    done = kubectl.run("--context", "lab")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["clusters"][0]["cluster"] == {
        "server": "https://k3s.example:6443",
        "certificate-authority-data": "Zm9v",
    }
    assert all(call[:2] == ["--context", "lab"] for call in kubectl.calls())

    # k3s' own kubeconfig on the server says https://127.0.0.1:6443: on a Pi, that Pi.
    done = kubectl.run()
    assert done.returncode == 1
    assert f"the kubectl context's server is {sim.url}" in done.stderr
    assert "give --server https://<the server's address>:6443" in done.stderr


def test_duration_asks_kubectl_create_token_for_a_token_that_expires(kubectl, sim, tmp_path):
    done = kubectl.run("--server", sim.url, "--duration", "8760h")
    assert done.returncode == 0, done.stderr
    assert kubectl.calls()[-1] == [
        "--namespace", NAMESPACE, "create", "token", ACCOUNT, "--duration", "8760h",
    ]  # fmt: skip
    assert kubectl.tokens["create"] in done.stdout
    assert len(pods_shown(check(agent_settings(tmp_path, done.stdout)))) == 3


def test_a_secret_not_yet_filled_in_fails_naming_it_after_the_wait(kubectl, sim):
    kubectl.world["secrets"][f"{NAMESPACE}/blinkt-agent-token"] = ""
    done = kubectl.run("--server", sim.url, "--wait", "1")
    assert done.returncode == 1 and done.stdout == ""
    assert "the Secret blinkt-agent/blinkt-agent-token has no token after 1 s" in done.stderr
    assert len(kubectl.calls()) == 2 + 1  # the CA, then the Secret twice, a second apart

    done = kubectl.run("--server", sim.url, "--secret", "gone")
    assert done.returncode == 1
    assert "cannot read the Secret blinkt-agent/gone: is token-secret.yaml applied?" in done.stderr


def test_without_kubectl_from_a_token_file_and_a_ca_file(kubectl, sim, pki, tmp_path):
    token = tmp_path / "token"
    token.write_text(sim.service_account_token(NAMESPACE, ACCOUNT) + "\n")
    done = kubectl.run(
        "--server", sim.url + "/", "--ca-file", str(pki / "server-ca.pem"),
        "--token-file", str(token),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert kubectl.calls() == []  # the fake, first on PATH, logs every call
    assert len(pods_shown(check(agent_settings(tmp_path, done.stdout)))) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "http://192.0.2.1:6443"], "--server must look like https://HOST:PORT"),
        (["--wait", "soon"], "--wait must be a number of seconds"),
        (["--bogus"], "unknown argument: --bogus"),
        (["--server"], "--server needs a value"),
    ],
)
def test_bad_arguments_are_refused_with_one_line(kubectl, args, message):
    done = kubectl.run(*args)
    assert done.returncode == 1 and done.stdout == ""
    assert message in done.stderr


# -- a role without one of its rules: the 403 names what is missing ---------------------------


@pytest.mark.parametrize("resource", ["pods", "nodes"])
def test_without_a_rule_the_agent_says_which_permission_is_missing(pki, tmp_path, resource):
    docs = documents(RBAC)
    role = only(docs, "ClusterRole")
    role["rules"] = [r for r in role["rules"] if resource not in r["resources"]]
    with k3s(pki, yaml.safe_dump_all(docs)) as sim:
        token = sim.service_account_token(NAMESPACE, ACCOUNT)
        kubeconfig = kubeconfig_text(sim.url, pki / "server-ca.pem", token)
        event = check(agent_settings(tmp_path, kubeconfig))
    assert isinstance(event, Problem) and isinstance(event.error, AccessDenied), event
    message = str(event.error)
    assert (
        f'User "system:serviceaccount:{NAMESPACE}:{ACCOUNT}" cannot list resource '
        f'"{resource}" in API group "" at the cluster scope'
    ) in message
    assert message.endswith(RBAC_HINT)
    assert token not in message


def kubeconfig_text(server: str, ca: Path, token: str) -> str:
    ca_data = base64.b64encode(ca.read_bytes()).decode()
    return yaml.safe_dump(
        {
            "clusters": [
                {
                    "name": "k3s",
                    "cluster": {"server": server, "certificate-authority-data": ca_data},
                }
            ],
            "users": [{"name": "agent", "user": {"token": token}}],
            "contexts": [{"name": "agent", "context": {"cluster": "k3s", "user": "agent"}}],
            "current-context": "agent",
        }
    )


# -- the script stays shellcheck-clean ----------------------------------------------------------


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="needs shellcheck (Debian: shellcheck)")
def test_the_deploy_and_molecule_scripts_are_shellcheck_clean():
    scripts = [*DEPLOY.glob("*.sh"), *(REPO / "molecule").glob("*.sh")]
    done = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


# -- what the role writes for every source ------------------------------------------------------


def test_a_consul_dns_name_that_does_not_resolve_does_not_matter_to_kubernetes(tmp_path):
    """The role writes [consul] whatever the source (its defaults, or a fleet's shared
    group_vars): a Kubernetes agent never asks Consul, so its name must not stop it."""
    toml = tmp_path / "config.toml"
    toml.write_text('source = "kubernetes"\n[consul]\ndns = "consul.lan:8600"\n')
    settings = config.load(toml, environ={})

    def resolve(name: str) -> list[str]:
        raise hostnames.NameUnknown("Name or service not known")

    config.check_consul_dns(settings, resolve)  # raises ConfigError today

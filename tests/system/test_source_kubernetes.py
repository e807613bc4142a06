"""The Kubernetes source in the booted container, set up the way DEPLOY.md tells a k3s user.

A simulated k3s API server (TLS, RBAC from deploy/kubernetes/) runs on the host's
loopback; its service account token goes into a kubeconfig minted by
deploy/kubernetes/make-kubeconfig.sh, which is written where the role writes it
(/etc/blinkt-agent/kubeconfig, root:blinkt-agent 0640), and the packaged config
is edited to `source = "kubernetes"`. The proofs run after test_package.py, on the
same container, and end with the package purged as they found it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from blinkt_agent.mapping import Palette
from tests.k8s_helpers import make_ca, make_cert

from .conftest import NODE, REPO, UNIT, Container, sim_process, wait_for
from .test_package import CONFIG, DEB, assert_running, dark_after, leds, lit, lit_by_main, main_pid

PALETTE = Palette.default()
KUBECONFIG = "/etc/blinkt-agent/kubeconfig"
DEPLOY = REPO / "deploy" / "kubernetes"
NAMESPACE = ACCOUNT = "blinkt-agent"  # as deploy/kubernetes/rbac.yaml names them


@dataclass
class K3s:
    url: str
    admin_token: str
    ca: Path  # the server's CA: the control API shares the API's TLS port

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        response = requests.request(
            method, f"{self.url}/_sim/{path}", json=body, timeout=5, verify=str(self.ca)
        )
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("k3s-pki")
    make_ca(d, "server-ca")
    make_cert(d, "server", "/CN=k3s", "server-ca", "IP:127.0.0.1")
    return d


@pytest.fixture(scope="module")
def k3s(pki: Path, tmp_path_factory) -> Iterator[K3s]:
    """A k3s server elsewhere in the fleet: this Pi (NODE) runs 3 pods of a Deployment,
    pi-02 one that crashes, which this Pi must not show."""
    rbac = tmp_path_factory.mktemp("rbac") / "rbac.yaml"
    rbac.write_text(
        (DEPLOY / "rbac.yaml").read_text() + "---\n" + (DEPLOY / "token-secret.yaml").read_text()
    )
    with sim_process(
        "blinkt_agent.sim.kubernetes", "--host", "127.0.0.1", "--port", "0",
        "--node", NODE, "--node", "pi-02", "--pods", "3",
        "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
        "--rbac", str(rbac), says=r"sim-kubernetes: (\S+) admin-token=(\S+) ",
    ) as match:  # fmt: skip
        sim = K3s(url=match[1], admin_token=match[2], ca=pki / "server-ca.pem")
        sim.call("POST", "pods", {"namespace": "kube-system", "name": "svclb-x7k2p",
                                  "node": "pi-02", "state": "CrashLoopBackOff"})  # fmt: skip
        yield sim


def minted_kubeconfig(k3s: K3s, pki: Path, token: str, tmp: Path) -> str:
    """The kubeconfig deploy/kubernetes/make-kubeconfig.sh writes for this token."""
    token_file = tmp / "token"
    token_file.write_text(token + "\n")
    done = subprocess.run(
        [str(DEPLOY / "make-kubeconfig.sh"), "--server", k3s.url,
         "--ca-file", str(pki / "server-ca.pem"), "--token-file", str(token_file)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def install_kubeconfig(c: Container, text: str) -> None:
    """As the role does: root:blinkt-agent 0640, written without showing it."""
    c.sh(f"install -m 0640 -o root -g blinkt-agent /dev/null {KUBECONFIG}")
    subprocess.run(
        ["podman", "exec", "-i", c.name, "sh", "-c", f"cat > {KUBECONFIG}"],
        input=text, text=True, check=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def agent_token(k3s: K3s) -> str:
    body = {"namespace": NAMESPACE, "service_account": ACCOUNT}
    return k3s.call("POST", "tokens", body)["token"]


@pytest.fixture(scope="module")
def kube_agent(container: Container, k3s: K3s, pki: Path, agent_token: str, tmp_path_factory):
    """The package installed, its config edited to the Kubernetes source, the minted
    kubeconfig in place, and the agent showing this node's 3 pods."""
    c = container
    if c.sh("dpkg-query -W -f='${db:Status-Status}' blinkt-agent", check=False) != "installed":
        c.apt(f"install {DEB}")
    install_kubeconfig(c, minted_kubeconfig(k3s, pki, agent_token, tmp_path_factory.mktemp("t")))
    c.sh(
        f'sed -i -e \'s|^#source = "nomad"|source = "kubernetes"|\' '
        f'-e \'s|^#kubeconfig = ""|kubeconfig = "{KUBECONFIG}"|\' {CONFIG}'
    )
    c.sh(f"systemctl reset-failed {UNIT}; systemctl restart {UNIT}")
    wait_for("the agent to show the node's 3 pods", lit_by_main(c, 3))
    yield c
    c.apt("purge blinkt-agent")
    assert c.sh(f"test -e {KUBECONFIG} || echo gone").strip() == "gone"


def test_kubeconfig_from_the_deploy_script_shows_this_nodes_pods(
    kube_agent: Container, k3s: K3s, figures
):
    c = kube_agent
    assert c.sh(f"stat -c '%a %U %G' {KUBECONFIG}").split() == ["640", "root", "blinkt-agent"]
    assert lit(leds(c)) == [PALETTE.running] * 3
    status = assert_running(c)["StatusText"]
    port = k3s.url.rsplit(":", 1)[1]
    assert status == f"node {NODE}: 3 pods (3 running) via 127.0.0.1:{port}", status
    figures["kubernetes: StatusText"] = status
    journal = c.sh(f"journalctl -u {UNIT} -o cat --no-pager")
    assert "Kubernetes" in journal and "svclb" not in journal


def test_leds_follow_the_pods(kube_agent: Container, k3s: K3s):
    c = kube_agent
    k3s.call("POST", "scale", {"namespace": "default", "deployment": "web", "replicas": 5,
                               "node": NODE, "state": "ContainerCreating"})  # fmt: skip
    state = wait_for("two more, pending", lambda: (s := leds(c)) and len(lit(s)) == 5 and s)
    assert sorted(lit(state)) == sorted([PALETTE.running] * 3 + [PALETTE.pending] * 2)

    pods = [p for p in k3s.call("GET", "state")["pods"] if p.get("node") == NODE]
    crashing = pods[0]
    k3s.call("POST", f"pods/{crashing['namespace']}/{crashing['name']}",
             {"state": "CrashLoopBackOff"})  # fmt: skip
    wait_for("a crashing pod in red", lambda: PALETTE.failed in lit(leds(c)))
    wait_for("the status to say so", lambda: "1 failed" in c.prop("StatusText"))

    k3s.call("DELETE", f"pods/{crashing['namespace']}/{crashing['name']}",
             {"graceful": True, "grace_period": 30})  # fmt: skip
    wait_for("it to be terminating", lambda: PALETTE.stopping in lit(leds(c)))
    k3s.call("POST", f"pods/{crashing['namespace']}/{crashing['name']}/finish")
    wait_for("it to be gone", lambda: len(lit(leds(c))) == 4 and PALETTE.stopping
             not in lit(leds(c)))  # fmt: skip


def test_a_token_without_rbac_names_what_is_missing_and_is_never_logged(
    kube_agent: Container, k3s: K3s, pki: Path, agent_token: str, tmp_path
):
    c = kube_agent
    stranger = k3s.call("POST", "tokens", {"token": "s3cr3t-stranger-token", "user": "someone"})
    install_kubeconfig(c, minted_kubeconfig(k3s, pki, stranger["token"], tmp_path))
    c.sh(f"systemctl restart {UNIT}")
    status = wait_for(
        "the status to name the missing permission",
        lambda: (s := c.prop("StatusText")) and "cannot list" in s and s,
    )
    assert 'User "someone" cannot list resource' in status, status
    assert "rbac.yaml" in status, status
    assert c.prop("ActiveState") == "active"  # keeps trying: RBAC may be applied later
    assert "s3cr3t-stranger-token" not in c.sh(f"journalctl -u {UNIT} -o cat --no-pager")

    install_kubeconfig(c, minted_kubeconfig(k3s, pki, agent_token, tmp_path))
    c.sh(f"systemctl restart {UNIT}")
    wait_for("the pods again", lit_by_main(c, 4))


def test_stop_leaves_the_leds_dark(kube_agent: Container):
    c = kube_agent
    pid = main_pid(c)
    c.sh(f"systemctl stop {UNIT}")
    wait_for("the LEDs dark after stop", dark_after(c, pid))

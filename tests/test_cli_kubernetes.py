"""`blinkt-agent once` and `run` with source = "kubernetes", as real processes: exit
codes, one-line errors, the LEDs (the RPi.GPIO double), against the simulated API server."""

import signal
import subprocess
import sys
import time

import pytest

from blinkt_agent.sim.kubernetes import SimKubernetes
from tests.test_cli import agent_env, blinkt_agent, leds
from tests.test_kubernetes_source import kubeconfig, token_user


@pytest.fixture
def k3s():
    with SimKubernetes() as sim:
        sim.add_node("pi-01")
        sim.scale("default", "web", 2, "pi-01")
        sim.add_pod("default", "broken", "pi-01", state="CrashLoopBackOff")
        yield sim


def env_for(tmp_path, k3s, token=None, **extra):
    path = kubeconfig(tmp_path / "kubeconfig", k3s.url, token_user(token or k3s.admin_token))
    return agent_env(tmp_path, KUBECONFIG=str(path), BLINKT_AGENT_SOURCE="kubernetes", **extra)


def test_once_shows_the_nodes_pods_and_exits_0(tmp_path, k3s):
    result = blinkt_agent("once", "--node", "pi-01", env=env_for(tmp_path, k3s))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"node pi-01: 3 pods (2 running, 1 failed) via {k3s.address}\n"
    assert sorted(leds(tmp_path)[1]) == [(0, 255, 0), (0, 255, 0), (255, 0, 0)]


def test_once_with_a_token_the_server_refuses_exits_77_without_the_token(tmp_path, k3s):
    result = blinkt_agent("once", "--node", "pi-01", env=env_for(tmp_path, k3s, "s3cret"))
    assert result.returncode == 77
    assert result.stderr.startswith("ERROR access denied: Kubernetes 127.0.0.1:")
    assert "401 Unauthorized" in result.stderr and result.stderr.count("\n") == 1
    assert "s3cret" not in result.stderr + result.stdout
    assert len(leds(tmp_path)[1]) == 4  # the red "denied" pattern stays shown


def test_once_when_the_api_server_is_down_exits_69(tmp_path, k3s):
    k3s.set_outage(True)
    result = blinkt_agent("once", "--node", "pi-01", env=env_for(tmp_path, k3s))
    assert result.returncode == 69
    assert result.stderr.startswith("ERROR Kubernetes unreachable: Kubernetes 127.0.0.1:")
    assert result.stderr.count("\n") == 1


def test_once_for_a_node_kubernetes_does_not_know_exits_69_naming_it(tmp_path, k3s):
    result = blinkt_agent("once", "--node", "pi-77", env=env_for(tmp_path, k3s))
    assert result.returncode == 69
    assert result.stderr.startswith("ERROR node not found: node: no Kubernetes node is named")


def test_once_on_a_machine_without_a_kubeconfig_exits_78_naming_the_setting(tmp_path):
    env = agent_env(tmp_path, BLINKT_AGENT_SOURCE="kubernetes", HOME=str(tmp_path))
    result = blinkt_agent("once", env=env)
    assert result.returncode == 78
    assert result.stderr.startswith("ERROR kubernetes.kubeconfig: not set, not running in a pod")
    assert result.stderr.count("\n") == 1


def test_a_disk_bar_is_refused_for_kubernetes_naming_the_mode(tmp_path, k3s):
    result = blinkt_agent("once", "--mode", "disk", env=env_for(tmp_path, k3s))
    assert result.returncode == 78
    assert result.stderr == (
        "ERROR mode = 'disk': not available with source = 'kubernetes' "
        "(Kubernetes offers allocations, cpu, memory, nodes)\n"
    )


def test_a_broken_kubeconfig_exits_78_with_one_line(tmp_path):
    broken = tmp_path / "kubeconfig"
    broken.write_text("apiVersion: v1\nclusters: [\n")
    env = agent_env(tmp_path, KUBECONFIG=str(broken), BLINKT_AGENT_SOURCE="kubernetes")
    result = blinkt_agent("once", env=env)
    assert result.returncode == 78 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("ERROR kubernetes.kubeconfig")


def test_run_follows_the_pods_and_leaves_the_leds_dark_on_sigterm(tmp_path, k3s):
    env = env_for(tmp_path, k3s)
    process = subprocess.Popen(
        [sys.executable, "-m", "blinkt_agent", "run", "--node", "pi-01"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: len(lit(tmp_path)) == 3)
        k3s.add_pod("default", "late", "pi-01", state="ContainerCreating")
        wait_for(lambda: (0, 0, 255) in lit(tmp_path))
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert lit(tmp_path) == []


def lit(tmp_path):
    """The lit LEDs the double decoded; [] before the first frame."""
    try:
        return leds(tmp_path)[1]
    except (FileNotFoundError, ValueError):
        return []


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)

"""The agent as a subprocess: sd_notify over a real socket, signals, exit codes, GPIO decoded."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blinkt_agent.sim import SimNomad
from blinkt_agent.sources.nomad.client import ACL_POLICY
from tests.screen import DARK_ROW, Tmux, blinkt_agent_argv, led_rows

ROOT = Path(__file__).resolve().parents[1]
GPIO_DOUBLE = ROOT / "tests" / "gpio_double"


def agent_env(tmp_path, gpio=True, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOMAD_", "BLINKT_", "KUBE"))}
    env.pop("NOTIFY_SOCKET", None)
    env["PYTHONPATH"] = os.pathsep.join([str(GPIO_DOUBLE)] * gpio + [str(ROOT)])
    env["BLINKT_GPIO_DOUBLE_STATE"] = str(tmp_path / "leds.json")
    env.update(extra)
    return env


def write_config(tmp_path, cluster, body=""):
    path = tmp_path / "config.toml"
    path.write_text(
        f'{body}\n[consul]\ndns = "{cluster.dns.address}"\nnode_name = "pi-01"\n'
        "[nomad]\nwait = 5\nbackoff_max = 1\n"
    )
    return path


def blinkt_agent(*args, env, **kw):
    return subprocess.run(
        [sys.executable, "-m", "blinkt_agent", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        **kw,
    )


def leds(tmp_path):
    state = json.loads((tmp_path / "leds.json").read_text())
    return state, [(p["r"], p["g"], p["b"]) for p in state["pixels"] if p["brightness"] > 0]


class NotifySocket:
    """A real AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def drain(self):
        try:
            while True:
                self.messages.extend(self.sock.recv(4096).decode().splitlines())
        except TimeoutError:
            pass

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.drain()
            if any(predicate(m) for m in self.messages):
                return next(m for m in self.messages if predicate(m))
        raise AssertionError(f"not seen in {timeout} s; got {self.messages[-5:]}")


@pytest.fixture
def notify(tmp_path):
    sock = NotifySocket(tmp_path / "notify")
    yield sock
    sock.sock.close()


def spawn(tmp_path, cluster, notify, body="", **env_extra):
    config = write_config(tmp_path, cluster, body)
    env = agent_env(tmp_path, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="600000", **env_extra)
    return subprocess.Popen(
        [sys.executable, "-m", "blinkt_agent", "--config", str(config), "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_run_notifies_ready_status_and_watchdog_then_sigterm_leaves_leds_dark(
    tmp_path, sim_cluster, notify
):
    sim_cluster.nomad.add_alloc(sim_cluster.local_node_id, "web", client_status="running")
    proc = spawn(tmp_path, sim_cluster, notify)
    try:
        notify.wait_for(lambda m: m == "READY=1")
        status = notify.wait_for(lambda m: m.startswith("STATUS=node pi-01: 1 allocation"))
        notify.wait_for(lambda m: m == "WATCHDOG=1")
        _, lit = leds(tmp_path)
        assert len(lit) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    state, lit = leds(tmp_path)
    assert lit == [] and state["cleaned_up"] is True
    assert status.endswith(f"via {sim_cluster.agent('pi-01').address}")  # its own client
    notify.drain()
    assert "STOPPING=1" in notify.messages


def test_decoded_leds_follow_allocation_changes(tmp_path, sim_cluster, notify):
    nomad, node = sim_cluster.nomad, sim_cluster.local_node_id
    proc = spawn(tmp_path, sim_cluster, notify)
    try:
        notify.wait_for(lambda m: m.startswith("STATUS=node pi-01: no allocations"))
        ids = [nomad.add_alloc(node, f"job{i}", client_status="running") for i in range(3)]
        notify.wait_for(lambda m: "3 allocations (3 running)" in m)
        nomad.update_alloc(ids[1], client_status="failed")
        notify.wait_for(lambda m: "1 failed" in m)
        _, lit = leds(tmp_path)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert lit[0] == lit[2] != lit[1]
    assert proc.returncode == 0


def test_sighup_rereads_the_config(tmp_path, sim_cluster, notify):
    sim_cluster.nomad.add_alloc(sim_cluster.local_node_id, "web", client_status="running")
    proc = spawn(tmp_path, sim_cluster, notify)
    try:
        notify.wait_for(lambda m: "1 allocation" in m)
        write_config(tmp_path, sim_cluster, 'mode = "memory"')
        proc.send_signal(signal.SIGHUP)
        notify.wait_for(lambda m: m == "RELOADING=1")
        notify.wait_for(lambda m: "memory" in m and m.startswith("STATUS=node"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_sighup_with_a_broken_config_keeps_running(tmp_path, sim_cluster, notify):
    proc = spawn(tmp_path, sim_cluster, notify)
    try:
        notify.wait_for(lambda m: m.startswith("STATUS=node pi-01"))
        write_config(tmp_path, sim_cluster, "brightness = 7")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert "reload refused" in stderr and "brightness" in stderr


def test_config_error_exits_78_with_one_line_naming_the_key(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('mode = "rainbow"\n')
    result = blinkt_agent("--config", str(config), "run", env=agent_env(tmp_path))
    assert result.returncode == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR mode: must be one of")


def test_bad_flag_value_exits_78(tmp_path):
    result = blinkt_agent("run", "--brightness", "2", env=agent_env(tmp_path))
    assert result.returncode == 78
    assert "brightness (from --brightness): must be between 0.0 and 1.0" in result.stderr


def test_usage_error_exits_2(tmp_path):
    assert blinkt_agent("launch", env=agent_env(tmp_path)).returncode == 2


def test_version(tmp_path):
    result = blinkt_agent("--version", env=agent_env(tmp_path))
    assert result.returncode == 0 and result.stdout.startswith("blinkt-agent 0.")


def test_once_prints_a_summary_and_lights_the_leds(tmp_path, sim_cluster):
    sim_cluster.nomad.add_alloc(sim_cluster.local_node_id, "web", client_status="pending")
    config = write_config(tmp_path, sim_cluster)
    result = blinkt_agent("--config", str(config), "once", env=agent_env(tmp_path))
    assert result.returncode == 0, result.stderr
    own = sim_cluster.agent("pi-01").address
    assert result.stdout.startswith(f"node pi-01: 1 allocation (1 pending) via {own}")
    assert len(leds(tmp_path)[1]) == 1


def test_once_exits_69_when_nomad_cannot_be_reached(tmp_path, sim_cluster):
    sim_cluster.nomad.set_outage(True)
    config = write_config(tmp_path, sim_cluster)
    result = blinkt_agent("--config", str(config), "once", env=agent_env(tmp_path))
    assert result.returncode == 69
    # One line, saying what was found (not "waiting", which is the service's STATUS).
    assert result.stderr.startswith("ERROR Nomad unreachable: Nomad 127.0.")
    assert result.stderr.endswith(": connection refused\n") and result.stderr.count("\n") == 1
    assert result.stdout == ""
    state, lit = leds(tmp_path)
    assert len(lit) == 4 and state["cleaned_up"]  # pins handed back, the amber pattern stays


def test_once_exits_69_when_consul_dns_has_no_nomad(tmp_path, sim_cluster):
    sim_cluster.dns.mode = "nxdomain"
    config = write_config(tmp_path, sim_cluster)
    result = blinkt_agent("--config", str(config), "once", env=agent_env(tmp_path))
    assert result.returncode == 69
    assert "NXDOMAIN" in result.stderr


def test_once_exits_77_on_acl_refusal_without_showing_the_token(tmp_path):
    with SimNomad(acl_tokens={"secret-token-1": {"agent:read"}}) as nomad:
        nomad.add_node("pi-01")
        env = agent_env(tmp_path, NOMAD_TOKEN="secret-token-1")
        result = blinkt_agent("--nomad-addr", nomad.url, "once", env=env)
    assert result.returncode == 77
    assert "node:read" in result.stderr
    assert "secret-token-1" not in result.stderr + result.stdout


def test_once_says_what_the_token_hides_naming_read_job_and_the_policy(tmp_path):
    weak = {"agent:read", "node:read", "namespace:default:read-job"}
    with SimNomad(acl_tokens={"weak-token-1": weak}) as nomad:
        node = nomad.add_node("pi-01", port=0)
        nomad.add_alloc(node, "db", client_status="running", namespace="team-b")
        env = agent_env(tmp_path, NOMAD_TOKEN="weak-token-1")
        result = blinkt_agent("--nomad-addr", nomad.agent_for(node).url, "once", env=env)
    assert result.returncode == 0, result.stderr
    summary = result.stdout.strip()
    assert summary.startswith("node pi-01: 1 allocation hidden: the ACL token lacks read-job")
    assert summary.endswith(f"blinkt-agent's policy: {' '.join(ACL_POLICY.split())}")
    assert "no allocations" not in summary and "weak-token-1" not in result.stdout
    assert leds(tmp_path)[1] == [(255, 255, 255)]  # one "cannot read" LED, not a dark row


def test_once_names_an_ambiguous_node(tmp_path):
    with SimNomad() as nomad:
        nomad.add_node("pi-01")
        nomad.add_node("twin")
        nomad.add_node("twin")
        result = blinkt_agent(
            "--nomad-addr", nomad.url, "--node", "twin", "once", env=agent_env(tmp_path)
        )
    assert result.returncode == 69
    assert result.stderr.startswith("ERROR node ambiguous: node: 2 live Nomad nodes are named")


def test_clear_darkens_the_leds(tmp_path, sim_cluster):
    config = write_config(tmp_path, sim_cluster)
    sim_cluster.nomad.add_alloc(sim_cluster.local_node_id, "web", client_status="running")
    assert blinkt_agent("--config", str(config), "once", env=agent_env(tmp_path)).returncode == 0
    assert leds(tmp_path)[1]
    result = blinkt_agent("--config", str(config), "clear", env=agent_env(tmp_path))
    assert result.returncode == 0
    state, lit = leds(tmp_path)
    assert lit == [] and state["cleaned_up"]


def test_clear_works_even_with_a_broken_config(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("brightness = \n")
    result = blinkt_agent("--config", str(config), "clear", env=agent_env(tmp_path))
    assert result.returncode == 0
    assert "clearing with the default settings" in result.stderr
    assert leds(tmp_path)[1] == []


def test_missing_gpio_library_exits_74_with_what_to_install(tmp_path):
    result = blinkt_agent("clear", env=agent_env(tmp_path, gpio=False))
    assert result.returncode == 74
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "python3-rpi-lgpio" in lines[0]


def test_once_json_prints_exactly_one_object_of_the_documented_shape(tmp_path, sim_cluster):
    sim_cluster.nomad.add_alloc(sim_cluster.local_node_id, "web", client_status="running")
    config = write_config(tmp_path, sim_cluster)
    result = blinkt_agent(
        "--config", str(config), "--display", "json", "once", env=agent_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1  # no dark frame after it
    assert result.stderr.startswith("node pi-01: 1 allocation (1 running) via 127.0.")
    frame = json.loads(result.stdout)
    assert list(frame) == ["pixels"] and len(frame["pixels"]) == 8
    assert all(set(p) == {"r", "g", "b", "brightness"} for p in frame["pixels"])
    assert frame["pixels"][0]["brightness"] == 0.2 and frame["pixels"][1]["brightness"] == 0.0


def test_once_terminal_prints_one_line_with_the_leds_and_the_summary(tmp_path, sim_cluster):
    sim_cluster.nomad.add_alloc(sim_cluster.local_node_id, "web", client_status="running")
    config = write_config(tmp_path, sim_cluster)
    args = ("--config", str(config), "--display", "terminal", "once")
    result = blinkt_agent(*args, env=agent_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and result.stderr == ""
    assert result.stdout.startswith("00ff00@0.20" + " off" * 7 + "  node pi-01: 1 allocation")


def test_once_on_a_terminal_leaves_one_row_and_no_dark_frame(tmp_path, sim_cluster):
    sim_cluster.nomad.add_alloc(sim_cluster.local_node_id, "web", client_status="running")
    config = write_config(tmp_path, sim_cluster)
    argv = blinkt_agent_argv("--config", str(config), "--display", "terminal", "once")
    tmux = Tmux(argv, columns=60, env=agent_env(tmp_path, NO_COLOR="1"))
    try:
        assert tmux.exit_status() == 0
        rows = tmux.rows(joined=True)
    finally:
        tmux.kill()
    assert len(rows) == 1, rows
    # The last line keeps the whole summary (nothing redraws it, so it may wrap).
    assert rows[0].startswith("G " + " ".join(["\u00b7"] * 7) + "  node pi-01: 1 allocation")
    assert "via 127.0." in rows[0]


def test_once_checks_the_display_before_asking_the_network(tmp_path):
    # A DNS server that never answers: if once asked it first, a query would arrive.
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind(("127.0.0.1", 0))
    dns.setblocking(False)
    try:
        address = f"127.0.0.1:{dns.getsockname()[1]}"
        result = blinkt_agent("--consul-dns", address, "once", env=agent_env(tmp_path, gpio=False))
        assert result.returncode == 74
        assert result.stderr.count("\n") == 1 and "RPi.GPIO not found" in result.stderr
        with pytest.raises(BlockingIOError):
            dns.recv(512)
    finally:
        dns.close()


# --- hostile input, in-process: one line on stderr and a documented exit code ---


@pytest.fixture
def main(monkeypatch, capsys, tmp_path):
    """cli.main() in this process: (exit code, stdout, stderr lines) for argv and environ."""
    from blinkt_agent import cli, config

    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")

    def run(*argv, **environ):
        for name in list(os.environ):
            if name.startswith(("NOMAD_", "BLINKT_")):
                monkeypatch.delenv(name)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err.splitlines()

    return run


@pytest.mark.parametrize("speed", ["0", "-1", "-0.0", "nan", "inf", "fast", "1e9"])
def test_demo_speed_must_be_above_zero(main, speed):
    code, out, err = main("demo", "--speed", speed)
    assert code == 2 and out == ""
    assert len(err) == 1 and "argument --speed: must be a number above 0, up to 1000" in err[0]


@pytest.mark.parametrize("duration", ["-1", "nan", "soon", "604801", "1e300", "inf"])
def test_demo_duration_must_be_seconds(main, duration):
    code, _, err = main("demo", "--duration", duration)
    assert (
        code == 2
        and len(err) == 1
        and "argument --duration: must be a number of seconds, 0 up to 604800 (a week)" in err[0]
    )


@pytest.mark.parametrize(
    "flag", ["--config=x.toml", "--nomad-addr=http://n:4646", "--consul-dns=n"]
)
def test_demo_refuses_what_would_point_it_elsewhere(main, flag):
    code, _, err = main("demo", flag)
    assert code == 2 and len(err) == 1
    assert f"demo: {flag.split('=')[0]} cannot be used: the demo runs its own" in err[0]


def test_demo_refuses_a_bad_mode_before_it_starts(main):
    code, out, err = main("demo", "--mode", "rainbow")
    assert code == 78 and out == ""
    assert err == ["ERROR mode (from --mode): must be one of allocations, cpu, memory, disk, "
                   "network, nodes, got 'rainbow'"]  # fmt: skip


def test_config_file_that_is_not_utf8_exits_78(main, tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"node = '\xe9t\xe9'\n")
    code, _, err = main("--config", str(path), "run")
    assert code == 78 and err == [f"ERROR config: {path} is not UTF-8 text (byte 9 is 0xe9)"]


@pytest.mark.parametrize(
    ("address", "problem"),
    [("http://nomad.lan:65536", "port must be 1..65535"), ("http://:4646", "has no host")],
)
def test_nomad_addr_from_the_environment_exits_78_at_load(main, address, problem):
    code, _, err = main("once", NOMAD_ADDR=address)
    assert code == 78 and len(err) == 1
    assert err[0].startswith(f"ERROR nomad.address (from NOMAD_ADDR): {problem}")


def test_nomad_addr_flag_is_named_as_typed(main):
    code, _, err = main("run", "--nomad-addr", "http://nomad.lan:99999")
    assert code == 78 and err[0].startswith("ERROR nomad.address (from --nomad-addr): port must")


def test_no_command_is_one_line_naming_the_commands(main):
    code, out, err = main()
    assert code == 2 and out == ""
    assert err == ["blinkt-agent: a command is needed: run, once, clear, demo "
                   "(see blinkt-agent --help)"]  # fmt: skip


def test_usage_errors_are_one_line_even_with_a_line_break_in_the_argument(main):
    code, _, err = main("run", "two\nlines")
    assert code == 2 and len(err) == 1 and "unrecognized arguments: two\\nlines" in err[0]


def test_help_and_version_exit_0(main):
    assert main("--help")[:2][0] == 0
    code, out, err = main("--version")
    assert code == 0 and out.startswith("blinkt-agent ") and err == []


def test_run_on_a_terminal_logs_above_one_led_row(tmp_path, sim_cluster):
    config = write_config(tmp_path, sim_cluster)
    argv = blinkt_agent_argv("--config", str(config), "--display", "terminal", "run")
    tmux = Tmux(argv, columns=60, env=agent_env(tmp_path))
    try:
        tmux.wait_for(lambda rows: "INFO node pi-01: no allocations" in "\n".join(rows))
        sim_cluster.nomad.add_alloc(sim_cluster.local_node_id, "web", client_status="running")
        rows = tmux.wait_for(lambda rows: "INFO node pi-01: 1 allocation" in "\n".join(rows))
        rows = tmux.wait_for(lambda rows: rows[-1].startswith("\u25cf \u00b7"))
        tmux.keys("C-c")
        status = tmux.exit_status()
        final = tmux.rows(joined=True)
    finally:
        tmux.kill()
    logs = [row for row in rows if row.startswith("INFO ")]
    assert len(logs) >= 3  # starting, no allocations, 1 allocation: each a line of its own
    assert led_rows(rows) == [rows[-1]]  # one LED row, below the log lines
    assert status == 0
    assert final[-2].startswith("INFO SIGINT: clearing the LEDs")
    assert final[-1] == DARK_ROW and led_rows(final) == [DARK_ROW]

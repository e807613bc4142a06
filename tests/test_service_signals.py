"""`blinkt-agent run` outside systemd sleeps, yet answers SIGHUP and SIGTERM at once.

With WATCHDOG_USEC set (as in test_cli) the loop also wakes for every ping,
and with a short nomad.wait for every answer, which would hide a signal
that cannot wake it; here nothing else wakes it for up to a minute.
"""

import signal
import subprocess
import sys
import time

from tests.test_cli import NotifySocket, agent_env, leds


def write_config(tmp_path, cluster, body=""):
    """Like test_cli's, with the default wait: the blocking query must not wake the loop."""
    path = tmp_path / "config.toml"
    path.write_text(f'{body}\n[consul]\ndns = "{cluster.dns.address}"\nnode_name = "pi-01"\n')
    return path


def test_signals_reach_the_sleeping_service_loop(tmp_path, sim_cluster):
    notify = NotifySocket(tmp_path / "notify")
    sim_cluster.nomad.add_alloc(sim_cluster.local_node_id, "web", client_status="running")
    config = write_config(tmp_path, sim_cluster)
    proc = subprocess.Popen(
        [sys.executable, "-m", "blinkt_agent", "--config", str(config), "run"],
        env=agent_env(tmp_path, NOTIFY_SOCKET=notify.path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        notify.wait_for(lambda m: m.startswith("STATUS=node pi-01: 1 allocation"))
        time.sleep(1.0)  # asleep now: no watchdog, nothing ages, the blocking query is open
        write_config(tmp_path, sim_cluster, 'mode = "memory"')
        proc.send_signal(signal.SIGHUP)
        notify.wait_for(lambda m: m.startswith("STATUS=node") and "memory" in m, timeout=5)
        time.sleep(1.0)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
        notify.sock.close()
    assert time.monotonic() - started < 5
    assert proc.returncode == 0, stderr
    assert "SIGTERM: clearing the LEDs and stopping" in stderr
    state, lit = leds(tmp_path)
    assert lit == [] and state["cleaned_up"] is True

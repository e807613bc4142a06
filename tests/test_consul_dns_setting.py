"""consul.dns: an IP address or a host name; a name that does not exist is refused (exit 78),
one that cannot be resolved *yet* (no network at boot) is accepted and retried.

No test here lets a name reach the machine's DNS: names other than "localhost" (which
/etc/hosts answers) go to a fake system resolver.
"""

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blinkt_agent import cli, config, hostnames
from blinkt_agent.errors import EXIT_CONFIG, EXIT_UNAVAILABLE, ConfigError
from blinkt_agent.sim import SimCluster

ROOT = Path(__file__).resolve().parents[1]


def settings_with(dns, **values):
    return config.override(config.defaults(), {"consul.dns": dns, **values})


class Resolver:
    """A system resolver that never asks the network; it records the names asked."""

    def __init__(self, known=None, failure=None):
        self.known, self.failure = known or {}, failure
        self.asked = []

    def __call__(self, name):
        self.asked.append(name)
        if self.failure is not None:
            raise self.failure
        if name in self.known:
            return self.known[name]
        raise hostnames.NameUnknown("Name or service not known")


@pytest.mark.parametrize("value", ["127.0.0.1:8600", "[::1]:8600", "localhost", "consul.lan:53"])
def test_well_formed_values_load(value):
    assert settings_with(value)["consul.dns"] == value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("consul lan:8600", "must be HOST:PORT"),
        ("::1", "an IPv6 address in brackets"),
        ("consul_lan:8600", "HOST must be an IP address or a host name"),
        ("-consul:8600", "HOST must be an IP address or a host name"),
        ("127.0.0.1:0", "port must be 1..65535"),
    ],
)
def test_malformed_values_are_refused_naming_the_key(value, problem):
    with pytest.raises(ConfigError, match=problem) as info:
        settings_with(value)
    assert str(info.value).startswith("consul.dns") and "\n" not in str(info.value)


def test_a_name_that_does_not_exist_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        config.check_consul_dns(settings_with("nonsense"), Resolver())
    text = str(info.value)
    assert text.startswith("consul.dns: host 'nonsense' does not exist")
    assert "\n" not in text and info.value.exit_code == EXIT_CONFIG


def test_a_name_not_resolvable_yet_passes_with_a_warning(caplog):
    resolve = Resolver(failure=hostnames.NameNotYet("Temporary failure in name resolution"))
    with caplog.at_level(logging.WARNING):
        config.check_consul_dns(settings_with("consul.lan:8600"), resolve)
    assert "cannot resolve 'consul.lan' yet" in caplog.text
    assert resolve.asked == ["consul.lan"]


def test_a_resolvable_name_passes_quietly(caplog):
    config.check_consul_dns(settings_with("consul.lan"), Resolver({"consul.lan": ["10.0.0.5"]}))
    assert caplog.text == ""


def test_an_ip_address_asks_no_resolver():
    resolve = Resolver()
    config.check_consul_dns(settings_with("127.0.0.1:8600"), resolve)
    assert resolve.asked == []


def test_no_check_without_discovery():
    resolve = Resolver()
    settings = settings_with("nonsense", **{"nomad.address": "http://127.0.0.1:4646"})
    config.check_consul_dns(settings, resolve)
    assert resolve.asked == []


def test_system_resolver_sorts_errors_into_unknown_and_not_yet(monkeypatch):
    def getaddrinfo(name, *args, **kw):
        code = {"nope": socket.EAI_NONAME, "later": socket.EAI_AGAIN}[name]
        raise socket.gaierror(code, "resolver says no")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(hostnames.NameUnknown):
        hostnames.resolve("nope")
    with pytest.raises(hostnames.NameNotYet):
        hostnames.resolve("later")


def test_system_resolver_gives_up_after_its_timeout(monkeypatch):
    def getaddrinfo(*args, **kw):
        time.sleep(5)  # far beyond the timeout; then answers (after the test) like the real one
        return []

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(hostnames.NameNotYet, match=r"within 0\.2 s"):
        hostnames.resolve("slow.lan", timeout=0.2)


def test_system_resolver_answers_localhost_from_etc_hosts():
    assert "127.0.0.1" in hostnames.resolve("localhost")


@pytest.fixture
def no_config(tmp_path, monkeypatch):
    monkeypatch.setenv("BLINKT_AGENT_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "config.toml").write_text("")


def test_once_with_a_nonexistent_consul_dns_host_exits_78_with_one_line(
    monkeypatch, caplog, no_config
):
    monkeypatch.setattr(hostnames, "resolve", Resolver())
    code = cli.main(["once", "--display", "json", "--consul-dns", "nonsense"])
    assert code == EXIT_CONFIG
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.getMessage().startswith("consul.dns: host 'nonsense' does not exist")
    assert "\n" not in error.getMessage() and error.exc_info is None


def test_once_with_a_host_not_resolvable_yet_exits_69_naming_it(monkeypatch, caplog, no_config):
    monkeypatch.setattr(hostnames, "resolve", Resolver(failure=hostnames.NameNotYet("no network")))
    code = cli.main(["once", "--display", "json", "--consul-dns", "consul.lan"])
    assert code == EXIT_UNAVAILABLE
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "cannot resolve 'consul.lan' yet" in error.getMessage()


def test_clear_never_asks_the_resolver(monkeypatch, no_config):
    resolve = Resolver()
    monkeypatch.setattr(hostnames, "resolve", resolve)
    assert cli.main(["clear", "--display", "json", "--consul-dns", "nonsense"]) == 0
    assert resolve.asked == []


@pytest.mark.slow
def test_consul_dns_localhost_works_end_to_end(tmp_path):
    """`consul.dns = "localhost:PORT"` used to kill the Nomad thread with a traceback."""
    with SimCluster(nodes=("pi-01", "pi-02")) as cluster:
        config_file = tmp_path / "config.toml"
        config_file.write_text(
            f'display = "json"\n[consul]\ndns = "localhost:{cluster.dns.port}"\n'
            'node_name = "pi-01"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOMAD_", "BLINKT_"))}
        env["PYTHONPATH"] = str(ROOT)
        result = subprocess.run(
            [sys.executable, "-m", "blinkt_agent", "--config", str(config_file), "once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "node pi-01" in result.stderr  # beside the one JSON object on stdout
    assert json.loads(result.stdout)["pixels"]

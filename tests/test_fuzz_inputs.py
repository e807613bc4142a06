"""Hypothesis against what comes from outside: DNS answers and Nomad's JSON over real sockets,
the command line, the config file and the environment."""

import contextlib
import ipaddress
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from blinkt_agent import config, hostnames
from blinkt_agent.errors import ConfigError, SourceError, Unreachable
from blinkt_agent.sim import SimConsulDNS
from blinkt_agent.snapshot import Problem
from blinkt_agent.sources.nomad.client import NomadClient
from blinkt_agent.sources.nomad.discovery import DiscoveryError, Owner, SrvQuery, lookup

ROOT = Path(__file__).resolve().parents[1]

node_names = st.from_regex(r"[a-z][a-z0-9-]{0,14}", fullmatch=True).filter(lambda n: n != "ghost")
ipv4s = st.integers(0x01000001, 0xDFFFFFFE).map(lambda n: str(ipaddress.IPv4Address(n)))
ipv6s = st.integers(1, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
instances = st.lists(
    st.tuples(
        node_names,
        ipv4s | ipv6s,
        st.integers(1, 65535),  # port
        st.integers(0, 65535),  # weight (Weights.Passing)
        st.booleans(),  # registered with its address (as Nomad does) or without
    ),
    max_size=6,
    unique_by=(lambda t: t[0], lambda t: t[1]),
)

# (TCP, Consul 1.19.0's service-name targets): without TCP the agent asks over UDP + EDNS0.
VARIANTS = [(True, False), (False, False), (True, True), (False, True)]


@pytest.fixture(scope="module")
def servers():
    sims = {v: SimConsulDNS(tcp=v[0], service_name_targets=v[1]) for v in VARIANTS}
    for sim in sims.values():
        sim.start()
    yield sims
    for sim in sims.values():
        sim.stop()


def _url(ip: str, port: int) -> str:
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{port}"


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    registered=instances,
    variant=st.sampled_from(VARIANTS),
    omit_additional=st.booleans(),
    pick=st.integers(0, 6),
)
def test_any_consul_answer_gives_exactly_the_registered_instances_and_ours(
    servers, registered, variant, omit_additional, pick
):
    sim = servers[variant]
    # 1.19.0 targets share one name: without ADDITIONAL the ports cannot be told apart
    sim.omit_additional = omit_additional and not variant[1]
    own = registered[pick][0] if pick < len(registered) else "ghost"
    for node, ip, port, weight, with_address in registered:
        sim.register("nomad-client", node, ip, port, weight=weight, with_address=with_address)
    query = SrvQuery(sim.host, sim.port, timeout=1.0)
    try:
        if not registered:
            with pytest.raises(DiscoveryError):
                lookup(query, own)
            return
        found = {(e.url, e.owner, e.node, e.priority, e.weight) for e in lookup(query, own)}
    finally:
        for node, *_ in registered:
            sim.deregister("nomad-client", node)
    expected = set()
    for node, ip, port, weight, with_address in registered:
        if not with_address:  # a .node. target names the node
            owner = Owner.OWN if node == own else Owner.OTHER
            name = node
        elif own == "ghost":
            owner, name = Owner.UNKNOWN, None
        else:
            owner = Owner.OWN if node == own else Owner.OTHER
            name = node if node == own else None
        expected.add((_url(ip, port), owner, name, 1, weight))
    assert found == expected


# Arbitrary answers, whatever a broken or hostile server sends: records of any type in any
# section, targets inside and outside the domain, any rcode, TC. Discovery must give
# endpoints with literal IP addresses, or one DiscoveryError; nothing else.
labels = st.sampled_from(["pi-01", "pi-02", "b"]) | st.from_regex(
    r"[a-z0-9-]{1,10}", fullmatch=True
)
names = st.one_of(
    labels.map(lambda n: f"{n}.node.dc1.consul."),
    st.from_regex(r"[0-9a-f]{8}|[0-9a-f]{32}|[0-9a-z]{1,34}", fullmatch=True).map(
        lambda h: f"{h}.addr.dc1.consul."
    ),
    st.just("nomad-client.service.dc1.consul."),
    st.tuples(labels, labels).map(lambda t: f"{t[0]}.{t[1]}."),  # outside the domain
)
records = st.one_of(
    st.tuples(st.just("SRV"), names, st.tuples(st.integers(0, 65535), st.integers(0, 65535),
                                                 st.integers(0, 65535))),
    st.tuples(st.just("A"), names, ipv4s),
    st.tuples(st.just("AAAA"), names, ipv6s),
    st.tuples(st.just("CNAME"), names, names),
    st.tuples(st.just("TXT"), names, st.text(alphabet="abc= ", max_size=10)),
)  # fmt: skip
srv_records = st.tuples(st.just("SRV"), names, st.tuples(*[st.integers(0, 65535)] * 3))
answers = st.fixed_dictionaries(
    {
        "rcode": st.sampled_from([dns.rcode.NOERROR] * 8 + [dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL,
                                                             dns.rcode.REFUSED]),
        "tc": st.sampled_from([False] * 4 + [True]),
        "answer": st.lists(srv_records | records, max_size=8),
        "additional": st.lists(records, max_size=8),
    }
)  # fmt: skip


def _rrset(kind, name, data):
    if kind == "SRV":
        data = f"{data[0]} {data[1]} {data[2]} {name}"
        name = "http.nomad-client.service.consul."
    elif kind in ("CNAME",):
        data = data
    elif kind == "TXT":
        data = '"' + data + '"'
    return dns.rrset.from_text(name, 0, "IN", kind, data)


class Scripted(SimConsulDNS):
    """Answers every question with the script the test set last."""

    script: dict = {"rcode": 0, "tc": False, "answer": [], "additional": []}

    def respond(self, query, transport="udp"):
        response = dns.message.make_response(query)
        response.set_rcode(self.script["rcode"])
        if self.script["tc"]:
            response.flags |= dns.flags.TC
        response.answer = [_rrset(*r) for r in self.script["answer"]]
        response.additional = [_rrset(*r) for r in self.script["additional"]]
        return response


@pytest.fixture(scope="module")
def scripted():
    with Scripted(tcp=True) as tcp_server, Scripted(tcp=False) as udp_server:
        yield tcp_server, udp_server


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=answers, over_tcp=st.booleans(), external=st.one_of(st.none(), ipv4s))
def test_any_answer_gives_endpoints_or_one_discovery_error(scripted, script, over_tcp, external):
    server = scripted[0 if over_tcp else 1]
    server.script = script

    def resolve(name):
        if hostnames.is_ip(name):
            return [name]
        if external is None:
            raise hostnames.NameUnknown("unknown")
        return [external]

    query = SrvQuery(server.host, server.port, timeout=1.0)
    try:
        endpoints = lookup(query, "pi-01", resolve_host=resolve)
    except DiscoveryError as err:
        assert "\n" not in str(err)
        event(str(err).partition(": ")[2][:40])
        return
    event("endpoints")
    srv_ports = {r[2][2] for r in script["answer"] if r[0] == "SRV"}
    for endpoint in endpoints:
        host, _, port = endpoint.url.removeprefix("http://").rpartition(":")
        ipaddress.ip_address(host.strip("[]"))
        assert int(port) in srv_ports


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


class Canned(BaseHTTPRequestHandler):
    """Answers every GET with the body and index the test set last."""

    body = b"null"
    index = "1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Nomad-Index", self.index)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def canned():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield NomadClient(f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=json_values, index=st.text(max_size=6) | st.integers().map(str))
def test_any_json_from_nomad_is_parsed_or_refused_with_a_nomad_error(canned, body, index):
    Canned.body = json.dumps(body).encode()
    Canned.index = index if index.isprintable() and index.isascii() else "0"
    for call in (
        canned.local_node_id,
        lambda: canned.node_id_by_name("pi-01"),
        lambda: canned.node("n1"),
        lambda: canned.node_allocations("n1", 0, 1),
    ):
        try:
            call()
        except SourceError as err:
            assert "\n" not in str(err)


# --- the command line, the config file and the environment -----------------------------
# Whatever comes in, the outcome is a documented exit code and, unless it is 0, exactly
# one line on stderr: never a traceback. main() runs in-process for speed, with the parts
# that would wait (the service loop, Nomad) stubbed; a few cases run as real processes.

DOCUMENTED_EXIT_CODES = {0, 2, 69, 74, 77, 78}
# `clear` falls back to the default settings when the config is broken, and says so.
CLEAR_FALLBACK = "; clearing with the default settings"

# Text an OS can hold: no NUL, no lone surrogate (os.environ cannot take "\udd00"; the
# surrogates Python makes of undecodable bytes come from os_strings).
no_nul_text = st.text(st.characters(codec="utf-8", blacklist_characters="\x00"), max_size=12)
# What a POSIX environment or argv can hold: any bytes but NUL, decoded as Python does.
os_strings = st.binary(max_size=12).filter(lambda b: b"\0" not in b).map(os.fsdecode)
interesting = st.sampled_from(
    ["", "0", "-1", "1.5", "nan", "inf", "1e999", "terminal", "json", "blinkt", "cpu",
     "allocations", "http://x:99999", "http://[::1]:4646", "127.0.0.1:0", "/", ".", "-", "--"]
)  # fmt: skip
option_names = st.sampled_from(
    ["--config", "--display", "--mode", "--node", "--nomad-addr", "--consul-dns",
     "--brightness", "--speed", "--duration", "-v", "--version", "--help"]
)  # fmt: skip
commands = st.sampled_from(["run", "once", "clear", "demo"])
values = interesting | st.floats().map(str) | no_nul_text | os_strings
options = st.one_of(
    st.tuples(option_names, values).map(list),
    st.tuples(option_names, values).map(lambda pair: ["=".join(pair)]),
)
# Mostly command lines a person might type (options around a command), some pure noise.
command_lines = st.one_of(
    st.tuples(st.lists(options, max_size=2), commands, st.lists(options, max_size=3)).map(
        lambda parts: (
            [arg for option in parts[0] for arg in option]
            + [parts[1]]
            + [arg for option in parts[2] for arg in option]
        )
    ),
    st.lists(option_names | commands | values, max_size=6),
)
environments = st.dictionaries(
    st.sampled_from([*config.ENVIRONMENT, "BLINKT_AGENT_CONFIG"]),
    st.sampled_from(["", "0", "1", "-1", "true", "nan", "1e999", "http://:1", "x:70000"])
    | no_nul_text
    | os_strings,
    max_size=4,
)


class _Stopped:
    """Stands in for the service loop: returns at once, as after a SIGTERM."""

    @staticmethod
    def run(self):
        return 0


class _Unreachable:
    """Stands in for the watcher of `once`: Nomad refused the connection."""

    def __init__(self, emit):
        self._emit = emit

    def check(self):
        self._emit(Problem(Unreachable("Nomad 127.0.0.1:4646: connection refused"), 0.0))


def _no_such_name(name):
    raise hostnames.NameUnknown(f"{name!r}: Name or service not known")


@pytest.fixture
def in_process(monkeypatch, tmp_path):
    from blinkt_agent import agent, cli, demo

    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    monkeypatch.setattr(hostnames, "resolve", _no_such_name)  # no resolver, no network
    monkeypatch.setattr(agent.Agent, "run", _Stopped.run)
    monkeypatch.setattr(cli, "source_of", lambda settings, emit: _Unreachable(emit))
    # No signal handlers or wakeup fd in the test process.
    monkeypatch.setattr(cli, "signals_for", lambda agent: contextlib.nullcontext())
    monkeypatch.setattr(demo, "signals_for", lambda agent: contextlib.nullcontext())
    for name in list(os.environ):
        if name.startswith(("NOMAD_", "BLINKT_")) or name == "NO_COLOR":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # a relative --config lands here
    return cli.main


def check_outcome(code, err: str, argv) -> None:
    assert code in DOCUMENTED_EXIT_CODES, (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code != 0:
        lines = [line for line in err.splitlines() if not line.endswith(CLEAR_FALLBACK)]
        assert len(lines) == 1, (argv, err)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(argv=command_lines, environ=environments)
@example(argv=["demo", "--speed", "0"], environ={})  # the cases issue 8 names
@example(argv=["demo", "--speed=-1"], environ={})
@example(argv=["once"], environ={"NOMAD_ADDR": "http://nomad:99999"})
@example(argv=["run"], environ={"NOMAD_ADDR": "http://:4646"})
@example(argv=["--config", "/dev/zero", "run"], environ={})
def test_any_command_line_and_environment_gives_a_documented_exit(
    in_process, capsys, argv, environ
):
    with mock.patch.dict(os.environ, environ):
        code = in_process(argv)
    _, err = capsys.readouterr()
    event(f"exit {code}")  # --hypothesis-show-statistics shows how the cases spread
    check_outcome(code, err, argv)


toml_keys = st.sampled_from([k.dotted for k in config.SCHEMA]) | st.from_regex(
    r"[a-z_]{1,8}(\.[a-z_]{1,8})?", fullmatch=True
)
toml_values = st.recursive(
    st.integers(-(2**70), 2**70)
    | st.floats()
    | st.booleans()
    | st.text(max_size=12)
    | st.datetimes()
    | st.dates(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), inner, max_size=3)
    ),
    max_leaves=6,
)


def toml_literal(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    if isinstance(value, int | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_literal(v)}" for k, v in value.items()) + "}"
    return value.isoformat()  # dates and datetimes are TOML literals


@settings(max_examples=300, deadline=None)
@given(
    document=st.dictionaries(toml_keys, toml_values, max_size=5) | st.binary(max_size=80),
    environ=environments,
)
def test_any_config_file_and_environment_load_or_fail_with_one_line(
    tmp_path_factory, document, environ
):
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    if isinstance(document, bytes):
        path.write_bytes(document)
    else:
        body = "".join(
            f"{'.'.join(json.dumps(part) for part in key.split('.'))} = {toml_literal(value)}\n"
            for key, value in document.items()
        )
        path.write_text(body)
    try:
        settings_ = config.load(path, environ=environ)
        settings_.token()
    except ConfigError as err:
        assert str(err) and "\n" not in str(err)


@pytest.mark.parametrize(
    ("argv", "environ", "code", "says"),
    [
        ([b"--config", b"bad.toml", b"run"], {}, 78, b"is not UTF-8 text"),
        ([b"--config", b"/dev/zero", b"run"], {}, 78, b"is larger than 1048576 bytes"),
        ([b"demo", b"--speed", b"0"], {}, 2, b"argument --speed: must be a number above 0"),
        ([b"once"], {b"NOMAD_ADDR": b"http://nomad:65536"}, 78, b"port must be 1..65535"),
        ([b"once"], {b"NOMAD_ADDR": b"http://:4646"}, 78, b"has no host"),
        ([b"--node", b"\xff\xfe", b"--mode", b"\xff", b"once"], {}, 78, b"mode (from --mode)"),
        ([b"run"], {b"BLINKT_AGENT_BRIGHTNESS": b"\xff"}, 78, b"BLINKT_AGENT_BRIGHTNESS"),
        ([b"r\xffn"], {}, 2, b"invalid choice"),
    ],
)
def test_hostile_input_to_the_real_process_is_one_line(tmp_path, argv, environ, code, says):
    (tmp_path / "bad.toml").write_bytes(b'mode = "\xff"\n')
    env = {k: v for k, v in os.environb.items() if not k.startswith((b"NOMAD_", b"BLINKT_"))}
    env[b"PYTHONPATH"] = os.fsencode(ROOT)
    env.update(environ)
    result = subprocess.run(
        [sys.executable.encode(), b"-m", b"blinkt_agent", *argv],
        env=env, cwd=tmp_path, capture_output=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == code, result.stderr
    assert result.stderr.count(b"\n") == 1 and says in result.stderr, result.stderr
    assert b"Traceback" not in result.stderr

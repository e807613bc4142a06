"""Settings: defaults, then the TOML file, then the environment, then flags.

Every setting is declared once in SCHEMA (section, key, type, default,
check); the loader and its error messages read it, and tests check the
docs and the packaged config (tests/test_docs.py) and the Ansible role
(tests/test_role_schema.py) against it, so a key cannot be half-added.
Errors name the key and exit 78.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import socket
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blinkt_agent import hostnames
from blinkt_agent.displays import DISPLAY_NAMES, HARDWARE_NAMES
from blinkt_agent.errors import ConfigError
from blinkt_agent.mapping import PALETTE_KEYS as PALETTE_KEYS
from blinkt_agent.sources import SOURCE_NAMES, SOURCES

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("/etc/blinkt-agent/config.toml")

MODES = ("allocations", "cpu", "memory", "disk", "network", "nodes")
DISCOVERY = ("auto", "consul", "static")
LOG_LEVELS = ("debug", "info", "warning", "error")
# Nomad blocks a query at most this long (structs.MaxBlockingRPCQueryTime): the bound of
# nomad.wait (the client caps at it too; tests/test_nomad_client.py holds them equal).
NOMAD_MAX_WAIT = 300.0

_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Choice:
    """A check: the value is one of `options` (the role's argument_specs repeat them)."""

    options: tuple[str, ...] | tuple[int, ...]

    def __call__(self, value: Any) -> str | None:
        if value in self.options:
            return None
        return "must be one of " + ", ".join(str(option) for option in self.options)


@dataclass(frozen=True)
class Range:
    """A check: lo <= value <= hi (the role's tasks/validate.yml repeats the bounds)."""

    lo: float
    hi: float
    message: str = ""

    def __call__(self, value: Any) -> str | None:
        if self.lo <= value <= self.hi:
            return None
        return self.message or f"must be between {self.lo} and {self.hi}"


def _choice(options: tuple[str, ...]) -> Choice:
    return Choice(tuple(options))


def _range(lo: float, hi: float) -> Range:
    return Range(lo, hi)


def _dns_server(value: str) -> str | None:
    """HOST:PORT where HOST is an IP address or a well-formed host name (resolved later)."""
    try:
        host, _ = parse_host_port(value)
    except ValueError as err:
        return str(err)
    if not hostnames.is_ip(host) and not _HOST_NAME.match(host):
        return "HOST must be an IP address or a host name"
    return None


# RFC 1123 labels, at most 253 characters; a trailing dot is allowed.
_HOST_NAME = re.compile(
    r"^(?=.{1,253}\.?$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$"
)


def _url(value: str) -> str | None:
    if not value:
        return None
    try:
        parse_url(value)
    except ValueError as err:
        return str(err)
    return None


def _token(value: str) -> str | None:
    # Sent as an HTTP header: anything else fails on every request, far from its cause.
    if value and not re.fullmatch(r"[!-~]+", value):
        return "the token must be printable ASCII without spaces"
    return None


_pin = Range(0, 27, "must be a BCM GPIO number 0..27")
# A Kubernetes object name: an RFC 1123 subdomain (apimachinery validation.IsDNS1123Subdomain).
_NODE_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)


@dataclass(frozen=True)
class Key:
    section: str  # "" = top level
    name: str
    type: type
    default: Any
    check: Callable[[Any], str | None] | None = None
    help: str = ""

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}" if self.section else self.name


_MAIN = (
    Key("", "source", str, "nomad", _choice(SOURCE_NAMES), " | ".join(SOURCE_NAMES)),
    Key("", "display", str, "blinkt", _choice(DISPLAY_NAMES), " | ".join(DISPLAY_NAMES)),
    Key("", "mode", str, "allocations", _choice(MODES), " | ".join(MODES)),
    Key(
        "", "brightness", float, 0.2, _range(0.0, 1.0), "0.0..1.0 (APA102 5-bit global brightness)"
    ),
    Key("", "node", str, "", None, 'node name to show; "" = this host\'s own node'),
    Key("", "log_level", str, "info", _choice(LOG_LEVELS), "debug | info | warning | error"),
    Key(
        "",
        "linger",
        float,
        300.0,
        _range(0, 86400),
        "seconds a failed/lost allocation (or pod) stays shown",
    ),
    Key(
        "",
        "stale_after",
        float,
        60.0,
        _range(0, 86400),
        "seconds the last data stays shown once the cluster's API is unreachable",
    ),
    Key(
        "nomad",
        "discovery",
        str,
        "auto",
        _choice(DISCOVERY),
        "auto (static if address is set, else consul) | consul (address = fallback) | static",
    ),
    Key("nomad", "address", str, "", _url, 'static Nomad address, e.g. "http://127.0.0.1:4646"'),
    Key("nomad", "token", str, "", _token, "ACL token (never logged)"),
    Key("nomad", "token_file", str, "", None, "file holding the ACL token"),
    Key("nomad", "ca_cert", str, "", None, "CA bundle to verify Nomad's TLS certificate"),
    Key("nomad", "client_cert", str, "", None, "client certificate for mutual TLS"),
    Key("nomad", "client_key", str, "", None, "client key for mutual TLS"),
    Key("nomad", "tls_server_name", str, "", None, "server name to verify instead of the host"),
    Key("nomad", "skip_verify", bool, False, None, "do not verify TLS certificates (unsafe)"),
    Key(
        "nomad",
        "wait",
        float,
        NOMAD_MAX_WAIT,
        _range(1, int(NOMAD_MAX_WAIT)),
        "blocking query wait in seconds (Nomad blocks at most 300)",
    ),
    Key(
        "nomad", "backoff_max", float, 60.0, _range(1, 3600), "cap of the retry backoff in seconds"
    ),
    Key(
        "consul",
        "dns",
        str,
        "127.0.0.1:8600",
        _dns_server,
        "HOST:PORT of Consul's DNS interface (asked over TCP); HOST may be a name",
    ),
    Key("consul", "service", str, "nomad-client", None, "Consul service Nomad clients register"),
    Key("consul", "tag", str, "http", None, "service tag of the HTTP API"),
    Key("consul", "domain", str, "consul", None, "Consul DNS domain"),
    Key("consul", "datacenter", str, "", None, '"" = the Consul agent\'s own datacenter'),
    Key("consul", "node_name", str, "", None, 'this host\'s Consul node name; "" = hostname'),
    Key(
        "consul",
        "scheme",
        str,
        "http",
        _choice(("http", "https")),
        "scheme for discovered addresses",
    ),
    Key(
        "kubernetes",
        "kubeconfig",
        str,
        "",
        None,
        'kubeconfig file; "" = the in-cluster service account, else ~/.kube/config',
    ),
    Key("kubernetes", "context", str, "", None, 'kubeconfig context; "" = its current-context'),
    Key("kubernetes", "namespace", str, "", None, 'only pods of this namespace; "" = all'),
    Key(
        "kubernetes",
        "watch_timeout",
        float,
        300.0,
        _range(10, 3600),
        "seconds a watch asks to last (timeoutSeconds, randomised up to twice as client-go does)",
    ),
    Key(
        "kubernetes",
        "backoff_max",
        float,
        60.0,
        _range(1, 3600),
        "cap of the retry backoff in seconds",
    ),
    Key("blinkt", "data_pin", int, 23, _pin, "BCM pin of the APA102 data line"),
    Key("blinkt", "clock_pin", int, 24, _pin, "BCM pin of the APA102 clock line"),
    # The Low Voltage Labs Pi-Traffic sits on BCM 9, 10, 11 (header pins 21, 19, 23).
    Key("traffic", "red_pin", int, 9, _pin, "BCM pin of the red light"),
    Key("traffic", "amber_pin", int, 10, _pin, "BCM pin of the amber light"),
    Key("traffic", "green_pin", int, 11, _pin, "BCM pin of the green light"),
    Key("blinkstick", "serial", str, "", None, 'serial number (BS…); "" = the first one found'),
    Key(
        "unicornhathd",
        "rotation",
        int,
        0,
        Choice((0, 90, 180, 270)),
        "degrees clockwise the picture is turned: 0 | 90 | 180 | 270",
    ),
    Key(
        "unicornhatmini",
        "rotation",
        int,
        0,
        Choice((0, 180)),
        "degrees the picture is turned: 0 | 180 (the buttons left or right)",
    ),
    *(
        Key(
            preview,
            "looks_like",
            str,
            "blinkt",
            _choice(HARDWARE_NAMES),
            f"the display whose shape the {preview} display draws: " + " | ".join(HARDWARE_NAMES),
        )
        for preview in ("terminal", "json")
    ),
)
_PALETTE_HELP = {
    "overflow": "colour of the overflow LED",
    "cordoned": "colour of a cordoned or draining node (mode nodes)",
}
_PALETTE = tuple(
    Key(
        "palette",
        state,
        str,
        None,
        lambda v: None if _HEX_COLOUR.match(v) else 'must be a colour like "#00ff00"',
        _PALETTE_HELP.get(state, f"colour of {state} workloads"),
    )
    for state in PALETTE_KEYS
)
SCHEMA: tuple[Key, ...] = (*_MAIN, *_PALETTE)

_BY_DOTTED = {key.dotted: key for key in SCHEMA}
SECRET_KEYS = frozenset({"nomad.token"})

# Environment variables, as the Nomad CLI reads them, plus our own.
ENVIRONMENT = {
    "NOMAD_ADDR": "nomad.address",
    "NOMAD_TOKEN": "nomad.token",
    "NOMAD_CACERT": "nomad.ca_cert",
    "NOMAD_CLIENT_CERT": "nomad.client_cert",
    "NOMAD_CLIENT_KEY": "nomad.client_key",
    "NOMAD_TLS_SERVER_NAME": "nomad.tls_server_name",
    "NOMAD_SKIP_VERIFY": "nomad.skip_verify",
    "KUBECONFIG": "kubernetes.kubeconfig",
    "BLINKT_AGENT_SOURCE": "source",
    "BLINKT_AGENT_DISPLAY": "display",
    "BLINKT_AGENT_MODE": "mode",
    "BLINKT_AGENT_NODE": "node",
    "BLINKT_AGENT_BRIGHTNESS": "brightness",
    "BLINKT_AGENT_CONSUL_DNS": "consul.dns",
    "BLINKT_AGENT_TRAFFIC_RED_PIN": "traffic.red_pin",
    "BLINKT_AGENT_TRAFFIC_AMBER_PIN": "traffic.amber_pin",
    "BLINKT_AGENT_TRAFFIC_GREEN_PIN": "traffic.green_pin",
    "BLINKT_AGENT_BLINKSTICK_SERIAL": "blinkstick.serial",
}


# Flags that set a key (cli.py builds its options from this), named in errors as typed.
FLAGS = {
    "--source": "source",
    "--display": "display",
    "--mode": "mode",
    "--node": "node",
    "--nomad-addr": "nomad.address",
    "--consul-dns": "consul.dns",
    "--brightness": "brightness",
}
_FLAG_OF = {dotted: flag for flag, dotted in FLAGS.items()}

# Far above any real config; keeps `--config /dev/zero` from eating the memory.
MAX_CONFIG_BYTES = 1 << 20

_URL_FORM = "must look like http://HOST:PORT or https://HOST:PORT"


def parse_url(value: str) -> tuple[str, str, int | None]:
    """'http://HOST:PORT', 'https://[v6]:PORT' or 'HOST:PORT' → (scheme, host, port or None).

    ValueError, saying what is wrong, for anything requests would choke on later.
    """
    if re.search(r"\s", value):
        raise ValueError(_URL_FORM)
    try:
        parts = urllib.parse.urlsplit(value if "://" in value else f"http://{value}")
        host = parts.hostname or ""
    except ValueError:  # an unclosed or junk [IPv6] literal
        raise ValueError(_URL_FORM) from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"scheme must be http or https, not {parts.scheme!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(_URL_FORM)
    if not host:
        raise ValueError(f"has no host; {_URL_FORM}")
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host.split("%")[0])
        except ValueError:
            raise ValueError(f"[{host}] is not an IPv6 address") from None
    elif not _HOST_NAME.match(host):
        raise ValueError(f"host {host!r} is not a host name or address")
    after_host = parts.netloc.rpartition("]")[2]  # the port of [v6]:PORT
    if ":" in after_host:
        port_text = after_host.rpartition(":")[2]
        if not port_text.isascii() or not port_text.isdigit():
            raise ValueError(f"port must be a number 1..65535, not {port_text!r}")
        if not 1 <= int(port_text) <= 65535:
            raise ValueError("port must be 1..65535")
        return parts.scheme, host, int(port_text)
    return parts.scheme, host, None


def parse_host_port(value: str, default_port: int = 8600) -> tuple[str, int]:
    """'HOST:PORT', 'HOST' or '[v6]:PORT' → (host, port)."""
    match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?|([^:\s]+)(?::(\d+))?", value or "")
    if not match:
        raise ValueError("must be HOST:PORT (an IPv6 address in brackets: [::1]:8600)")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4) or default_port)
    if not 1 <= port <= 65535:
        raise ValueError("port must be 1..65535")
    return host, port


@dataclass(frozen=True)
class Settings:
    """Validated settings, keyed like the config file ('nomad.address')."""

    values: dict[str, Any]
    origin: str = "defaults"  # where the values were read: a file path, or "defaults"
    secrets: frozenset[str] = field(default=SECRET_KEYS)

    def __getitem__(self, dotted: str) -> Any:
        return self.values[dotted]

    @property
    def palette(self) -> dict[str, str]:
        return {k: self.values[f"palette.{k}"] for k in PALETTE_KEYS if self.values[f"palette.{k}"]}

    @property
    def node_name(self) -> str:
        """This host's name as Consul knows it: own-node preference in discovery."""
        name: str = self.values["consul.node_name"] or socket.gethostname().split(".")[0]
        return name

    def token(self) -> str:
        """The ACL token: `nomad.token`, else the contents of `nomad.token_file`."""
        token: str = self.values["nomad.token"]
        if token:
            return token
        path = self.values["nomad.token_file"]
        if not path:
            return ""
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, ValueError) as err:  # ValueError: not UTF-8, or a NUL in the path
            reason = err.strerror if isinstance(err, OSError) and err.strerror else "not UTF-8 text"
            raise ConfigError(f"nomad.token_file: cannot read {shown(path)}: {reason}") from None
        if problem := _token(token):
            raise ConfigError(f"nomad.token_file: {shown(path)}: {problem}")
        return token

    def static_address(self) -> str | None:
        address = self.values["nomad.address"]
        if not address:
            return None
        return address if "://" in address else f"http://{address}"

    def use_discovery(self) -> bool:
        discovery = self.values["nomad.discovery"]
        return discovery == "consul" or (discovery == "auto" and not self.values["nomad.address"])


def shown(text: object) -> str:
    """A path or value for a one-line message: as is when printable, else escaped."""
    text = str(text)
    return text if text.isprintable() else repr(text)


def _coerce(key: Key, value: Any, origin: str) -> Any:
    """Check one value's type (strings from env/flags are converted).

    Messages end with the value given, except for secrets (the token).
    """
    where = f"{key.dotted}" + (f" (from {origin})" if origin else "")
    secret = key.dotted in SECRET_KEYS

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"{where}: {problem}" + ("" if secret else f", got {value!r}"))

    if isinstance(value, str) and key.type is not str and origin:
        value = _from_string(key, value, fail)
    if key.type is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:  # TOML integers have no size limit
            raise fail("must be a number") from None
    if key.type is bool and not isinstance(value, bool):
        raise fail("expected true or false")
    if key.type is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise fail("expected an integer")
    if not isinstance(value, key.type):
        raise fail("expected " + {str: "a string", float: "a number", int: "an integer"}[key.type])
    if key.check and (problem := key.check(value)):
        raise fail(problem)
    return value


def _from_string(key: Key, text: str, fail: Callable[[str], ConfigError]) -> Any:
    try:
        if key.type is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError
        return key.type(text)
    except ValueError:
        expected = {bool: "true or false", int: "an integer", float: "a number"}[key.type]
        raise fail(f"cannot read it as {expected}") from None


def _flatten(data: dict[str, Any]) -> dict[str, Any]:
    """{'nomad': {'address': x}} → {'nomad.address': x}; reject unknown keys."""
    flat: dict[str, Any] = {}
    sections = {key.section for key in SCHEMA if key.section}
    for name, value in data.items():
        if name in sections:
            if not isinstance(value, dict):
                raise ConfigError(f"{name}: must be a [{name}] table")
            for sub, subvalue in value.items():
                dotted = f"{name}.{sub}"
                if dotted not in _BY_DOTTED:
                    raise ConfigError(f"{shown(dotted)}: unknown setting")
                flat[dotted] = subvalue
        elif name in _BY_DOTTED:
            flat[name] = value
        else:
            raise ConfigError(f"{shown(name)}: unknown setting")
    return flat


def read_file(path: Path, required: bool) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config: {shown(path)} does not exist") from None
        return {}
    except OSError as err:
        raise ConfigError(f"config: cannot read {shown(path)}: {err.strerror or err}") from None
    except ValueError as err:  # a path with a NUL byte
        raise ConfigError(f"config: cannot read {shown(path)}: {err}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config: {shown(path)} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        where = f"byte {err.start + 1} is 0x{data[err.start]:02x}"
        raise ConfigError(f"config: {shown(path)} is not UTF-8 text ({where})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config: {shown(path)} is not valid TOML: {err}") from None


def load(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: dict[str, Any] | None = None,
) -> Settings:
    """Build Settings from defaults < file < environment < flags.

    With no explicit path the default file is optional (the agent runs on
    defaults); an explicit `--config PATH` must exist.
    """
    env = os.environ if environ is None else environ
    explicit = path is not None or "BLINKT_AGENT_CONFIG" in env
    path = Path(path or env.get("BLINKT_AGENT_CONFIG") or DEFAULT_CONFIG_PATH)
    values = dict(defaults().values)
    for dotted, value in _flatten(read_file(path, required=explicit)).items():
        values[dotted] = _coerce(_BY_DOTTED[dotted], value, "")
    for var, dotted in ENVIRONMENT.items():
        if var in env:
            values[dotted] = _coerce(_BY_DOTTED[dotted], env[var], var)
    return with_flags(Settings(values=values, origin=str(path)), flags or {})


def with_flags(settings: Settings, flags: dict[str, Any]) -> Settings:
    """A copy of `settings` with the flags given (None = not given); errors name the flag."""
    merged = dict(settings.values)
    for dotted, value in flags.items():
        if value is not None:
            merged[dotted] = _coerce(_BY_DOTTED[dotted], value, _FLAG_OF.get(dotted, "a flag"))
    new = Settings(values=merged, origin=settings.origin)
    _check_together(new)
    return new


def override(settings: Settings, values: dict[str, Any], origin: str = "override") -> Settings:
    """A copy of `settings` with some keys replaced (checked like any other source)."""
    merged = dict(settings.values)
    for dotted, value in values.items():
        if dotted not in _BY_DOTTED:
            raise ConfigError(f"{dotted}: unknown setting")
        merged[dotted] = _coerce(_BY_DOTTED[dotted], value, origin)
    new = Settings(values=merged, origin=settings.origin)
    _check_together(new)
    return new


def defaults() -> Settings:
    """The built-in settings alone (for `clear` when the config file is broken)."""
    return Settings(values={key.dotted: key.default for key in SCHEMA}, origin="defaults")


def check_consul_dns(settings: Settings, resolve: hostnames.Resolve | None = None) -> None:
    """A host name in consul.dns must exist: refused (exit 78) if the system resolver says
    it does not. A name that cannot be resolved *yet* (no network at boot, a name server
    down) passes with a warning: discovery resolves it again every round and retries.
    Called for `run` and `once` (and reloads), not by load(), so that `clear` never waits
    on a resolver.
    """
    if settings["source"] != "nomad" or not settings.use_discovery():
        return  # Kubernetes is not found through Consul: its DNS setting is not used
    host, _ = parse_host_port(settings["consul.dns"])
    if hostnames.is_ip(host):
        return
    try:
        (resolve or hostnames.resolve)(host)
    except hostnames.NameUnknown as err:
        raise ConfigError(
            f"consul.dns: host {host!r} does not exist ({err}); use an IP address or a name "
            f"this host can resolve, got {settings['consul.dns']!r}"
        ) from None
    except hostnames.NameNotYet as err:
        log.warning("consul.dns: cannot resolve %r yet (%s); will keep trying", host, err)


def _check_together(settings: Settings) -> None:
    """Rules that involve more than one key."""
    if settings["nomad.discovery"] == "static" and not settings["nomad.address"]:
        raise ConfigError('nomad.address: must be set when nomad.discovery = "static"')
    if settings["blinkt.data_pin"] == settings["blinkt.clock_pin"]:
        raise ConfigError("blinkt.clock_pin: must differ from blinkt.data_pin")
    lights = ("red_pin", "amber_pin", "green_pin")
    for i, light in enumerate(lights):
        for earlier in lights[:i]:
            if settings[f"traffic.{light}"] == settings[f"traffic.{earlier}"]:
                raise ConfigError(f"traffic.{light}: must differ from traffic.{earlier}")
    cert, key = settings["nomad.client_cert"], settings["nomad.client_key"]
    if bool(cert) != bool(key):
        given, missing = ("client_cert", "client_key") if cert else ("client_key", "client_cert")
        raise ConfigError(f"nomad.{given}: needs nomad.{missing} too (mutual TLS takes both)")
    if settings["nomad.token"] and settings["nomad.token_file"]:
        raise ConfigError("nomad.token_file: set either nomad.token or nomad.token_file, not both")
    kind = SOURCES[settings["source"]]
    if kind.name == "kubernetes" and settings["node"] and not _NODE_NAME.match(settings["node"]):
        raise ConfigError(
            f"node = {settings['node']!r}: not a Kubernetes node name (lower-case letters, "
            "digits, '-' and '.', as `kubectl get nodes` lists them)"
        )
    if settings["mode"] not in kind.modes:
        raise ConfigError(
            f"mode = {settings['mode']!r}: not available with source = {kind.name!r} "
            f"({kind.label} offers {', '.join(kind.modes)})"
        )

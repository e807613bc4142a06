"""Settings: file < environment < flags; every bad value is one line naming the key."""

import re
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blinkt_agent import config
from blinkt_agent.errors import EXIT_CONFIG, ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def load(tmp_path, text="", environ=None, flags=None):
    return config.load(write(tmp_path, text), environ=environ or {}, flags=flags)


def test_config_path_from_environment_must_exist(tmp_path):
    with pytest.raises(ConfigError, match=r"none\.toml does not exist"):
        config.load(None, environ={"BLINKT_AGENT_CONFIG": str(tmp_path / "none.toml")})


def test_missing_default_file_runs_on_defaults(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    settings = config.load(None, environ={})
    assert settings["display"] == "blinkt"
    assert settings["consul.dns"] == "127.0.0.1:8600"
    assert settings.use_discovery()


def test_explicit_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.toml", environ={})


def test_file_environment_and_flags_in_that_order(tmp_path):
    settings = load(
        tmp_path,
        'mode = "cpu"\nbrightness = 0.5\n[nomad]\naddress = "http://10.0.0.1:4646"\n',
        environ={"BLINKT_AGENT_MODE": "memory", "NOMAD_ADDR": "http://127.0.0.1:4646"},
        flags={"mode": "disk", "nomad.address": None},
    )
    assert settings["mode"] == "disk"
    assert settings["brightness"] == 0.5
    assert settings["nomad.address"] == "http://127.0.0.1:4646"
    assert not settings.use_discovery()


def test_consul_discovery_keeps_static_address_as_fallback(tmp_path):
    settings = load(tmp_path, '[nomad]\ndiscovery = "consul"\naddress = "10.0.0.9:4646"\n')
    assert settings.use_discovery()
    assert settings.static_address() == "http://10.0.0.9:4646"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus = 1\n", "bogus: unknown setting"),
        ('[nomad]\nadress = "x"\n', "nomad.adress: unknown setting"),
        ("brightness = 1.5\n", "brightness: must be between 0.0 and 1.0"),
        ('brightness = "high"\n', "brightness: expected a number"),
        ('mode = "gpu"\n', "mode: must be one of"),
        ("[blinkt]\ndata_pin = 40\n", "blinkt.data_pin: must be a BCM GPIO number"),
        ("[blinkt]\ndata_pin = true\n", "blinkt.data_pin: expected an integer"),
        ('[consul]\ndns = "127.0.0.1:99999"\n', "consul.dns: port must be 1..65535"),
        ('[palette]\nrunning = "green"\n', "palette.running: must be a colour"),
        ('[nomad]\ndiscovery = "static"\n', "nomad.address: must be set"),
        ('[nomad]\nclient_key = "k.pem"\n', "nomad.client_key: needs nomad.client_cert too"),
        ("[blinkt]\ndata_pin = 24\n", "blinkt.clock_pin: must differ"),
        ("nomad = 3\n", "nomad: must be a [nomad] table"),
        ("mode = \n", "is not valid TOML"),
    ],
)
def test_bad_file_values_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load(tmp_path, text)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == EXIT_CONFIG == 78


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"brightness \(from BLINKT_AGENT_BRIGHTNESS\)"):
        load(tmp_path, environ={"BLINKT_AGENT_BRIGHTNESS": "lots"})


def test_bad_flag_value_names_the_flag(tmp_path):
    with pytest.raises(ConfigError, match=r"mode \(from --mode\)"):
        load(tmp_path, flags={"mode": "sparkle"})


def test_skip_verify_from_environment(tmp_path):
    assert load(tmp_path, environ={"NOMAD_SKIP_VERIFY": "true"})["nomad.skip_verify"] is True
    assert load(tmp_path, environ={"NOMAD_SKIP_VERIFY": "0"})["nomad.skip_verify"] is False


def test_token_from_token_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cr3t\n")
    settings = load(tmp_path, f'[nomad]\ntoken_file = "{token_file}"\n')
    assert settings.token() == "s3cr3t"


def test_unreadable_token_file_is_a_config_error_without_the_token(tmp_path):
    settings = load(tmp_path, f'[nomad]\ntoken_file = "{tmp_path / "missing"}"\n')
    with pytest.raises(ConfigError, match=r"nomad\.token_file: cannot read"):
        settings.token()


def test_node_name_defaults_to_the_short_hostname(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "pi-07.lan")
    assert load(tmp_path).node_name == "pi-07"
    assert load(tmp_path, '[consul]\nnode_name = "rack-3"\n').node_name == "rack-3"


def test_parse_host_port_forms():
    assert config.parse_host_port("10.0.0.1:53") == ("10.0.0.1", 53)
    assert config.parse_host_port("consul.lan") == ("consul.lan", 8600)
    assert config.parse_host_port("[::1]:8600") == ("::1", 8600)


toml_scalars = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=20),
)


@given(key=st.sampled_from([k.dotted for k in config.SCHEMA]), value=toml_scalars)
def test_any_value_for_any_key_loads_or_fails_with_one_line_naming_it(key, value, tmp_path_factory):
    import json

    section, _, name = key.rpartition(".")
    literal = json.dumps(value) if not isinstance(value, bool) else str(value).lower()
    body = f"[{section}]\n{name} = {literal}\n" if section else f"{name} = {literal}\n"
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_text(body)
    try:
        settings = config.load(path, environ={})
    except ConfigError as err:
        assert "\n" not in str(err)
        assert str(err).startswith((key, "config:", "blinkt.clock_pin", "nomad.address"))
    else:
        assert settings[key] == value or settings[key] == float(value)


# --- hostile input: always a ConfigError (exit 78), one line, naming what is wrong ---


def test_a_file_that_is_not_utf8_names_the_first_bad_byte(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'mode = "\xffcpu"\n')
    with pytest.raises(ConfigError, match=r"config\.toml is not UTF-8 text \(byte 9 is 0xff\)$"):
        config.load(path, environ={})


def test_a_huge_file_is_refused_before_it_is_read_whole(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"#" * (config.MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError, match="is larger than 1048576 bytes"):
        config.load(path, environ={})


@pytest.mark.parametrize("path", ["/", "bad\x00path", "two\nlines"])
def test_unreadable_paths_are_one_line(path):
    with pytest.raises(ConfigError, match=r"^config: ") as info:
        config.load(path, environ={})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("http://nomad.lan:99999", "port must be 1..65535"),
        ("http://nomad.lan:0", "port must be 1..65535"),
        ("http://nomad.lan:http", "port must be a number 1..65535, not 'http'"),
        ("http://:4646", "has no host"),
        ("http://", "has no host"),
        ("ftp://nomad.lan", "scheme must be http or https, not 'ftp'"),
        ("http://nomad.lan/v1", "must look like http://HOST:PORT"),
        ("http://user@nomad.lan", "must look like http://HOST:PORT"),
        ("http://[fe80::zz]:4646", "must look like http://HOST:PORT"),
        ("http://nomad lan:4646", "must look like http://HOST:PORT"),
        ("http://a..b:4646", "host 'a..b' is not a host name or address"),
    ],
)
def test_bad_nomad_addr_is_refused_at_load(tmp_path, address, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load(tmp_path, environ={"NOMAD_ADDR": address})
    assert str(info.value).startswith("nomad.address (from NOMAD_ADDR): ")


@pytest.mark.parametrize(
    "address", ["http://10.0.0.9:4646", "10.0.0.9:4646", "https://nomad.lan/", "[::1]:4646",
                "http://[fe80::1%eth0]:4646", "nomad-01"],
)  # fmt: skip
def test_good_nomad_addresses_load(tmp_path, address):
    assert load(tmp_path, environ={"NOMAD_ADDR": address})["nomad.address"] == address


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        ({"nomad.address": "http://x:99999"}, "nomad.address (from --nomad-addr): "),
        ({"consul.dns": "127.0.0.1:0"}, "consul.dns (from --consul-dns): "),
        ({"brightness": "x"}, "brightness (from --brightness): "),
    ],
)
def test_errors_name_the_flag_as_it_is_typed(tmp_path, flags, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        load(tmp_path, flags=flags)


def test_every_flag_sets_a_key_of_the_schema():
    assert set(config.FLAGS.values()) <= {key.dotted for key in config.SCHEMA}


def test_a_token_that_cannot_be_an_http_header_is_refused_without_showing_it(tmp_path):
    with pytest.raises(ConfigError, match=r"^nomad\.token \(from NOMAD_TOKEN\): .*ASCII") as info:
        load(tmp_path, environ={"NOMAD_TOKEN": "s3cr3t tok\u00e9n"})
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize("content", [b"\xff\xfe\n", b"two\nlines\n", b"with space\n"])
def test_a_token_file_holding_no_token_is_a_config_error(tmp_path, content):
    token_file = tmp_path / "token"
    token_file.write_bytes(content)
    settings = load(tmp_path, f'[nomad]\ntoken_file = "{token_file}"\n')
    with pytest.raises(ConfigError, match=r"^nomad\.token_file: ") as info:
        settings.token()
    assert "\n" not in str(info.value) and "lines" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"brightness = {10**400}\n", "brightness: must be a number"),
        ('"a\\nb" = 1\n', "'a\\nb': unknown setting"),
        ("linger = nan\n", "linger: must be between 0 and 86400"),
        ("mode = 1979-05-27\n", "mode: expected a string"),
        ("[[nomad]]\n", "nomad: must be a [nomad] table"),
    ],
)
def test_odd_toml_values_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load(tmp_path, text)
    assert "\n" not in str(info.value)

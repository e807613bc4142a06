"""The Ansible role says what config.SCHEMA says, in each of the places it says it.

A setting is declared once, in config.SCHEMA; the role repeats it by hand in
four files: its default (defaults/main.yml), its type and choices
(meta/argument_specs.yml), its range (tasks/validate.yml) and the key it is
written under (templates/config.toml.j2). These tests fail when one of them
drifts from the agent: a new setting without its variable, a changed default,
choice or range, or a variable written under the wrong key.
"""

import json
import re
from pathlib import Path

import jinja2
import pytest
import yaml

from blinkt_agent import config
from blinkt_agent.sources import SOURCES

ROLE = Path(__file__).resolve().parents[1] / "roles" / "blinkt_agent"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
ROLE_VARS = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
SPECS = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
OPTIONS = SPECS["argument_specs"]["main"]["options"]
VALIDATE = yaml.safe_load((ROLE / "tasks" / "validate.yml").read_text())

# The role's own variables: how to install and check the package, not agent settings.
ROLE_ONLY = {
    "blinkt_agent_state",
    "blinkt_agent_package_source",
    "blinkt_agent_deb_path",
    "blinkt_agent_package_name",
    "blinkt_agent_package_version",
    "blinkt_agent_gpio_packages",
    "blinkt_agent_display_packages",  # tests/test_role_displays.py
    "blinkt_agent_spi_enable",
    "blinkt_agent_apt_cache_valid_time",
    "blinkt_agent_watchdog_sec",
    "blinkt_agent_health_retries",
    "blinkt_agent_health_delay",
}
SPEC_TYPES = {str: "str", float: "float", int: "int", bool: "bool"}
# Secrets the role writes to a file of their own: variable → (the setting that names the
# file, the role's fixed path of it). Their content never enters config.toml.
WRITTEN = {
    "blinkt_agent_nomad_token": ("nomad.token_file", "_blinkt_agent_token_file"),
    "blinkt_agent_kubernetes_kubeconfig": (
        "kubernetes.kubeconfig",
        "_blinkt_agent_kubeconfig_file",
    ),
}


def variable_of(key: config.Key) -> str | None:
    """The role variable of a setting: `nomad.wait` → blinkt_agent_nomad_wait.

    The [blinkt] pins drop their section (blinkt_agent_data_pin), the palette is
    one dict, and the settings that name a file the role writes (nomad.token_file,
    kubernetes.kubeconfig) have none: the role sets them (WRITTEN).
    """
    if key.section == "palette":
        return "blinkt_agent_palette"
    if key.dotted in {setting for setting, _ in WRITTEN.values()}:
        return None
    if key.section in ("", "blinkt"):
        return f"blinkt_agent_{key.name}"
    return f"blinkt_agent_{key.section}_{key.name}"


SETTINGS = [key for key in config.SCHEMA if key.section != "palette" and variable_of(key)]


def _ids(keys):
    return [key.dotted for key in keys]


def _same(a, b) -> bool:
    """Equal, with YAML's 300 standing for the schema's 300.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return a == b


@pytest.mark.parametrize("key", SETTINGS, ids=_ids(SETTINGS))
def test_every_setting_has_a_role_default_equal_to_the_agents(key):
    variable = variable_of(key)
    assert variable in DEFAULTS, f"{key.dotted}: no {variable} in defaults/main.yml"
    assert _same(DEFAULTS[variable], key.default), f"{variable}: {DEFAULTS[variable]!r}"


@pytest.mark.parametrize("key", SETTINGS, ids=_ids(SETTINGS))
def test_argument_specs_have_the_settings_type_default_and_choices(key):
    spec = OPTIONS[variable_of(key)]
    assert spec["type"] == SPEC_TYPES[key.type]
    assert _same(spec["default"], key.default)
    choices = key.check.options if isinstance(key.check, config.Choice) else None
    assert spec.get("choices") == (list(choices) if choices else None)


def _validated_ranges() -> dict[str, tuple[float, float, str]]:
    """{variable: (lo, hi, filter)} from tasks/validate.yml's `lo <= var | float <= hi`."""
    checks = VALIDATE[0]["vars"]["_blinkt_agent_checks"]
    ranges = {}
    for check in checks:
        match = re.fullmatch(
            r"\{\{\s*([\d.]+)\s*<=\s*(blinkt_agent_\w+)\s*\|\s*(float|int)\s*<=\s*([\d.]+)\s*\}\}",
            check["ok"].strip(),
        )
        if match:
            lo, variable, kind, hi = match.groups()
            ranges[variable] = (float(lo), float(hi), kind)
    return ranges


@pytest.mark.parametrize("key", SETTINGS, ids=_ids(SETTINGS))
def test_validate_checks_the_settings_range_and_only_that(key):
    ranges = _validated_ranges()
    variable = variable_of(key)
    if isinstance(key.check, config.Range):
        assert variable in ranges, f"tasks/validate.yml does not check {variable}'s range"
        lo, hi, kind = ranges[variable]
        assert (lo, hi) == (key.check.lo, key.check.hi)
        assert kind == ("int" if key.type is int else "float")
    else:
        assert variable not in ranges


def test_validate_ranges_are_all_about_settings_or_role_variables():
    setting_variables = {variable_of(key) for key in SETTINGS}
    assert set(_validated_ranges()) <= setting_variables | ROLE_ONLY


def test_every_role_variable_is_a_setting_or_the_roles_own_and_has_its_spec():
    setting_variables = {variable_of(key) for key in config.SCHEMA} - {None}
    assert set(DEFAULTS) == setting_variables | ROLE_ONLY | set(WRITTEN)
    assert set(OPTIONS) == set(DEFAULTS)
    for variable, spec in OPTIONS.items():
        if "default" in spec:  # blinkt_agent_deb_path's default is a lookup
            assert _same(spec["default"], DEFAULTS[variable]), variable


@pytest.mark.parametrize("variable", sorted(WRITTEN))
def test_a_secret_written_to_a_file_is_a_hidden_string_empty_by_default(variable):
    assert DEFAULTS[variable] == ""
    assert OPTIONS[variable] == OPTIONS[variable] | {"type": "str", "default": "", "no_log": True}
    setting, path_var = WRITTEN[variable]
    assert ROLE_VARS[path_var].startswith("/etc/blinkt-agent/")
    assert config_key(setting).type is str and config_key(setting).default == ""


def test_the_modes_of_each_source_are_the_agents():
    """tasks/validate.yml refuses a mode the source does not offer, before any change."""
    modes = ROLE_VARS["_blinkt_agent_source_modes"]
    assert modes == {name: list(kind.modes) for name, kind in SOURCES.items()}
    assert OPTIONS["blinkt_agent_source"]["choices"] == list(SOURCES)


def test_palette_is_one_dict_with_the_agents_colour_names_and_pattern():
    assert DEFAULTS["blinkt_agent_palette"] == {}  # unset: the agent's own colours
    spec = OPTIONS["blinkt_agent_palette"]
    assert spec["type"] == "dict"
    assert list(spec["options"]) == list(config.PALETTE_KEYS)
    assert all(option["type"] == "str" for option in spec["options"].values())
    assert ROLE_VARS["_blinkt_agent_colour_re"] == config._HEX_COLOUR.pattern


# --- The template -----------------------------------------------------------------


def _to_bool(value) -> bool:
    """Ansible's `bool` filter."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "on", "1", "true", "y", "t")


def render_config(variables: dict) -> str:
    """templates/config.toml.j2 as Ansible's template module renders it (trim_blocks)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE / "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["to_json"] = json.dumps
    env.filters["bool"] = _to_bool
    context = DEFAULTS | ROLE_VARS | {"ansible_managed": "Ansible managed"} | variables
    return env.get_template("config.toml.j2").render(context)


def _load(text: str, tmp_path: Path) -> config.Settings:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return config.load(path, environ={})


def test_template_with_the_role_defaults_gives_the_agents_defaults(tmp_path):
    settings = _load(render_config({}), tmp_path)
    assert settings.values == config.defaults().values


def _other_value(index: int, key: config.Key):
    """A valid value for `key` that is not its default (distinct per key)."""
    special = {
        "nomad.address": "http://192.0.2.7:4646",
        "consul.dns": "192.0.2.8:8653",
        "blinkt.data_pin": 17,  # the two pins must differ
        "blinkt.clock_pin": 27,
        "traffic.red_pin": 5,  # the three lights must differ
        "traffic.amber_pin": 6,
        "traffic.green_pin": 13,
    }
    if key.dotted in special:
        return special[key.dotted]
    if isinstance(key.check, config.Choice):
        return next(option for option in key.check.options if option != key.default)
    if isinstance(key.check, config.Range):
        value = key.check.lo + (key.check.hi - key.check.lo) * (0.1 + 0.03 * index)
        return int(value) if key.type is int else round(value, 2)
    if key.type is bool:
        return not key.default
    return f"{key.name}-{index}"


def test_template_writes_each_variable_under_its_settings_key(tmp_path):
    """Every variable set to a non-default value comes back as that setting's value."""
    values = {
        key.dotted: _other_value(i, key)
        for i, key in enumerate(SETTINGS)
        if key.dotted != "nomad.token"
    }
    palette = {state: f"#0{i}0{i}0{i}" for i, state in enumerate(config.PALETTE_KEYS)}
    variables: dict[str | None, object] = {
        variable_of(config_key(dotted)): value for dotted, value in values.items()
    }
    secrets: dict[str | None, object] = {
        "blinkt_agent_nomad_token": "s3cret-token",
        "blinkt_agent_kubernetes_kubeconfig": "clusters: []\nusers: [{user: {token: s3cret-k}}]\n",
    }
    variables |= {"blinkt_agent_palette": palette, **secrets}
    text = render_config(variables)
    settings = _load(text, tmp_path)
    for dotted, value in values.items():
        assert _same(settings[dotted], value), f"{dotted}: {settings[dotted]!r} != {value!r}"
    assert settings.palette == palette
    # Each secret goes to its own file, which the config names; never into the config.
    assert "s3cret" not in text
    assert settings["nomad.token"] == ""
    for setting, path_var in WRITTEN.values():
        assert settings[setting] == ROLE_VARS[path_var]


@pytest.mark.parametrize("variable", sorted(WRITTEN))
def test_template_without_the_secret_names_no_file(tmp_path, variable):
    settings = _load(render_config({variable: ""}), tmp_path)
    assert settings[WRITTEN[variable][0]] == ""


def config_key(dotted: str) -> config.Key:
    return next(key for key in config.SCHEMA if key.dotted == dotted)


def test_role_readme_lists_every_variable_with_its_default():
    readme = (ROLE / "README.md").read_text()
    for variable, default in DEFAULTS.items():
        row = re.search(rf"^\| `{variable}` \| (.*?) \|", readme, re.M)
        assert row, f"roles/blinkt_agent/README.md has no row for {variable}"
        if variable in ("blinkt_agent_deb_path", "blinkt_agent_display_packages"):
            continue  # a lookup, a dict per display: described in words
        shown = row.group(1).strip("`")
        if isinstance(default, list):
            assert shown == "[" + ", ".join(default) + "]", variable
        elif isinstance(default, bool):
            assert shown == str(default).lower(), variable
        elif default in ("", {}):
            assert shown in ('""', "{}"), variable
        else:
            assert shown == str(default), variable

"""The Ansible role installs what the chosen display needs, as the agent's registry says.

displays.DISPLAYS names each display's Debian packages (the .deb Recommends them; apt's
deb= install skips Recommends) and the groups its user needs. The role repeats that by
hand: blinkt_agent_display_packages (defaults/main.yml, one list per display, its
argument_specs options) and the displays it turns SPI on for (vars/main.yml). These tests
fail when the two drift: a new display without its entry, a changed package, a display
that moved to or from SPI.
"""

import re
from pathlib import Path

import yaml
from jinja2.nativetypes import NativeEnvironment

from blinkt_agent.displays import DISPLAYS

ROLE = Path(__file__).resolve().parents[1] / "roles" / "blinkt_agent"
DEFAULTS_TEXT = (ROLE / "defaults" / "main.yml").read_text()
DEFAULTS = yaml.safe_load(DEFAULTS_TEXT)
ROLE_VARS = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
OPTIONS = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"][
    "main"
]["options"]
README = (ROLE / "README.md").read_text()


def _templated(value, variables: dict):
    """`value` as Ansible templates it (a lone "{{ expr }}" keeps its type)."""
    if isinstance(value, str) and "{{" in value:
        return NativeEnvironment().from_string(value).render(variables)
    return value


def role_packages(variables: dict | None = None) -> dict[str, list[str]]:
    """blinkt_agent_display_packages with its templates resolved against the defaults."""
    context = DEFAULTS | (variables or {})
    mapping = context["blinkt_agent_display_packages"]
    return {name: _templated(packages, context) for name, packages in mapping.items()}


def packages_of_display(display: str, variables: dict | None = None) -> list[str]:
    """vars/main.yml's _blinkt_agent_packages_of_display: what install.yml installs."""
    context = DEFAULTS | ROLE_VARS | (variables or {}) | {"blinkt_agent_display": display}
    context["blinkt_agent_display_packages"] = role_packages(variables)
    return _templated(ROLE_VARS["_blinkt_agent_packages_of_display"], context)


def first_choices(packages: tuple[str, ...]) -> list[str]:
    """The registry's dependencies, each alternative ("a | b") as its first package."""
    return [alternatives.split("|")[0].strip() for alternatives in packages]


def test_the_role_installs_each_displays_packages_as_the_registry_names_them():
    assert list(role_packages()) == list(DISPLAYS)
    for name, kind in DISPLAYS.items():
        assert role_packages()[name] == first_choices(kind.packages), name
        assert packages_of_display(name) == first_choices(kind.packages), name


def test_the_gpio_displays_take_the_gpio_library_variable():
    """Debian on a Pi has python3-rpi.gpio, not python3-rpi-lgpio: one variable for both."""
    gpio = [name for name, kind in DISPLAYS.items() if "gpio" in kind.groups]
    assert gpio == ["blinkt", "traffic"]
    other = {"blinkt_agent_gpio_packages": ["python3-rpi.gpio"]}
    for name in gpio:
        assert packages_of_display(name, other) == ["python3-rpi.gpio"]
        assert packages_of_display(name, {"blinkt_agent_gpio_packages": []}) == []
    assert packages_of_display("blinkstick", other) == ["python3-usb"]


def test_every_alternative_package_is_named_for_the_user():
    """A registry alternative the role does not install by default is in its comments."""
    for kind in DISPLAYS.values():
        for alternatives in kind.packages:
            for package in (p.strip() for p in alternatives.split("|")):
                assert package in DEFAULTS_TEXT, f"{kind.name}: {package} not in defaults/main.yml"
                assert f"`{package}`" in README, f"{kind.name}: {package} not in the README"


def test_a_display_left_out_of_a_users_dict_installs_nothing():
    assert packages_of_display("traffic", {"blinkt_agent_display_packages": {"blinkt": []}}) == []


def test_argument_specs_name_every_display_as_a_list_of_packages():
    spec = OPTIONS["blinkt_agent_display_packages"]
    assert spec["type"] == "dict"
    assert "default" not in spec  # templated: described in words, as blinkt_agent_deb_path
    assert list(spec["options"]) == list(DISPLAYS)
    for option in spec["options"].values():
        assert option["type"] == "list" and option["elements"] == "str"
    assert OPTIONS["blinkt_agent_display"]["choices"] == list(DISPLAYS)


def test_the_role_turns_spi_on_for_the_displays_whose_user_needs_group_spi():
    spi = [name for name, kind in DISPLAYS.items() if "spi" in kind.groups]
    assert spi == ["unicornhathd", "unicornhatmini"]
    assert ROLE_VARS["_blinkt_agent_spi_displays"] == spi
    assert all("python3-spidev" in role_packages()[name] for name in spi)
    assert ROLE_VARS["_blinkt_agent_boot_config"] == "/boot/firmware/config.txt"
    assert DEFAULTS["blinkt_agent_spi_enable"] is True


def test_the_readme_has_a_row_for_each_display():
    section = README[README.index("## Displays") : README.index("## What it does")]
    rows = re.findall(r"^\| (`[^|]+`) \|", section, re.M)
    named = {name.strip("` ") for row in rows for name in row.split(",")}
    assert named == set(DISPLAYS)

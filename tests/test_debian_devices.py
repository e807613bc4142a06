"""The Debian package against the display registry: what the displays need (their
Debian packages, the groups owning their devices) is what the package recommends, what
its udev rules hand out, what its postinst joins, and what its unit lets through.

Static checks of debian/; the booted-container proofs are tests/system/test_package.py.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from blinkt_agent.displays import DISPLAYS

DEBIAN = Path(__file__).resolve().parents[1] / "debian"

# What each group owns, as the unit's DeviceAllow= names it: RPi.GPIO's /dev/gpiomem and
# rpi-lgpio's /dev/gpiochip*; spidev's /dev/spidev0.0 (Unicorn HAT HD) and 0.1 (Unicorn
# HAT Mini); pyusb's /dev/bus/usb/BBB/DDD (char major "usb_device" in /proc/devices).
DEVICES = {
    "gpio": {"/dev/gpiomem", "char-gpiochip"},
    "spi": {"/dev/spidev0.0", "/dev/spidev0.1"},
    "plugdev": {"char-usb_device"},
}
# What the group's udev rule matches.
RULE_MATCHES = {
    "gpio": {"SUBSYSTEM": "gpio", "KERNEL": "gpiochip*"},
    "spi": {"SUBSYSTEM": "spidev"},
    "plugdev": {"SUBSYSTEM": "usb", "ATTR{idVendor}": "20a0", "ATTR{idProduct}": "41e5"},
}
# Groups Debian itself has (base-passwd); the others the postinst makes when missing.
DEBIAN_GROUPS = {"plugdev"}


def registry_packages() -> set[str]:
    return {package for kind in DISPLAYS.values() for package in kind.packages}


def registry_groups() -> set[str]:
    return {group for kind in DISPLAYS.values() for group in kind.groups}


def control_field(name: str) -> list[str]:
    """A relationship field of the binary package, split at its commas."""
    text = (DEBIAN / "control").read_text()
    binary = text.split("\nPackage: ", 1)[1]
    match = re.search(rf"^{name}:(.*(?:\n[ \t].*)*)", binary, re.M)
    assert match, f"debian/control has no {name}:"
    return [item.strip() for item in match[1].split(",") if item.strip()]


def udev_rules() -> list[dict[str, str]]:
    """Each rule of debian/blinkt-agent.udev as {key: value}, `==` and `=` alike."""
    rules = []
    for line in (DEBIAN / "blinkt-agent.udev").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pairs = re.findall(r'([A-Za-z]+(?:\{[^}]+\})?)\s*(?:==|\+=|:=|=)\s*"([^"]*)"', line)
            rules.append(dict(pairs))
    return rules


def unit_values(key: str) -> list[str]:
    lines = (DEBIAN / "blinkt-agent.service").read_text().splitlines()
    return [line.split("=", 1)[1] for line in lines if line.startswith(f"{key}=")]


def postinst_loop(word: str) -> list[str]:
    """The groups a `for group in …; do` loop of the postinst goes through, the loop
    found by what its body does (`addgroup`, `adduser`)."""
    text = (DEBIAN / "blinkt-agent.postinst").read_text()
    for match in re.finditer(r"for group in ([^;]+); do\n(.*?)\n\s*done", text, re.S):
        if re.search(rf"^\s*(if .*\n\s*)?{word} ", match[2], re.M):
            return shlex.split(match[1])
    raise AssertionError(f"no `for group in …` loop running {word} in the postinst")


def test_recommends_is_what_the_displays_need():
    assert set(control_field("Recommends")) == registry_packages()


def test_every_display_package_is_a_recommends_not_a_depends():
    depends = " ".join(control_field("Depends"))
    for package in registry_packages():
        for alternative in package.split("|"):
            assert alternative.strip() not in depends, package


def test_every_group_of_the_registry_has_its_devices_in_the_table():
    assert set(DEVICES) == registry_groups() == set(RULE_MATCHES)


def test_udev_rules_give_each_group_its_devices_and_no_more():
    rules = udev_rules()
    assert {rule["GROUP"] for rule in rules} == registry_groups()
    for rule in rules:
        matches = {k: v for k, v in rule.items() if k not in ("GROUP", "MODE", "TAG")}
        assert matches == RULE_MATCHES[rule["GROUP"]], rule
        assert rule["MODE"] == "0660", rule  # the group's, nobody else's


def test_postinst_puts_the_user_in_every_group_of_the_registry():
    assert set(postinst_loop("adduser")) == registry_groups()


def test_postinst_makes_only_the_groups_debian_lacks():
    assert set(postinst_loop("addgroup")) == registry_groups() - DEBIAN_GROUPS


def test_postinst_triggers_the_subsystems_of_the_rules():
    text = (DEBIAN / "blinkt-agent.postinst").read_text().replace("\\\n", " ")
    triggers = [line for line in text.splitlines() if "udevadm trigger" in line]
    subsystems = {s for line in triggers for s in re.findall(r"--subsystem-match=(\S+)", line)}
    assert subsystems == {rule["SUBSYSTEM"] for rule in udev_rules()}
    (usb,) = [line for line in triggers if "--subsystem-match=usb" in line]
    assert "--attr-match=idVendor=20a0" in usb and "--attr-match=idProduct=41e5" in usb


def test_unit_allows_exactly_the_devices_of_the_registry_groups():
    allowed = unit_values("DeviceAllow")
    assert all(entry.endswith(" rw") for entry in allowed), allowed
    devices = [entry.removesuffix(" rw") for entry in allowed]
    assert sorted(devices) == sorted(set().union(*(DEVICES[g] for g in registry_groups())))
    assert unit_values("DevicePolicy") == ["closed"]


def test_unit_lets_libusb_open_its_udev_monitor():
    # libusb_init() opens a NETLINK_KOBJECT_UEVENT socket; refused, pyusb has no backend.
    (families,) = unit_values("RestrictAddressFamilies")
    assert "AF_NETLINK" in families.split()


@pytest.mark.parametrize("name", [n for n, kind in DISPLAYS.items() if kind.hardware])
def test_every_hardware_display_needs_a_package_and_a_group(name):
    kind = DISPLAYS[name]
    assert kind.packages and kind.groups

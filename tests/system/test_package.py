"""The Debian package and its systemd unit, proven in a booted bookworm container.

The tests run in file order on one container: each step starts from the
state the previous one left, as on a real Pi (see conftest.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from blinkt_agent.mapping import Palette

from .conftest import (
    DROP_IN,
    NODE,
    REPO,
    STATE_FILE,
    TEST_WATCHDOG_SEC,
    UNIT,
    Container,
    Sim,
    deb_version,
    wait_for,
)

VERSION = deb_version()
DEB = f"/dist/blinkt-agent_{VERSION}_all.deb"
PALETTE = Palette.default()
CONFIG = "/etc/blinkt-agent/config.toml"
# The production unit waits this long before a restart: the dark window the proofs observe.
RESTART_SEC = 5


# --- reading the LEDs the GPIO double decoded ------------------------------------------------


def leds(c: Container) -> dict | None:
    text = c.sh(f"cat {STATE_FILE} 2>/dev/null", check=False)
    return json.loads(text) if text else None


def lit(state: dict | None) -> list[tuple[int, int, int]]:
    """The colours of the LEDs that are on, in LED order (none before the first frame)."""
    if state is None:
        return []
    return [
        (p["r"], p["g"], p["b"])
        for p in state["pixels"]
        if p["brightness"] > 0 and (p["r"], p["g"], p["b"]) != (0, 0, 0)
    ]


def dark_after(c: Container, pid: int):
    """A probe: the LEDs are dark, as written by a process other than `pid` (ExecStopPost)."""

    def probe():
        state = leds(c)
        return state if state and state["pid"] != pid and not lit(state) else None

    return probe


def lit_by_main(c: Container, count: int | None = None):
    """A probe: the current main process has lit the LEDs (`count` of them when given)."""

    def probe():
        main = int(c.prop("MainPID"))
        state = leds(c)
        if not (main and state and state["pid"] == main and lit(state)):
            return None
        return state if count is None or len(lit(state)) == count else None

    return probe


def main_pid(c: Container) -> int:
    pid = int(c.prop("MainPID"))
    assert pid, f"no main process\n{c.journal()}"
    return pid


def monotonic_s(c: Container, prop: str) -> float:
    """A systemd timestamp in seconds of CLOCK_MONOTONIC, which host and container share."""
    return int(c.prop(f"{prop}Monotonic")) / 1e6


def assert_running(c: Container) -> dict[str, str]:
    state = c.show("ActiveState", "SubState", "StatusText", "NRestarts", "MainPID")
    assert (state["ActiveState"], state["SubState"]) == ("active", "running"), (
        f"{state}\n{c.journal()}"
    )
    return state


@pytest.fixture
def agent(container: Container) -> Container:
    """The container with the package installed and the agent showing the 3 allocations:
    where each proof after the first starts (so that each can also run alone, -k)."""
    c = container
    if c.sh("dpkg-query -W -f='${db:Status-Status}' blinkt-agent", check=False) != "installed":
        c.apt(f"install {DEB}")
    if c.prop("ActiveState") != "active":
        c.sh(f"systemctl reset-failed {UNIT}; systemctl start {UNIT}")
    wait_for("the agent to show the 3 allocations", lit_by_main(c, 3))
    return c


# --- the proofs ------------------------------------------------------------------------------


def test_install_pulls_depends_enables_and_starts_with_status(container: Container, figures):
    c = container
    assert c.sh("dpkg-query -W -f='${db:Status-Status}' python3-requests", check=False) != (
        "installed"
    )
    c.apt(f"install {DEB}")

    for pkg in ("python3-requests", "python3-dnspython", "python3-sdnotify", "procps"):
        assert c.sh(f"dpkg-query -W -f='${{db:Status-Status}}' {pkg}") == "installed", pkg
    assert c.sh(f"systemctl is-enabled {UNIT}").strip() == "enabled"
    wait_for("the agent to report its node", lambda: NODE in c.prop("StatusText"))
    state = assert_running(c)
    assert re.search(rf"\b{NODE}\b.*\b3 allocations\b", state["StatusText"]), state["StatusText"]
    assert f'Status: "{state["StatusText"]}"' in c.sh(f"systemctl status {UNIT} --no-pager")
    # Never root: the system user, in group gpio because this system has one.
    assert c.sh("id -un blinkt-agent").strip() == "blinkt-agent"
    assert "gpio" in c.sh("id -nG blinkt-agent").split()
    assert c.sh("getent passwd blinkt-agent").strip().endswith(":/nonexistent:/usr/sbin/nologin")
    assert c.sh(f"ps -o user= -p {main_pid(c)}").strip() == "blinkt-agent"

    # Time from `systemctl start` (the start job leaves "inactive") to READY=1 ("active").
    c.sh(f"systemctl stop {UNIT} && systemctl start {UNIT}")
    ready = monotonic_s(c, "ActiveEnterTimestamp") - monotonic_s(c, "InactiveExitTimestamp")
    figures["systemctl start → READY (active)"] = f"{ready:.2f} s"
    assert ready < 10


def test_unit_as_shipped_is_sandboxed_and_configured(agent: Container, figures):
    c = agent
    # The shipped unit alone, without the test drop-in: no simulator, so the
    # agent waits for Consul (the default 127.0.0.1:8600) and says so. Started,
    # because systemd reports the watchdog a service was last started with.
    c.sh(f"systemctl stop {UNIT} && mv {DROP_IN} /root/test.conf && systemctl daemon-reload")
    try:
        c.sh(f"systemctl start {UNIT}")
        waiting = wait_for(
            "a STATUS saying why it waits",
            lambda: (text := c.prop("StatusText")).startswith("waiting for Nomad") and text,
            timeout=30,
        )
        show = c.show(
            "Type", "NotifyAccess", "WatchdogUSec", "Restart", "RestartUSec",
            "RestartPreventExitStatus", "User", "ExecStopPost", "Wants", "After", "Requires",
            "DevicePolicy", "DeviceAllow", "CapabilityBoundingSet", "ProtectSystem", "SubState",
        )  # fmt: skip
        out = c.sh(f"systemd-analyze security {UNIT} --no-pager")
        offline = c.sh(
            f"systemd-analyze security --offline=true /lib/systemd/system/{UNIT} --no-pager"
        )
    finally:
        c.sh(f"systemctl stop {UNIT} && mv /root/test.conf {DROP_IN} && systemctl daemon-reload")
        c.sh(f"systemctl start {UNIT}")

    figures["STATUS without Consul"] = waiting
    assert show["SubState"] == "running"
    assert show["Type"] == "notify" and show["NotifyAccess"] == "main"
    assert show["WatchdogUSec"] == "30s" and show["Restart"] == "on-failure"
    assert show["RestartUSec"] == f"{RESTART_SEC}s"
    assert show["RestartPreventExitStatus"].split() == ["74", "78"]
    assert show["User"] == "blinkt-agent"
    assert "path=/usr/bin/blinkt-agent ; argv[]=/usr/bin/blinkt-agent clear" in show["ExecStopPost"]
    for unit in ("network-online.target", "consul.service", "nomad.service"):
        assert unit in show["Wants"].split() and unit in show["After"].split(), unit
        assert unit not in show["Requires"].split(), unit
    assert show["DevicePolicy"] == "closed" and show["ProtectSystem"] == "strict"
    assert show["CapabilityBoundingSet"] == ""

    online = re.search(r"Overall exposure level for \S+: ([\d.]+) OK", out)
    analysed = re.search(r"Overall exposure level for \S+: ([\d.]+)", offline)
    assert online and analysed, out + offline
    score, offline_score = float(online[1]), float(analysed[1])
    figures["systemd-analyze security exposure"] = f"{score} (offline analysis: {offline_score})"
    assert score <= 2.0 and offline_score <= 2.0


def test_gpio_libraries_get_what_they_need_inside_the_sandbox(agent: Container):
    """The GPIO devices belong to root:gpio 0660: the agent reaches them through its
    group membership, which must survive PrivateUsers= and the rest of the sandbox
    (the container has no GPIO devices; a root:gpio 0640 file takes the same
    check). lgpio makes a FIFO in the working directory when it is imported."""
    c = agent
    probe = "/var/lib/blinkt-gpio-double/gpio-only"
    check = "/etc/systemd/system/blinkt-agent.service.d/zz-gpio-check.conf"
    c.sh(f"echo ok > {probe} && chown root:gpio {probe} && chmod 0640 {probe}")
    script = f"cat {probe} && mkfifo .lgd-nfy0 && rm .lgd-nfy0 && pwd"
    c.sh(
        f"printf '[Service]\\nType=oneshot\\nRestart=no\\nExecStart=\\n"
        f'ExecStart=/bin/sh -c "{script}"\\nExecStopPost=\\n\' > {check}'
        " && systemctl daemon-reload"
    )
    try:
        c.sh(f"systemctl restart {UNIT}")
        assert c.prop("Result") == "success", c.journal()
        assert "ok\n/run/blinkt-agent\n" in c.sh(f"journalctl -u {UNIT} -n 5 -o cat --no-pager")
    finally:
        c.sh(f"rm {check} {probe} && systemctl daemon-reload && systemctl restart {UNIT}")
    assert_running(c)


# --- the devices of the other displays: BlinkStick (USB), Unicorn HATs (SPI) -----------------

# What the displays' udev rules (60-blinkt-agent.rules) are for; group and mode each
# device node must get. Another USB device keeps Debian's default (root 0664).
DEVICE_GROUPS = {
    "/dev/gpiochip0": ("gpio", "660"),
    "/dev/spidev0.0": ("spi", "660"),
    "/dev/spidev0.1": ("spi", "660"),
    "/dev/bus/usb/001/002": ("plugdev", "660"),  # a BlinkStick, 20a0:41e5
    "/dev/bus/usb/001/003": ("root", "664"),  # a USB hub, not ours
}
# Run by `udevadm test` in a mount namespace of its own, where /sys, /dev and /run are
# empty tmpfs: the kernel's devices are faked there (a sysfs directory with its uevent,
# attributes and subsystem link, a device node made with mknod), so the real udev rules
# engine applies the installed rules to them and sets the nodes' group and mode, without
# any such hardware and without touching the container's own /dev. sd-device accepts a
# /sys that is not sysfs with SYSTEMD_DEVICE_VERIFY_SYSFS=0.
FAKE_DEVICES = r"""
set -eu
mount -t tmpfs fake-sysfs /sys && mount -t tmpfs fake-dev /dev && mount -t tmpfs fake-run /run
mkdir -p /run/udev /sys/bus/gpio /sys/bus/usb /sys/class/spidev
mknod -m 0666 /dev/null c 1 3
# device SUBSYSTEM DEVPATH MAJOR MINOR DEVNAME DEVTYPE [ATTRIBUTE=VALUE...]
device() {
    subsystem=$1 syspath=/sys/devices/$2 major=$3 minor=$4 devname=$5 devtype=$6
    shift 6
    mkdir -p "$syspath" "$(dirname "/dev/$devname")"
    printf 'MAJOR=%s\nMINOR=%s\nDEVNAME=%s\n' "$major" "$minor" "$devname" >"$syspath/uevent"
    [ -z "$devtype" ] || printf 'DEVTYPE=%s\n' "$devtype" >>"$syspath/uevent"
    for attribute; do printf '%s\n' "${attribute#*=}" >"$syspath/${attribute%%=*}"; done
    ln -s "$subsystem" "$syspath/subsystem"
    mknod -m 0600 "/dev/$devname" c "$major" "$minor"
    udevadm test --action=add "$syspath" >/run/udev-test.log 2>&1
    rules=$(grep -c '60-blinkt-agent.rules:[0-9]* GROUP' /run/udev-test.log || true)
    echo "/dev/$devname $(stat -c '%G %a' "/dev/$devname") $rules"
}
soc=platform/soc/fe204000.spi/spi_master/spi0
usb=platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/usb1
device /sys/bus/gpio platform/soc/fe200000.gpio/gpiochip0 254 0 gpiochip0 ""
device /sys/class/spidev $soc/spi0.0/spidev/spidev0.0 153 0 spidev0.0 ""
device /sys/class/spidev $soc/spi0.1/spidev/spidev0.1 153 1 spidev0.1 ""
device /sys/bus/usb $usb/1-1.2 189 1 bus/usb/001/002 usb_device idVendor=20a0 idProduct=41e5
device /sys/bus/usb $usb/1-1.3 189 2 bus/usb/001/003 usb_device idVendor=2109 idProduct=3431
"""


def test_udev_rules_give_the_display_devices_to_their_groups(agent: Container):
    c = agent
    c.apt("install --no-install-recommends udev")  # udevadm; the container runs no udevd
    assert "/lib/udev/rules.d/60-blinkt-agent.rules" in c.sh("dpkg -L blinkt-agent").split()
    # mount and mknod need capabilities the container's processes lack: this exec has them.
    result = subprocess.run(
        ["podman", "exec", "--privileged", "-e", "SYSTEMD_DEVICE_VERIFY_SYSFS=0", c.name,
         "unshare", "--mount", "sh", "-c", FAKE_DEVICES],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    nodes = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    assert {node: (group, mode) for node, (group, mode, _) in nodes.items()} == DEVICE_GROUPS
    # Each of ours by the package's rule (Debian has none of its own for them), not the hub.
    assert {node: int(rules) for node, (_, _, rules) in nodes.items()} == {
        node: int(group != "root") for node, (group, _) in DEVICE_GROUPS.items()
    }


def test_display_libraries_start_inside_the_sandbox_and_reach_the_groups_devices(
    agent: Container,
):
    """pyusb (BlinkStick) and spidev (Unicorn HATs), pulled in as Recommends, start under
    the unit's user and sandbox: libusb needs its udev monitor socket (AF_NETLINK). The
    devices are root:spi and root:plugdev 0660 (see the udev proof); root:spi and
    root:plugdev 0640 files take the same check of the groups surviving the sandbox."""
    c = agent
    for pkg in ("python3-usb", "python3-spidev"):
        assert c.sh(f"dpkg-query -W -f='${{db:Status-Status}}' {pkg}") == "installed", pkg
    files = "/var/lib/blinkt-gpio-double"
    probe = "/usr/local/bin/blinkt-display-probe"
    check = "/etc/systemd/system/blinkt-agent.service.d/zz-display-check.conf"
    c.sh(
        f"for g in spi plugdev; do echo $g > {files}/$g-only && chown root:$g {files}/$g-only"
        f" && chmod 0640 {files}/$g-only; done"
    )
    script = (
        f"#!/bin/sh\nset -e\ncat {files}/spi-only {files}/plugdev-only\n"
        "exec python3 -c 'import spidev, usb.core; spidev.SpiDev(); "
        'print("usb devices:", len(list(usb.core.find(find_all=True))))\'\n'
    )
    c.sh(f"cat > {probe} <<'EOF'\n{script}EOF\nchmod 0755 {probe}")
    drop_in = f"[Service]\nType=oneshot\nRestart=no\nExecStart=\nExecStart={probe}\nExecStopPost=\n"
    c.sh(f"cat > {check} <<'EOF'\n{drop_in}EOF\nsystemctl daemon-reload")
    try:
        c.sh(f"systemctl restart {UNIT}")
        journal = c.sh(f"journalctl -u {UNIT} -n 10 -o cat --no-pager")
        assert c.prop("Result") == "success", journal
        assert "spi\nplugdev\nusb devices: 0\n" in journal
    finally:
        c.sh(f"rm {check} {probe} {files}/spi-only {files}/plugdev-only")
        c.sh(f"systemctl daemon-reload && systemctl restart {UNIT}")
    assert_running(c)


def test_unit_allows_the_spi_and_usb_devices_and_scores_as_before(agent: Container, figures):
    c = agent
    show = c.sh(f"systemctl show {UNIT} -p DeviceAllow -p RestrictAddressFamilies").splitlines()
    allowed = {line.split("=", 1)[1] for line in show if line.startswith("DeviceAllow=")}
    ours = {"/dev/gpiomem rw", "char-gpiochip rw", "/dev/spidev0.0 rw", "/dev/spidev0.1 rw"}
    # char-rtc r: ProtectClock= adds it (reading the clock's device, never setting it).
    assert allowed == ours | {"char-usb_device rw", "char-rtc r"}
    assert "RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX" in show
    out = c.sh(f"systemd-analyze security {UNIT} --no-pager")
    offline = c.sh(f"systemd-analyze security --offline=true /lib/systemd/system/{UNIT} --no-pager")
    scores = [
        float(m[1]) for text in (out, offline)
        if (m := re.search(r"Overall exposure level for \S+: ([\d.]+)", text))
    ]  # fmt: skip
    assert len(scores) == 2 and max(scores) <= 2.0, out + offline
    figures["systemd-analyze security with the display devices"] = (
        f"{scores[0]} (offline analysis: {scores[1]})"
    )


def test_leds_follow_allocation_changes(agent: Container, sim: Sim):
    c = agent
    running = PALETTE.running
    state = wait_for("3 running allocations on the LEDs", lit_by_main(c, 3))
    assert lit(state) == [running] * 3

    web = sim.add_alloc("web", "pending")
    state = wait_for("a 4th, pending allocation", lit_by_main(c, 4))
    assert sorted(lit(state)) == sorted([running] * 3 + [PALETTE.pending])
    sim.update_alloc(web, client_status="running")
    wait_for("it to run", lambda: lit(leds(c)) == [running] * 4)
    sim.update_alloc(web, desired_status="stop", client_status="complete")
    wait_for("the stopped job's LED to go off", lambda: lit(leds(c)) == [running] * 3)

    db = sim.add_alloc("db", "running")
    wait_for("another one", lambda: lit(leds(c)) == [running] * 4)
    sim.update_alloc(db, client_status="failed")
    state = wait_for("it to fail", lambda: (s := leds(c)) and PALETTE.failed in lit(s) and s)
    assert sorted(lit(state)) == sorted([running] * 3 + [PALETTE.failed])
    assert "1 failed" in c.prop("StatusText")
    # Garbage-collected: Nomad's index for a node's allocations is their highest
    # ModifyIndex, so removing the newest one moves nothing (a blocking query
    # sees it only at its timeout); the node's next change, here a batch job
    # that completes, brings the list without it.
    sim.remove_alloc(db)
    sim.add_alloc("batch", "complete")
    wait_for("the failed one to be gone", lambda: lit(leds(c)) == [running] * 3)
    assert "3 allocations" in c.prop("StatusText")


def test_watchdog_kills_a_hung_agent_darkens_and_restarts(agent: Container, figures):
    c = agent
    pid = main_pid(c)
    restarts = int(c.prop("NRestarts"))
    c.sh(f"kill -STOP {pid}")  # hung: alive, but no more WATCHDOG=1
    stopped_at = time.monotonic()

    wait_for("ExecStopPost to darken the LEDs", dark_after(c, pid), timeout=TEST_WATCHDOG_SEC + 10)
    killed = monotonic_s(c, "ExecMainExitTimestamp")
    wait_for("the restart", lit_by_main(c, 3), timeout=RESTART_SEC + 15)
    assert int(c.prop("NRestarts")) == restarts + 1
    assert main_pid(c) != pid
    journal = c.sh(f"journalctl -u {UNIT} -n 50 -o cat --no-pager")
    assert f"Watchdog timeout (limit {TEST_WATCHDOG_SEC}s)!" in journal
    assert "Failed with result 'watchdog'" in journal
    back = monotonic_s(c, "ActiveEnterTimestamp")
    figures["watchdog: hang → killed"] = (
        f"{killed - stopped_at:.2f} s (WatchdogSec={TEST_WATCHDOG_SEC} in the test)"
    )
    figures["watchdog: hang → restarted and READY"] = (
        f"{back - stopped_at:.2f} s (+ RestartSec={RESTART_SEC})"
    )


def test_stop_leaves_the_leds_dark(agent: Container):
    c = agent
    pid = main_pid(c)
    c.sh(f"systemctl stop {UNIT}")
    assert c.prop("ActiveState") == "inactive"
    state = dark_after(c, pid)()
    assert state, f"LEDs after stop: {leds(c)}"
    assert state["cleaned_up"]
    c.sh(f"systemctl start {UNIT}")
    wait_for("the LEDs to light again", lit_by_main(c, 3))


@pytest.mark.parametrize("signal", ["KILL", "SEGV", "ABRT"])
def test_killed_or_crashed_agent_leaves_the_leds_dark_and_restarts(agent: Container, signal):
    c = agent
    pid = main_pid(c)
    restarts = int(c.prop("NRestarts"))
    c.sh(f"kill -{signal} {pid}")
    wait_for(f"ExecStopPost after SIG{signal}", dark_after(c, pid), timeout=10)
    wait_for("the restart", lit_by_main(c, 3), timeout=RESTART_SEC + 15)
    assert int(c.prop("NRestarts")) == restarts + 1


def test_config_error_fails_once_with_78_and_names_the_key(agent: Container):
    c = agent
    c.sh(f"cp {CONFIG} /root/config.good && sed -i '1i no_such_setting = 1' {CONFIG}")
    try:
        c.sh(f"systemctl restart {UNIT}", check=False)
        wait_for("the unit to fail", lambda: c.prop("ActiveState") == "failed")
        time.sleep(RESTART_SEC + 2)  # a restart would have happened by now
        show = c.show("ActiveState", "Result", "ExecMainStatus", "ExecMainPID", "NRestarts")
        assert show["ActiveState"] == "failed" and show["Result"] == "exit-code", show
        assert show["ExecMainStatus"] == "78"
        assert show["NRestarts"] == "0"  # counted since this (manual) start
        lines = c.sh(f"journalctl _PID={show['ExecMainPID']} -o cat --no-pager").splitlines()
        named = [line for line in lines if "no_such_setting" in line]
        assert len(named) == 1, lines
    finally:
        c.sh(f"cp /root/config.good {CONFIG}")
    c.sh(f"systemctl reset-failed {UNIT} && systemctl start {UNIT}")
    wait_for("the LEDs lit again", lit_by_main(c, 3))


def test_upgrade_keeps_the_edited_config(agent: Container):
    c = agent
    c.sh(f"sed -i 's/^#brightness = 0.2$/brightness = 0.5/' {CONFIG}")
    c.sh(f"systemctl reload {UNIT}")  # SIGHUP re-reads the file
    wait_for(
        "brightness 0.5",
        lambda: (s := leds(c)) is not None and lit(s) and s["pixels"][0]["brightness"] > 0.45,
    )
    edited = c.sh(f"cat {CONFIG}")
    pid = main_pid(c)

    newer = bump(VERSION)
    with tempfile.TemporaryDirectory(prefix="blinkt-upgrade-") as out:
        build = subprocess.run(
            [str(REPO / "tests/system/build-deb.sh"), "--bump", newer, "--out", out, "--no-lint"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert build.returncode == 0, build.stderr
        deb = f"blinkt-agent_{newer}_all.deb"
        subprocess.run(["podman", "cp", f"{out}/{deb}", f"{c.name}:/root/{deb}"], check=True)
    c.apt(f"install /root/{deb}")

    assert c.sh("dpkg-query -W -f='${Version}' blinkt-agent") == newer
    assert c.sh("blinkt-agent --version").split()[-1] == newer
    assert c.sh(f"cat {CONFIG}") == edited
    assert c.sh("ls /etc/blinkt-agent").split() == ["config.toml"]  # no .dpkg-dist/.dpkg-old
    state = wait_for("the new agent on the LEDs", lit_by_main(c, 3))
    assert main_pid(c) != pid
    assert state["pixels"][0]["brightness"] > 0.45


def test_remove_stops_the_service_dark_and_purge_removes_config_user_and_unit(
    agent: Container,
):
    c = agent
    pid = main_pid(c)
    c.apt("remove blinkt-agent")
    assert dark_after(c, pid)(), f"LEDs after remove: {leds(c)}"
    assert c.sh(f"systemctl is-active {UNIT}", check=False).strip() == "inactive"
    assert c.sh(f"test -f {CONFIG} && getent passwd blinkt-agent", check=False)  # kept

    # The secrets the docs and the role put beside the config go too (their group does).
    c.sh("cd /etc/blinkt-agent && umask 027 && echo t > nomad-token && echo k > kubeconfig")
    c.apt("purge blinkt-agent")
    assert c.sh("test -e /etc/blinkt-agent || echo gone").strip() == "gone"
    assert c.sh("getent passwd blinkt-agent; getent group blinkt-agent", check=False) == ""
    unit_files = f"/lib/systemd/system/{UNIT} /etc/systemd/system/*.wants/{UNIT}"
    assert c.sh(f"ls {unit_files}", check=False) == ""
    assert c.prop("LoadState") == "not-found"


def test_install_without_a_gpio_group_makes_it_and_purge_keeps_it(container: Container):
    """Debian has no gpio group: the package makes it, for its udev rule that gives the
    group the GPIO chips (proven on the emulated Pi, tests/pi); other users share it."""
    c = container
    c.sh("dpkg --purge blinkt-agent && groupdel gpio")  # a system that is not Raspberry Pi OS
    c.apt(f"install {DEB}")
    gid = int(c.sh("getent group gpio").split(":")[2])
    assert gid < 1000, "a system group"
    assert "gpio" in c.sh("id -nG blinkt-agent").split()
    wait_for("the LEDs lit", lit_by_main(c, 3))
    assert_running(c)
    c.apt("purge blinkt-agent")
    assert c.sh("getent group gpio").split(":")[2] == str(gid)


def test_device_groups_that_exist_are_joined_not_made_again(container: Container):
    """Raspberry Pi OS has groups spi (/dev/spidev*) and plugdev (Debian too): made before
    the install here, they are the ones the user joins, with their own numbers."""
    c = container
    c.sh("dpkg --purge blinkt-agent && { ! getent group spi || groupdel spi; }")
    c.sh("groupadd --system spi")
    groups = ("gpio", "spi", "plugdev")
    before = {g: c.sh(f"getent group {g}").split(":")[2] for g in groups}
    c.apt(f"install {DEB}")
    assert {g: c.sh(f"getent group {g}").split(":")[2] for g in groups} == before
    assert set(groups) <= set(c.sh("id -nG blinkt-agent").split())
    wait_for("the LEDs lit", lit_by_main(c, 3))


def test_install_without_an_spi_group_makes_it_and_purge_keeps_it(container: Container):
    """Debian has no spi group: the package makes it, as it does gpio, for its udev rule
    that gives the group the SPI devices (without the group udev would warn at each load
    of the rules and leave them root's); other users share it."""
    c = container
    c.sh("dpkg --purge blinkt-agent && groupdel spi")
    c.apt(f"install {DEB}")
    gid = int(c.sh("getent group spi").split(":")[2])
    assert gid < 1000, "a system group"
    assert {"spi", "plugdev"} <= set(c.sh("id -nG blinkt-agent").split())
    wait_for("the LEDs lit", lit_by_main(c, 3))
    c.apt("purge blinkt-agent")
    assert c.sh("getent group spi").split(":")[2] == str(gid)


def bump(version: str) -> str:
    """The next patch version: 0.1.0 → 0.1.1."""
    *head, last = version.split(".")
    return ".".join([*head, str(int(last) + 1)])


def test_package_ships_no_tests_and_no_gpio_double():
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(REPO / "dist" / f"blinkt-agent_{VERSION}_all.deb")],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    paths = [line.split()[-1] for line in listing.splitlines()]
    assert "./usr/bin/blinkt-agent" in paths
    assert "./etc/blinkt-agent/config.toml" in paths
    assert not [p for p in paths if "/tests/" in p or "/RPi/" in p or "gpio_double" in p]


def test_conffile_lists_every_setting_commented_with_its_default():
    from blinkt_agent import config

    text = (REPO / "etc" / "config.toml").read_text()
    assert not re.search(r"^[a-z_]+ *=", text, re.M), "settings must be commented out"
    uncommented = re.sub(r"^#([a-z_]+ = )", r"\1", text, flags=re.M)
    path = Path(tempfile.mkstemp(suffix=".toml")[1])
    try:
        path.write_text(uncommented)
        settings = config.load(path, environ={})
    finally:
        path.unlink()
    defaults = {key.dotted: key.default for key in config.SCHEMA}
    palette = {
        f"palette.{k}": "#{:02x}{:02x}{:02x}".format(*rgb) for k, rgb in asdict(PALETTE).items()
    }
    for key, default in defaults.items():
        expected = palette[key] if key.startswith("palette.") else default
        assert settings.values[key] == expected, key

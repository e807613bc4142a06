"""The .deb on an emulated Raspberry Pi 3B: Debian's arm64 kernel and GPIO driver, rpi-lgpio
and lgpio, udev, systemd's device policy; the LEDs decoded on the host from the writes to
the GPIO controller's registers (gpio_trace.py).

One boot, in file order, as a Pi owner would live it:
  1. Debian as Debian ships it: /dev/gpiochip0 is root's alone. The package installs,
     makes group gpio, and its own udev rule gives the chip to the group: the agent,
     as its unprivileged user, lights the LEDs.
  2. Raspberry Pi OS's arrangement as well (its udev rule, group gpio): both rules
     agree. The simulated Nomad and Consul DNS run in the guest as a unit of their
     own; the LEDs show the node's allocations as the JSON display would, follow a
     change, go dark through ExecStopPost after a SIGKILL and a stop (the restarts
     open the chip under both rules); without DeviceAllow= the kernel refuses the
     chip (exit 74).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from blinkt_agent.frame import apa102_brightness
from tests.pi.conftest import deb_path
from tests.pi.emulator import EmulatedPi, describe
from tests.pi.gpio_trace import Event

GUEST_FILES = Path(__file__).parent / "guest"
REPO = Path(__file__).resolve().parents[2]
UNIT = "blinkt-agent.service"
SIM_UNIT = "blinkt-sim.service"
CONFIG = "/etc/blinkt-agent/config.toml"
DEB = deb_path()
GUEST_DEB = f"/root/{DEB.name}"
PACKAGE_RULE = "/lib/udev/rules.d/60-blinkt-agent.rules"
NODE = "blinkt-pi"  # the guest's hostname, and so its Nomad node (blinkt-sim.service)
# Set in the conffile, so that the proofs see settings reach the pins: a colour whose
# three bytes differ (a swapped channel shows) and a brightness that is neither
# the default nor full (the 5-bit value is round(0.45 * 31) = 14).
RUNNING = (0x10, 0xA0, 0x30)
BRIGHTNESS = 0.45
PENDING, FAILED = (0, 0, 255), (255, 0, 0)  # the default palette
# The production unit waits this long before a restart.
RESTART_SEC = 5
# Python under emulation: starting the agent, a frame, a stop take seconds.
LED_TIMEOUT = 90


# --- reading the guest --------------------------------------------------------------------


def show(pi: EmulatedPi, *props: str) -> dict[str, str]:
    out = pi.sh(f"systemctl show {UNIT} " + " ".join(f"-p {p}" for p in props))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def prop(pi: EmulatedPi, name: str) -> str:
    return show(pi, name)[name]


def stat(pi: EmulatedPi, path: str = "/dev/gpiochip0") -> str:
    return pi.sh(f"stat -c '%U:%G %a' {path}").strip()


def json_frame(pi: EmulatedPi) -> tuple:
    """What the JSON display shows for the same node with the same config, as the LEDs
    would latch it: (r, g, b, 5-bit brightness) per LED."""
    _, out = pi.run("runuser -u blinkt-agent -- blinkt-agent --display json once", 120)
    line = next((ln for ln in out.splitlines() if ln.startswith('{"pixels"')), None)
    assert line, f"blinkt-agent --display json once printed no frame:\n{out}"
    pixels = json.loads(line)["pixels"]
    return tuple((p["r"], p["g"], p["b"], apa102_brightness(p["brightness"])) for p in pixels)


def install(pi: EmulatedPi, figures: dict, name: str) -> None:
    start = time.monotonic()
    # No network in the guest: every dependency must already be there (image.sh).
    pi.sh(f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q {GUEST_DEB}", 600)
    figures[f"apt-get install ./{DEB.name} ({name})"] = f"{time.monotonic() - start:.1f} s"


# --- reading the LEDs -----------------------------------------------------------------------


def lit(pixels) -> list[tuple[int, int, int]]:
    return [(r, g, b) for r, g, b, b5 in pixels if b5 and (r, g, b) != (0, 0, 0)]


def kinds(events: list[Event]) -> list[str]:
    """claimed / released / dark / lit, in order."""
    return [e.kind if e.kind != "frame" else ("dark" if e.dark else "lit") for e in events]


def last_frame(events: list[Event]) -> Event | None:
    return next((e for e in reversed(events) if e.kind == "frame"), None)


def wait_for_leds(pi: EmulatedPi, what: str, probe, mark: int, timeout: float = LED_TIMEOUT):
    """The latest frame decoded since `mark` once probe(its pixels) holds."""

    def latest(events):
        frame = last_frame(events)
        return frame if frame and probe(frame.pixels) else None

    return pi.leds.wait(what, latest, mark, timeout)


def wait_for_sequence(pi: EmulatedPi, what: str, expected: list[str], mark: int):
    """The events since `mark` once their kinds begin with `expected`."""

    def begun(events):
        return events if kinds(events)[: len(expected)] == expected else None

    return pi.leds.wait(what, begun, mark, LED_TIMEOUT)


def last_lit(pi: EmulatedPi) -> tuple:
    """The pixels of the last frame decoded that had any LED on."""
    frame = next((e for e in reversed(pi.leds.frames()) if not e.dark), None)
    assert frame and frame.pixels is not None, "no lit frame decoded yet"
    return frame.pixels


def current(pi: EmulatedPi) -> tuple:
    frame = last_frame(pi.leds.since(0))
    assert frame and frame.pixels is not None, "no frame decoded yet"
    return frame.pixels


# --- 1. Debian as Debian ships it -----------------------------------------------------------


def test_debian_leaves_the_gpio_chip_to_root(pi: EmulatedPi):
    assert pi.sh("dpkg --print-architecture").strip() == "arm64"
    assert stat(pi) == "root:root 600"
    assert pi.run("getent group gpio")[0] == 2  # no such group
    # The chip is the SoC's GPIO controller, driven by Linux's pinctrl-bcm2835.
    compatible = pi.sh("tr '\\0' ' ' < /sys/bus/gpio/devices/gpiochip0/of_node/compatible")
    assert "brcm,bcm2835-gpio" in compatible.split()


def test_package_installs_on_debian_arm64_and_its_udev_rule_opens_the_chip(pi: EmulatedPi, figures):
    mark = pi.leds.mark()
    start = time.monotonic()
    pi.put(GUEST_DEB, DEB.read_bytes())
    figures[f"copy {DEB.name} ({DEB.stat().st_size // 1024} KiB) over the serial console"] = (
        f"{time.monotonic() - start:.1f} s"
    )
    installing = time.time()
    install(pi, figures, "Debian")

    assert pi.sh("dpkg-query -W -f='${Architecture} ${db:Status-Status}' blinkt-agent") == (
        "all installed"
    )
    assert pi.sh(f"systemctl is-enabled {UNIT}").strip() == "enabled"
    # Nothing answers on Consul's port yet: the agent runs, as its own user, and says it
    # waits; the LEDs show the status pattern the JSON display shows.
    state = show(pi, "ActiveState", "SubState", "Result", "ExecMainStatus", "MainPID")
    assert (state["ActiveState"], state["SubState"]) == ("active", "running"), state
    assert pi.sh(f"ps -o user= -p {state['MainPID']}").strip() == "blinkt-agent"
    expected = json_frame(pi)
    assert lit(expected), expected
    frame = wait_for_leds(pi, "the status pattern", lambda px: px == expected, mark)
    assert pi.leds.errors == []
    first = pi.leds.frames(mark)[0]
    assert first.time is not None, "a decoded frame has the time of its trace line"
    figures["QEMU start → first decoded frame"] = f"{pi.since_start(first.time):.1f} s"
    figures["apt-get install started → first decoded frame"] = f"{first.time - installing:.1f} s"
    assert frame.pixels == expected
    assert "waiting for Nomad" in prop(pi, "StatusText")

    # What made the chip reachable: the package's provision, group gpio (made by the
    # postinst, the user in it) and its udev rule giving the group the chip.
    assert "gpio" in pi.sh("id -nG blinkt-agent").split()
    assert stat(pi) == "root:gpio 660"
    assert pi.sh(f"cat {PACKAGE_RULE}").count('GROUP="gpio", MODE="0660"') == 1


# --- 2. Raspberry Pi OS's arrangement as well ---------------------------------------------


def test_raspberry_pi_os_rule_and_the_packages_agree(pi: EmulatedPi):
    """Raspberry Pi OS has group gpio and its own rule for the chips; with the package
    installed there, both rules apply, setting the same group and mode."""
    pi.put("/etc/udev/rules.d/99-com.rules", (GUEST_FILES / "99-com.rules").read_bytes())
    pi.sh("groupadd -f -r gpio")  # what pi-gen, the Raspberry Pi OS image builder, runs
    # As the kernel creates the device, so that what follows is the rules' doing.
    pi.sh("chown root:root /dev/gpiochip* && chmod 0600 /dev/gpiochip*")
    pi.sh("udevadm control --reload-rules && udevadm trigger --subsystem-match=gpio "
          "--action=change && udevadm settle --timeout=60")  # fmt: skip
    assert stat(pi) == "root:gpio 660"
    gid = pi.sh("getent group gpio").split(":")[2]
    applied = pi.sh("udevadm test /sys/bus/gpio/devices/gpiochip0 2>&1")
    ours = REPO / "debian" / "blinkt-agent.udev"
    lines = enumerate(ours.read_text().splitlines(), 1)
    line = next(n for n, text in lines if "gpiochip" in text and not text.startswith("#"))
    for rule in (f"{Path(PACKAGE_RULE).name}:{line}", "99-com.rules:3"):
        assert f"{rule} GROUP {gid}" in applied and f"{rule} MODE 0660" in applied, applied


def test_leds_show_the_nodes_allocations_as_the_json_display_does(pi: EmulatedPi):
    pi.put(f"/etc/systemd/system/{SIM_UNIT}", (GUEST_FILES / SIM_UNIT).read_bytes())
    pi.put("/usr/local/bin/simctl", (GUEST_FILES / "simctl").read_bytes(), mode="0755")
    # What a Pi owner does: edit the conffile, reload (here with Nomad and Consul
    # starting meanwhile: the reload also makes the agent look for them at once).
    r, g, b = RUNNING
    pi.sh(
        f"sed -i -e 's/^#brightness = 0.2$/brightness = {BRIGHTNESS}/' "
        f"-e 's/^#running = .*/running = \"#{r:02x}{g:02x}{b:02x}\"/' {CONFIG}"
    )
    pi.sh(f"systemctl daemon-reload && systemctl start {SIM_UNIT}")
    pi.sh("for i in $(seq 120); do simctl GET state >/dev/null 2>&1 && exit 0; sleep 0.5; done; "
          f"journalctl -u {SIM_UNIT} --no-pager; exit 1")  # fmt: skip
    mark = pi.leds.mark()
    pi.sh(f"systemctl reload {UNIT}")
    # The JSON display's frame, asked while the agent changes the LEDs.
    expected = json_frame(pi)
    assert lit(expected) == [RUNNING] * 3, expected
    assert {b5 for *_, b5 in expected[:3]} == {apa102_brightness(BRIGHTNESS)} == {14}
    wait_for_leds(pi, "3 running allocations", lambda px: px == expected, mark)
    assert re.search(rf"node {NODE}: 3 allocations\b", prop(pi, "StatusText"))
    assert pi.leds.errors == []


def test_leds_follow_allocation_changes(pi: EmulatedPi):
    mark = pi.leds.mark()
    body = json.dumps({"node": NODE, "job": "web", "group": "web", "client_status": "pending"})
    web = json.loads(pi.sh(f"simctl POST allocations '{body}'"))["id"]
    expected = json_frame(pi)
    assert sorted(lit(expected)) == sorted([RUNNING] * 3 + [PENDING]), expected
    wait_for_leds(pi, "a 4th, pending allocation", lambda px: px == expected, mark)

    mark = pi.leds.mark()
    pi.sh(f"simctl POST allocations/{web} '{json.dumps({'client_status': 'failed'})}'")
    expected = json_frame(pi)
    assert sorted(lit(expected)) == sorted([RUNNING] * 3 + [FAILED]), expected
    wait_for_leds(pi, "it failed", lambda px: px == expected, mark)
    assert "1 failed" in prop(pi, "StatusText")
    assert pi.leds.errors == []


def test_systemd_analyze_security_of_the_installed_unit(pi: EmulatedPi, figures):
    out = pi.sh(f"systemd-analyze security {UNIT} --no-pager", 300)
    match = re.search(r"Overall exposure level for \S+: ([\d.]+) (\S+)", out)
    assert match, out
    figures["systemd-analyze security (in the guest)"] = f"{match[1]} {match[2]}"
    assert float(match[1]) <= 2.0, out


def test_sigkill_ends_with_a_dark_frame_from_exec_stop_post(pi: EmulatedPi, figures):
    before = current(pi)
    assert lit(before)
    pid, restarts = show(pi, "MainPID", "NRestarts").values()
    mark = pi.leds.mark()
    pi.sh(f"kill -9 {pid}")
    # The kernel frees the dead agent's lines; ExecStopPost claims them, clocks out
    # a dark frame and frees them; RestartSec later the new agent lights them again.
    events = wait_for_sequence(
        pi, "the dark frame of ExecStopPost, then the restart",
        ["released", "claimed", "dark", "released", "claimed"], mark,
    )  # fmt: skip
    dark, restarted = events[2], events[4]
    assert restarted.time - dark.time > RESTART_SEC - 1, describe(events)
    figures["SIGKILL → dark frame (ExecStopPost)"] = f"{dark.time - events[0].time:.1f} s"
    wait_for_leds(pi, "the allocations again", lambda px: px == before, mark)
    assert int(prop(pi, "NRestarts")) == int(restarts) + 1
    assert prop(pi, "MainPID") != pid


def test_stop_ends_with_a_dark_frame_from_exec_stop_post(pi: EmulatedPi):
    mark = pi.leds.mark()
    pi.sh(f"systemctl stop {UNIT}")
    # The agent darkens the LEDs and frees its lines on SIGTERM; then ExecStopPost
    # claims them again and clocks out its own dark frame.
    events = wait_for_sequence(
        pi, "the agent's dark frame, then ExecStopPost's",
        ["dark", "released", "claimed", "dark", "released"], mark,
    )  # fmt: skip
    state = show(pi, "ActiveState", "ExecStopPost")
    assert state["ActiveState"] == "inactive"
    assert "status=0" in state["ExecStopPost"], state
    assert kinds(pi.leds.since(mark)) == kinds(events[:5])  # and nothing after


def test_without_device_allow_the_kernel_refuses_the_chip(pi: EmulatedPi):
    drop_in = f"/etc/systemd/system/{UNIT}.d/no-gpiochip.conf"
    # The shipped unit without its DeviceAllow= for the chips (gpiomem kept).
    pi.sh(f"mkdir -p {Path(drop_in).parent}")
    pi.put(drop_in, b"[Service]\nDeviceAllow=\nDeviceAllow=/dev/gpiomem rw\n")
    pi.sh("systemctl daemon-reload")
    assert "char-gpiochip" not in prop(pi, "DeviceAllow")
    mark = pi.leds.mark()
    pi.run(f"systemctl start {UNIT}")
    state = show(pi, "ActiveState", "Result", "ExecMainStatus", "ExecMainPID", "NRestarts")
    assert (state["ActiveState"], state["Result"], state["ExecMainStatus"]) == (
        "failed", "exit-code", "74",
    ), state  # fmt: skip
    failed_at = time.monotonic()
    lines = pi.sh(f"journalctl _PID={state['ExecMainPID']} -o cat --no-pager").splitlines()
    hints = [ln for ln in lines if "no access to /dev/gpiomem or /dev/gpiochip*" in ln]
    assert len(hints) == 1 and not [ln for ln in lines if "Traceback" in ln], lines
    # The pins were never touched: the chip could not even be opened...
    assert pi.leds.since(mark) == []
    # ...while its file permissions let the user open it: the device policy refused.
    pi.sh(
        "runuser -u blinkt-agent -- python3 -c "
        "'import os; os.close(os.open(\"/dev/gpiochip0\", os.O_RDWR))'"
    )
    time.sleep(max(0.0, failed_at + RESTART_SEC + 2 - time.monotonic()))
    # Not restarted: 74 is in RestartPreventExitStatus=, a restart cannot fix the device.
    assert show(pi, "NRestarts", "ActiveState") == {"NRestarts": "0", "ActiveState": "failed"}

    before = last_lit(pi)
    pi.sh(f"rm {drop_in} && systemctl daemon-reload && systemctl reset-failed {UNIT} && "
          f"systemctl start {UNIT}")  # fmt: skip
    wait_for_leds(pi, "the allocations with the shipped unit", lambda px: px == before, mark)


def test_a_traffic_light_on_the_pi_traffic_pins_shows_the_worst_state(pi: EmulatedPi):
    """The same Pi wearing a Pi-Traffic (BCM 9 red, 10 amber, 11 green): one light, the
    worst state, through the kernel's GPIO driver; dark and handed back on stop."""
    lights = (9, 10, 11)
    pi.sh(f'sed -i -e \'s/^#display = "blinkt"$/display = "traffic"/\' {CONFIG}')
    pi.sh(f"systemctl reload {UNIT}")

    def one_light(levels):  # None: a pin not (yet) an output
        return levels.count(1) == 1 and levels.count(0) == 2

    levels = pi.leds.wait_driven("one light", lights, one_light, LED_TIMEOUT)
    status = prop(pi, "StatusText")
    worst = "red" if " failed" in status else "amber" if " pending" in status else "green"
    assert dict(zip(("red", "amber", "green"), levels, strict=True))[worst] == 1, status
    body = json.dumps({"node": NODE, "job": "db", "group": "db", "client_status": "failed"})
    pi.sh(f"simctl POST allocations '{body}'")
    pi.leds.wait_driven("red", lights, lambda levels: levels == (1, 0, 0), LED_TIMEOUT)
    pi.sh(f"systemctl stop {UNIT}")
    # Cleared, then handed back (inputs), by the agent and again by ExecStopPost.
    assert show(pi, "ActiveState")["ActiveState"] == "inactive"
    released = pi.leds.wait_driven("inputs", lights, lambda levels: set(levels) == {None}, 30)
    assert released == (None, None, None)
    pi.sh(f'sed -i -e \'s/^display = "traffic"$/#display = "blinkt"/\' {CONFIG}')

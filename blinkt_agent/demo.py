"""`blinkt-agent demo`: the real agent pipeline against an in-process simulated cluster.

With `--source nomad` (the default) a simulated Nomad (HTTP, blocking queries) and a
Consul DNS server start on loopback ports and the agent discovers Nomad through DNS
exactly as on a Pi; with `--source kubernetes` a simulated k3s API server starts and the
agent reads it through a kubeconfig, with list + watch. A scripted story changes the
cluster meanwhile; `--mode nodes` shows the whole cluster, one LED per Pi. The terminal
shows the LEDs; `--display blinkt` (or any other display) on a Pi lights the real ones (a
hardware check), and draws that display's shape in the terminal where it is not present,
or with `--terminal`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from blinkt_agent import config, displays
from blinkt_agent.agent import Agent, display_of, look_of, signals_for
from blinkt_agent.displays import Display
from blinkt_agent.displays.terminal import LogAbove, TerminalDisplay, colour_name
from blinkt_agent.errors import DisplayError
from blinkt_agent.layout import signal
from blinkt_agent.notify import Notifier
from blinkt_agent.sim import SimCluster
from blinkt_agent.sim.cluster import loopback_hosts
from blinkt_agent.sim.story import OTHER_PIS, STEPS, Player, Step, Story, steps_for

log = logging.getLogger(__name__)

OWN_NODE = "pi-01"
PIS = (OWN_NODE, *OTHER_PIS)
# The legend's order: what the story shows first and most; a narrow terminal drops the tail.
LEGEND = ("running", "pending", "stopping", "failed", "overflow", "lost", "unknown")
CLUSTER_LEGEND = ("running", "pending", "failed", "cordoned", "lost", "overflow", "unknown")
STOP_HINT = "Ctrl-C to stop"


def demo_settings(
    cluster: SimCluster, flags: dict[str, Any], speed: float = 1.0
) -> config.Settings:
    """Defaults for a story told in a minute (less with `speed`), pointed at the simulator."""
    where = {
        "consul.dns": cluster.dns.address,
        "consul.node_name": OWN_NODE,
        "nomad.wait": 30.0,
        "nomad.backoff_max": 2.0,
    }
    return _settings(where, flags, speed)


def _settings(where: dict[str, Any], flags: dict[str, Any], speed: float) -> config.Settings:
    settings = config.override(
        config.defaults(),
        {
            "display": "terminal",
            "brightness": 0.5,
            # Times on the story's clock, so that a fast demo still shows them.
            "stale_after": max(0.2, 3.0 / speed),
            "linger": max(0.5, 8.0 / speed),
            **where,
        },
        origin="demo",
    )
    return config.with_flags(settings, flags)


@contextlib.contextmanager
def nomad_world(
    flags: dict[str, Any], speed: float, steps: tuple[Step, ...]
) -> Iterator[tuple[config.Settings, Player]]:
    """Every Pi its own Nomad client on its own loopback address, found through Consul DNS."""
    with SimCluster(nodes=PIS, node_hosts=loopback_hosts(PIS)) as cluster:
        yield demo_settings(cluster, flags, speed), Story(cluster, steps=steps)


@contextlib.contextmanager
def kubernetes_world(
    flags: dict[str, Any], speed: float, steps: tuple[Step, ...]
) -> Iterator[tuple[config.Settings, Player]]:
    """A k3s API server, the Pis its nodes, and a kubeconfig as k3s writes one (a token)."""
    from blinkt_agent.sim.kubernetes import SimKubernetes
    from blinkt_agent.sim.kubernetes.story import KubeStory

    with SimKubernetes() as sim, tempfile.TemporaryDirectory(prefix="blinkt-demo-") as tmp:
        for name in PIS:
            sim.add_node(name)
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: demo\n"
            f"clusters:\n- name: demo\n  cluster: {{server: '{sim.url}'}}\n"
            f"users:\n- name: demo\n  user: {{token: '{sim.admin_token}'}}\n"
            "contexts:\n- name: demo\n  context: {cluster: demo, user: demo}\n"
        )
        where = {
            "source": "kubernetes",
            "node": OWN_NODE,
            "kubernetes.kubeconfig": str(kubeconfig),
            "kubernetes.backoff_max": 2.0,
        }
        yield _settings(where, flags, speed), KubeStory(sim, OWN_NODE, steps=steps)


class CaptionNotifier(Notifier):
    """Shows the agent's STATUS line beside the LEDs instead of logging it."""

    def __init__(self, display: Display) -> None:
        super().__init__(environ={})
        self.display = display

    def status(self, text: str) -> None:
        if hasattr(self.display, "set_caption"):
            self.display.set_caption(text)
        else:
            super().status(text)


SIGNAL_LEGEND = ("failed", "pending or stopping", "all running")


def legend_entries(
    settings: config.Settings, display: Display
) -> list[tuple[str, tuple[int, int, int]]]:
    if display.shape.kind == "signal":  # the lights' own colours, red first as they hang
        return list(zip(SIGNAL_LEGEND, signal.LIGHT_COLOURS, strict=True))
    palette = look_of(settings).palette
    legend = CLUSTER_LEGEND if settings["mode"] == "nodes" else LEGEND
    return [(state, palette.colour(state)) for state in legend]


def open_demo_display(
    settings: config.Settings, in_terminal: bool
) -> tuple[config.Settings, Display, str]:
    """The display asked for; a hardware display not present here (or `in_terminal`)
    is drawn in the terminal in its own shape. Also says why it was not lit."""
    kind = displays.kind_of(settings["display"])
    why = ""
    if kind.hardware and not in_terminal:
        try:
            return settings, display_of(settings), ""
        except DisplayError as err:
            why = f"drawn in the terminal: {err}"
    if kind.hardware:
        settings = config.override(
            settings, {"display": "terminal", "terminal.looks_like": kind.name}, origin="demo"
        )
    return settings, display_of(settings), why


def run_demo(args: argparse.Namespace, flags: dict[str, Any]) -> int:
    from blinkt_agent.cli import log_to  # cli imports this module only when a demo runs

    # Bad flags are refused before anything starts (exit 78, naming the flag).
    chosen = config.with_flags(config.defaults(), flags)
    fixed_mode = flags.get("mode") is not None  # --mode: the story's view switches stay off
    stop = threading.Event()  # ends the story once the agent has stopped
    world = kubernetes_world if chosen["source"] == "kubernetes" else nomad_world
    if chosen["source"] == "kubernetes":
        from blinkt_agent.sim.kubernetes.story import STEPS as story_steps
    else:
        story_steps = STEPS
    steps = steps_for(story_steps, flags.get("mode") if fixed_mode else None)
    with world(flags, args.speed, steps) as (settings, story):
        settings, display, why = open_demo_display(settings, args.terminal)
        agent = Agent(settings, display, CaptionNotifier(display))
        entries = legend_entries(settings, display)
        if isinstance(display, TerminalDisplay):
            # Only warnings, and above the LED row: the story and STATUS say the rest.
            logging.getLogger("blinkt_agent").setLevel(logging.WARNING)
            if display.can.cursor and sys.stderr.isatty():
                log_to(LogAbove(display))
            display.legend(entries, tail=STOP_HINT)
            if why:  # whole, above the LEDs: it says what to install or enable
                log.warning("%s", why)
        else:
            legend = ", ".join(f"{colour_name(rgb)} {state}" for state, rgb in entries)
            log.info("demo: %s; %s", legend, STOP_HINT)
        started = time.monotonic()

        failed: list[DisplayError] = []

        def on_step(step: Step) -> None:
            line = f"[{time.monotonic() - started:5.1f} s] {step.title}"
            if isinstance(agent.display, TerminalDisplay):
                try:
                    agent.display.note(line)
                except DisplayError as err:  # the terminal has gone: end the demo with it
                    failed.append(err)
                    agent.stop()
                    return
            else:
                log.info("demo: %s", line)
            if not fixed_mode and step.mode != agent.settings["mode"]:
                agent.reload(config.override(agent.settings, {"mode": step.mode}, origin="demo"))

        teller = threading.Thread(
            target=story.play,
            args=(stop,),
            kwargs={"speed": args.speed, "on_step": on_step, "loop": True},
            name="story",
            daemon=True,
        )
        if args.duration is not None:
            timer = threading.Timer(args.duration, agent.stop)
            timer.daemon = True
            timer.start()
        teller.start()
        try:
            with signals_for(agent):  # Ctrl-C stops the agent, then the story
                agent.run()
        finally:
            stop.set()
            teller.join(timeout=5)  # the story puts the API back before the servers stop
            agent.close_display()
        if failed:
            raise failed[0]
    return 0

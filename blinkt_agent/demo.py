"""`blinkt-agent demo`: the real agent pipeline against an in-process simulated cluster.

A simulated Nomad (HTTP, blocking queries) and a Consul DNS server start on
loopback ports; the agent discovers Nomad through DNS exactly as on a Pi,
while a scripted story changes the cluster. The terminal shows the LEDs;
`--display blinkt` on a Pi lights the real ones (a hardware check).
"""

from __future__ import annotations

import argparse
import logging
import threading
import time

from blinkt_agent import config
from blinkt_agent.agent import Agent, display_of, signals_for
from blinkt_agent.notify import Notifier
from blinkt_agent.sim import SimCluster
from blinkt_agent.sim.cluster import loopback_hosts
from blinkt_agent.sim.story import Story

log = logging.getLogger(__name__)

OWN_NODE = "pi-01"


def demo_settings(cluster: SimCluster, flags: dict, speed: float = 1.0) -> config.Settings:
    """Defaults for a story told in a minute (less with `speed`), pointed at the simulator."""
    settings = config.override(
        config.defaults(),
        {
            "display": "terminal",
            "brightness": 0.5,
            "consul.dns": cluster.dns.address,
            "consul.node_name": OWN_NODE,
            "nomad.wait": 30.0,
            "nomad.backoff_max": 2.0,
            # Times on the story's clock, so that a fast demo still shows them.
            "stale_after": max(0.2, 3.0 / speed),
            "linger": max(0.5, 8.0 / speed),
        },
        origin="demo",
    )
    given = {key: value for key, value in flags.items() if value is not None}
    return config.override(settings, given, origin="a flag") if given else settings


class CaptionNotifier(Notifier):
    """Shows the agent's STATUS line beside the LEDs instead of logging it."""

    def __init__(self, display) -> None:
        super().__init__(environ={})
        self.display = display

    def status(self, text: str) -> None:
        if hasattr(self.display, "set_caption"):
            self.display.set_caption(text)
        else:
            super().status(text)


def run_demo(args: argparse.Namespace, flags: dict) -> int:
    stop = threading.Event()  # ends the story once the agent has stopped
    names = (OWN_NODE, "pi-02")
    # Each Pi's Nomad client on its own loopback address, as on a real network.
    with SimCluster(nodes=names, node_hosts=loopback_hosts(names)) as cluster:
        settings = demo_settings(cluster, flags, args.speed)
        display = display_of(settings)
        agent = Agent(settings, display, CaptionNotifier(display))
        if hasattr(display, "note"):
            # Log lines would break the LED line that is redrawn in place.
            logging.getLogger("blinkt_agent").setLevel(logging.WARNING)
        started = time.monotonic()

        def on_step(step) -> None:
            line = f"[{time.monotonic() - started:5.1f} s] {step.title}"
            if hasattr(agent.display, "note"):
                agent.display.note(line)
            else:
                log.info("demo: %s", line)
            mode = step.mode or settings["mode"]
            if mode != agent.settings["mode"]:
                agent.reload(config.override(agent.settings, {"mode": mode}, origin="demo"))

        story = Story(cluster, cluster.local_node_id)
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
            agent.display.close()
    return 0

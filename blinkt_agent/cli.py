"""Command line: `blinkt-agent run | once | clear | demo`.

Exit codes (documented in the README): 0 ok, 1 bug, 2 usage, 69 Nomad
unreachable (once), 74 display/GPIO unusable, 77 ACL refused (once),
78 config error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from blinkt_agent import __version__, config
from blinkt_agent.agent import Agent, display_of, look_of, signals_for, watcher_of
from blinkt_agent.errors import EXIT_FAILURE, EXIT_OK, AgentError, ConfigError
from blinkt_agent.notify import Notifier
from blinkt_agent.view import View, frame, status_line
from blinkt_agent.watcher import Problem, Update

log = logging.getLogger("blinkt_agent")

# Flag name → settings key (None values are "not given").
FLAG_KEYS = {
    "display": "display",
    "mode": "mode",
    "node": "node",
    "nomad_addr": "nomad.address",
    "consul_dns": "consul.dns",
    "brightness": "brightness",
}


def _options(default) -> argparse.ArgumentParser:
    """The options every command takes, before or after the command name."""
    common = argparse.ArgumentParser(add_help=False, argument_default=default)
    common.add_argument(
        "--config", metavar="PATH", help=f"TOML config (default {config.DEFAULT_CONFIG_PATH})"
    )
    common.add_argument("--display", help="blinkt | terminal | json")
    common.add_argument("--mode", help="allocations | cpu | memory | disk | network")
    common.add_argument("--node", help="Nomad node name to show (default: this host's client)")
    common.add_argument("--nomad-addr", metavar="URL", help="Nomad address; skips Consul discovery")
    common.add_argument("--consul-dns", metavar="HOST:PORT", help="Consul DNS server")
    common.add_argument("--brightness", metavar="0.0-1.0", help="LED brightness")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return common


def _parser() -> argparse.ArgumentParser:
    # After the command, SUPPRESS keeps an option given before it from being reset.
    common, after = _options(None), _options(argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="blinkt-agent",
        description="Show a Nomad node's allocations on a Pimoroni Blinkt! (8 APA102 LEDs).",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"blinkt-agent {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", parents=[after], help="the service: watch Nomad, light the LEDs")
    commands.add_parser(
        "once", parents=[after], help="discover, fetch, show one frame, print a summary"
    )
    commands.add_parser("clear", parents=[after], help="turn the LEDs off")
    demo = commands.add_parser(
        "demo", parents=[after], help="simulated Nomad + Consul DNS, the real pipeline"
    )
    demo.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    demo.add_argument("--speed", type=float, default=1.0, help="story speed factor (default 1)")
    return parser


def _flags(args: argparse.Namespace) -> dict:
    return {key: getattr(args, flag, None) for flag, key in FLAG_KEYS.items()}


def _setup_logging(level: str) -> None:
    # journald adds timestamps and the unit name; on a terminal the level is enough.
    logging.basicConfig(
        level=getattr(logging, level.upper()), format="%(levelname)s %(message)s", stream=sys.stderr
    )
    logging.getLogger().setLevel(getattr(logging, level.upper()))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help(sys.stderr)
        return 2
    _setup_logging("debug" if args.verbose else "info")
    try:
        if args.command == "demo":
            from blinkt_agent.demo import run_demo  # the simulator is only loaded for the demo

            return run_demo(args, _flags(args))
        try:
            settings = _load(args)
        except ConfigError as err:
            if args.command != "clear":
                raise
            # `clear` is the unit's stop hook: it must darken the LEDs even when
            # the config that made the agent exit 78 is broken.
            log.warning("%s; clearing with the default settings", err)
            settings = config.defaults()
        if not args.verbose:
            _setup_logging(settings["log_level"])
        return {"run": cmd_run, "once": cmd_once, "clear": cmd_clear}[args.command](args, settings)
    except AgentError as err:
        log.error("%s", err)
        return err.exit_code
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception:  # a bug: say so, with the traceback, and let systemd restart us
        log.exception("unexpected error (please report this as a bug)")
        return EXIT_FAILURE


def _load(args: argparse.Namespace) -> config.Settings:
    settings = config.load(args.config, flags=_flags(args))
    if args.command in ("run", "once"):  # not for `clear`: it must never wait on a resolver
        config.check_consul_dns(settings)
    return settings


def cmd_run(args: argparse.Namespace, settings: config.Settings) -> int:
    settings.token()  # an unreadable token_file is a config error (78), before any LED changes
    display = display_of(settings)
    agent = Agent(settings, display, Notifier(), load_settings=lambda: _load(args))
    try:
        with signals_for(agent):  # SIGTERM/SIGINT stop, SIGHUP reloads
            return agent.run()
    finally:
        agent.display.close()


def cmd_once(args: argparse.Namespace, settings: config.Settings) -> int:
    """A connectivity check: one answer from Nomad, one frame, one summary line."""
    events: list = []
    watcher_of(settings, events.append).check()
    event = events[0]
    look = look_of(settings)
    now, now_ns = time.monotonic(), time.time_ns()
    if isinstance(event, Problem):
        view = View(problem=event.error)
    else:
        view = View(snapshot=event.snapshot)
    display = display_of(settings)
    try:
        display.show(frame(view, look, now, now_ns))
    finally:
        if settings["display"] != "blinkt":
            display.close()
    print(status_line(view, look, now, now_ns))
    if isinstance(event, Problem):
        raise event.error
    assert isinstance(event, Update)
    return EXIT_OK


def cmd_clear(args: argparse.Namespace, settings: config.Settings) -> int:
    display_of(settings).close()  # every display goes dark on close
    return EXIT_OK

"""Command line: `blinkt-agent run | once | clear | demo`.

Exit codes (documented in the README): 0 ok, 1 bug, 2 usage, 69 the cluster
unreachable or the node unknown (once), 74 display/GPIO unusable, 77 credentials
refused (once), 78 config error.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from typing import NoReturn

from blinkt_agent import __version__, config, displays
from blinkt_agent.agent import Agent, display_of, look_of, signals_for, source_of
from blinkt_agent.displays import DISPLAY_NAMES, DISPLAYS
from blinkt_agent.displays.terminal import LogAbove, TerminalDisplay
from blinkt_agent.errors import (
    EXIT_FAILURE,
    EXIT_IOERR,
    EXIT_OK,
    EXIT_USAGE,
    AccessDenied,
    AgentError,
    AmbiguousNode,
    ConfigError,
    NodeUnknown,
)
from blinkt_agent.notify import Notifier
from blinkt_agent.snapshot import Problem, Update
from blinkt_agent.sources import SOURCE_NAMES, kind_of
from blinkt_agent.view import View, frame, status_line

log = logging.getLogger("blinkt_agent")

COMMANDS = ("run", "once", "clear", "demo")
# argparse dest → settings key, for the options that set a key (declared in config.FLAGS).
FLAG_KEYS = {flag[2:].replace("-", "_"): dotted for flag, dotted in config.FLAGS.items()}
MAX_SPEED = 1000.0  # beyond this a story step lasts less than a frame takes to draw
MAX_DURATION = 7 * 24 * 3600.0  # a week; far beyond threading's timer limit is an error


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line on stderr (exit 2) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog.split()[0]} --help)\n")


def _positive_seconds(text: str) -> float:
    return _number(
        text,
        lambda v: 0 <= v <= MAX_DURATION,
        f"must be a number of seconds, 0 up to {MAX_DURATION:.0f} (a week)",
    )


def _speed(text: str) -> float:
    return _number(
        text, lambda v: 0 < v <= MAX_SPEED, f"must be a number above 0, up to {MAX_SPEED:g}"
    )


def _number(text: str, ok: Callable[[float], bool], problem: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not ok(value):
        raise argparse.ArgumentTypeError(f"{problem}, got {text!r}")
    return value


def _options(default: str | None) -> _Parser:
    """The options every command takes, before or after the command name."""
    common = _Parser(add_help=False, argument_default=default)
    common.add_argument(
        "--config", metavar="PATH", help=f"TOML config (default {config.DEFAULT_CONFIG_PATH})"
    )
    common.add_argument("--source", help=" | ".join(SOURCE_NAMES))
    common.add_argument("--display", help=" | ".join(DISPLAY_NAMES))
    common.add_argument("--mode", help=" | ".join(config.MODES))
    common.add_argument("--node", help="node name to show (default: this host's own node)")
    common.add_argument("--nomad-addr", metavar="URL", help="Nomad address; skips Consul discovery")
    common.add_argument("--consul-dns", metavar="HOST:PORT", help="Consul DNS server")
    common.add_argument("--brightness", metavar="0.0-1.0", help="LED brightness")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return common


def _parser() -> argparse.ArgumentParser:
    # After the command, SUPPRESS keeps an option given before it from being reset.
    common, after = _options(None), _options(argparse.SUPPRESS)
    parser = _Parser(
        prog="blinkt-agent",
        description=(
            "Show what a Nomad or Kubernetes node runs on LEDs: a Pimoroni Blinkt!,\n"
            "a traffic light, a BlinkStick or a Unicorn HAT."
        ),
        parents=[common],
        epilog="displays (--display):\n"
        + "\n".join(f"  {kind.name:16}{kind.summary}" for kind in DISPLAYS.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"blinkt-agent {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "run", parents=[after], help="the service: watch the cluster, light the LEDs"
    )
    commands.add_parser(
        "once", parents=[after], help="discover, fetch, show one frame, print a summary"
    )
    commands.add_parser("clear", parents=[after], help="turn the LEDs off")
    demo = commands.add_parser(
        "demo", parents=[after], help="a simulated cluster (--source), the real pipeline"
    )
    demo.add_argument(
        "--duration", type=_positive_seconds, metavar="SECONDS", help="stop after this long"
    )
    demo.add_argument(
        "--terminal",
        action="store_true",
        help="draw the display's shape in the terminal even where the hardware is present",
    )
    demo.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help=f"story speed factor, above 0 up to {MAX_SPEED:g} (default 1)",
    )
    return parser


def _flags(args: argparse.Namespace) -> dict[str, object]:
    return {key: getattr(args, flag, None) for flag, key in FLAG_KEYS.items()}


class _Stderr(logging.Handler):
    """Writes to whatever sys.stderr is when a record comes (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def log_to(handler: logging.Handler | None = None, level: str | None = None) -> None:
    """Our one log handler on the root logger (stderr unless given), replacing the last one."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "blinkt_agent", False)]:
        root.removeHandler(old)
    handler = handler or _Stderr()
    handler.blinkt_agent = True  # type: ignore[attr-defined]
    # journald adds timestamps and the unit name; on a terminal the level is enough.
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root.addHandler(handler)
    if level is not None:
        root.setLevel(getattr(logging, level.upper()))


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "demo":
            _refuse_in_demo(parser, args)
    except SystemExit as done:  # --help, --version, or a usage error already printed
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    if args.command is None:
        sys.stderr.write(
            f"blinkt-agent: a command is needed: {', '.join(COMMANDS)} (see blinkt-agent --help)\n"
        )
        return EXIT_USAGE
    log_to(level="debug" if args.verbose else "info")
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
            log_to(level=settings["log_level"])
        return {"run": cmd_run, "once": cmd_once, "clear": cmd_clear}[args.command](args, settings)
    except AgentError as err:
        log.error("%s", err)
        _drop_stdout_if_gone()
        return err.exit_code
    except BrokenPipeError:  # `blinkt-agent ... | head`: whoever read stdout has gone
        log.error("stdout: the reader has gone (broken pipe)")
        _drop_stdout_if_gone()
        return EXIT_IOERR
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception:  # a bug: say so, with the traceback, and let systemd restart us
        log.exception("unexpected error (please report this as a bug)")
        return EXIT_FAILURE


def _drop_stdout_if_gone() -> None:
    """After a broken pipe, point stdout at /dev/null: the flush at exit would fail again
    and print a second, Python-made error."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _refuse_in_demo(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The demo runs its own simulated cluster and reads no config: say so, not ignore them."""
    for flag in ("--config", "--nomad-addr", "--consul-dns"):
        if getattr(args, flag[2:].replace("-", "_"), None) is not None:
            parser.error(f"demo: {flag} cannot be used: the demo runs its own simulated cluster")


def _load(args: argparse.Namespace) -> config.Settings:
    settings = config.load(args.config, flags=_flags(args))
    if args.command in ("run", "once"):  # not for `clear`: it must never wait on a resolver
        config.check_consul_dns(settings)
    return settings


def cmd_run(args: argparse.Namespace, settings: config.Settings) -> int:
    # Unusable credentials (a token_file, a kubeconfig) are a config error (78), before any
    # LED changes.
    kind_of(settings["source"]).validate(settings)
    display = display_of(settings)
    if isinstance(display, TerminalDisplay) and display.can.cursor and sys.stderr.isatty():
        # Log lines go above the LED row, which is redrawn below them.
        log_to(LogAbove(display))
    agent = Agent(settings, display, Notifier(), load_settings=lambda: _load(args))
    try:
        with signals_for(agent):  # SIGTERM/SIGINT stop, SIGHUP reloads
            return agent.run()
    finally:
        agent.close_display()


def cmd_once(args: argparse.Namespace, settings: config.Settings) -> int:
    """A connectivity check: one answer from the cluster, one frame, one summary line.

    The display is opened first, so that an unusable one (74) is said at once,
    not after the wait for the cluster. The frame stays shown: no dark frame follows.
    """
    kind = kind_of(settings["source"])
    kind.validate(settings)  # a config error (78) before the display or the network
    display = display_of(settings)
    events: list[Update | Problem] = []
    source_of(settings, events.append).check()
    event = events[0]
    look = look_of(settings)
    now, now_ns = time.monotonic(), time.time_ns()
    if isinstance(event, Problem):
        view = View(problem=event.error)
    else:
        view = View(snapshot=event.snapshot)
    summary = once_summary(event, status_line(view, look, now, now_ns), kind.label)
    # A display with a caption (the terminal) shows the summary beside the LEDs, one line.
    set_caption = getattr(display, "set_caption", None)
    if set_caption is not None:
        set_caption(summary)
    try:
        display.show(frame(view, look, now, now_ns, display.shape))
    finally:
        display.release()  # the frame stays shown
    if set_caption is None and isinstance(event, Problem):
        log.error("%s", summary)  # "ERROR …" on stderr, as every other failure
    elif set_caption is None:  # stdout, unless the JSON display owns it (one object)
        print(summary, file=sys.stderr if settings["display"] == "json" else sys.stdout)
    if isinstance(event, Problem):
        return event.error.exit_code
    assert isinstance(event, Update)
    return EXIT_OK


def once_summary(event: Update | Problem, status: str, label: str = "Nomad") -> str:
    """What `once` found, said as a result (not "waiting", as the service's STATUS does)."""
    if isinstance(event, Update):
        snap = event.snapshot
        if snap.hidden and snap.hidden_fix:  # STATUS names what is lacking; once says the fix
            return f"{status}; {snap.hidden_fix}"
        return status
    error = event.error
    if isinstance(error, AccessDenied):
        what = "access denied"
    elif isinstance(error, AmbiguousNode):
        what = "node ambiguous"
    elif isinstance(error, NodeUnknown):
        what = "node not found"
    elif getattr(error, "kind", "") == "unreachable":
        what = f"{label} unreachable"
    else:
        what = f"{label} error"
    return f"{what}: {error}"


def cmd_clear(args: argparse.Namespace, settings: config.Settings) -> int:
    displays.close(display_of(settings))
    return EXIT_OK

"""Where the data comes from: one package per source, behind one small interface.

A source watches the cluster in its own thread and hands the service loop neutral values
(blinkt_agent.snapshot: an Update per change, a Problem per failure); mapping and view
know nothing else. Each source is one package (sources/nomad/, sources/kubernetes/) and
one entry in SOURCES, which config, the CLI, the agent and the docs' tests read. Its
package is imported only when it is chosen.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from blinkt_agent.errors import ConfigError
from blinkt_agent.snapshot import Problem, Update

if TYPE_CHECKING:
    from blinkt_agent.config import Settings

Emit = Callable[[Update | Problem], None]


class Source(Protocol):
    """What the service loop (agent.py) and `once` (cli.py) ask of a source."""

    def run(self) -> None:
        """Watch until stop(): emit an Update per change and a Problem per failure,
        retrying with capped backoff; never return because the cluster is unreachable."""

    def check(self) -> None:
        """One round for `blinkt-agent once`: emit exactly one Update or Problem."""

    def healthy(self) -> bool:
        """False once a request hangs past its deadline: the watchdog pings then stop."""

    def stop(self) -> None:
        """End run() after the request in flight; safe from any thread."""


@dataclass(frozen=True)
class SourceKind:
    """One source: what it is called, what it runs, which settings it reads, how to make it.

    factory: "module:function" taking (settings, emit) and returning a Source; validate:
    "module:function" taking settings and raising ConfigError for credentials it cannot
    use (read now, so that a reload with a broken one is refused, not a thread's failure).
    """

    name: str
    label: str  # as the STATUS line names it: "waiting for Nomad: …"
    noun: str  # what runs on a node: "2 allocations (2 running)"
    modes: tuple[str, ...]  # the `mode` values it can show
    sections: tuple[str, ...]  # settings sections that say what it watches and how
    factory: str
    validator: str

    def make(self, settings: Settings, emit: Emit) -> Source:
        make = cast("Callable[[Settings, Emit], Source]", _load(self.factory))
        return make(settings, emit)

    def validate(self, settings: Settings) -> None:
        check = cast("Callable[[Settings], None]", _load(self.validator))
        check(settings)


def _load(where: str) -> Callable[..., object]:
    module, _, name = where.partition(":")
    loaded: Callable[..., object] = getattr(importlib.import_module(module), name)
    return loaded


SOURCES: dict[str, SourceKind] = {
    "nomad": SourceKind(
        name="nomad",
        label="Nomad",
        noun="allocation",
        modes=("allocations", "cpu", "memory", "disk", "network", "nodes"),
        sections=("nomad", "consul"),
        factory="blinkt_agent.sources.nomad:make_source",
        validator="blinkt_agent.sources.nomad:validate",
    ),
    "kubernetes": SourceKind(
        name="kubernetes",
        label="Kubernetes",
        noun="pod",
        modes=("allocations", "cpu", "memory", "nodes"),
        sections=("kubernetes",),
        factory="blinkt_agent.sources.kubernetes:make_source",
        validator="blinkt_agent.sources.kubernetes:validate",
    ),
}
SOURCE_NAMES = tuple(SOURCES)


def kind_of(name: str) -> SourceKind:
    try:
        return SOURCES[name]
    except KeyError:
        raise ConfigError(f"source = {name!r}: expected one of {', '.join(SOURCE_NAMES)}") from None

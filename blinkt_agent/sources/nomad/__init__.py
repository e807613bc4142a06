"""The Nomad source: found through Consul DNS, followed with blocking queries.

discovery  Consul DNS SRV lookup, this host's own Nomad client first, failover
client     a small Nomad HTTP client: typed errors, TLS, token, blocking queries
watcher    one node's allocations (allocations and resource modes)
cluster    every node and every allocation (mode "nodes")
normalise  Nomad's JSON → the neutral model (blinkt_agent.snapshot)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from blinkt_agent import config
from blinkt_agent.sources import Emit, Source
from blinkt_agent.sources.nomad.client import TLS, NomadClient
from blinkt_agent.sources.nomad.discovery import NomadLocator, SrvQuery
from blinkt_agent.sources.nomad.watcher import Watcher, WatchOptions

log = logging.getLogger(__name__)


def locator_of(settings: config.Settings) -> NomadLocator:
    query = None
    if settings.use_discovery():
        host, port = config.parse_host_port(settings["consul.dns"])
        query = SrvQuery(
            dns_host=host,
            dns_port=port,
            service=settings["consul.service"],
            tag=settings["consul.tag"],
            domain=settings["consul.domain"],
            datacenter=settings["consul.datacenter"],
            scheme=settings["consul.scheme"],
        )
    return NomadLocator(query, settings.static_address(), settings.node_name)


def client_factory(settings: config.Settings) -> Callable[[str], NomadClient]:
    token = settings.token()  # read once per (re)load: a bad token_file is a config error
    if settings["nomad.skip_verify"]:
        log.warning("nomad.skip_verify is set: Nomad's TLS certificate is not checked")
    tls = TLS(
        ca_cert=settings["nomad.ca_cert"],
        client_cert=settings["nomad.client_cert"],
        client_key=settings["nomad.client_key"],
        server_name=settings["nomad.tls_server_name"],
        skip_verify=settings["nomad.skip_verify"],
    )
    return lambda address: NomadClient(address, token=token, tls=tls)


def validate(settings: config.Settings) -> None:
    """The token file must be readable now (ConfigError), not in the thread later."""
    settings.token()


def make_source(settings: config.Settings, emit: Emit) -> Source:
    options = WatchOptions(
        node=settings["node"],
        own_node=settings.node_name,
        wait=settings["nomad.wait"],
        want_node=settings["mode"] != "allocations",
        backoff_max=settings["nomad.backoff_max"],
    )
    if settings["mode"] == "nodes":
        from blinkt_agent.sources.nomad.cluster import ClusterWatcher

        return ClusterWatcher(options, locator_of(settings), client_factory(settings), emit)
    return Watcher(options, locator_of(settings), client_factory(settings), emit)

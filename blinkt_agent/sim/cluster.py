"""A simulated cluster: Nomad (a server agent, a client agent per node) plus Consul DNS.

Every node is its own Nomad client agent with its own HTTP listener, as on real Pis, and
is advertised in DNS as a nomad-client instance at that agent's address. The server agent
(`nomad.agent`, at host:nomad_port) is no node's client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from blinkt_agent.sim.consul_dns import SimConsulDNS
from blinkt_agent.sim.loopback import StartStop
from blinkt_agent.sim.nomad import NomadAgent, SimNomad

NOMAD_CLIENT_SERVICE = "nomad-client"  # what a Nomad client registers in Consul, tagged "http"


def loopback_hosts(names: Iterable[str], first: int = 1) -> dict[str, str]:
    """{name: 127.0.1.N}: one loopback address per simulated Pi, from 127.0.1.<first>."""
    return {name: f"127.0.1.{first + i}" for i, name in enumerate(names)}


class SimCluster(StartStop):
    """SimNomad + SimConsulDNS; the first of `nodes` is the agent's own (local) node.

    node_hosts: the address each node's client agent listens on (default: `host`), all on
    agent_port (0: each a free port; 4646 needs one address per node). Nodes added later
    through `add_node` (or the control API with a host) get DNS entries too.
    """

    def __init__(
        self,
        nodes: Iterable[str] = ("pi-01",),
        acl_tokens: dict[str, Any] | None = None,
        resources_shape: str = "new",
        host: str = "127.0.0.1",
        nomad_port: int = 0,
        dns_port: int = 0,
        *,
        node_hosts: Mapping[str, str] | None = None,
        agent_port: int = 0,
    ):
        self.nomad = SimNomad(host, nomad_port, acl_tokens, resources_shape)
        self.dns = SimConsulDNS(host, dns_port, datacenter=self.nomad.datacenter)
        self._initial_nodes = tuple(nodes)
        self._node_hosts = dict(node_hosts or {})
        self._agent_port = agent_port
        self.node_ids: dict[str, str] = {}

    def start(self) -> SimCluster:
        self.dns.start()
        self.nomad.start()
        self.nomad.node_listeners.append(self._on_node)
        for name in self._initial_nodes:
            self.add_node(name)
        return self

    def stop(self) -> None:
        self.nomad.stop()
        self.dns.stop()

    def add_node(self, name: str, **resources: Any) -> str:
        """A node with its own client agent (on its node_hosts address), advertised in DNS."""
        host = self._node_hosts.get(name, self.nomad.host)
        node_id = self.nomad.add_node(name, host=host, port=self._agent_port, **resources)
        self.node_ids[name] = node_id
        return node_id

    @property
    def local_node_id(self) -> str:
        """The first node's ID (its newest registration): the node of the agent under test."""
        return self.nomad.node_id(self._initial_nodes[0]) if self._initial_nodes else ""

    def agent(self, name: str) -> NomadAgent:
        """The client agent of the node named `name` (its newest registration)."""
        return self.nomad.agent_for(self.nomad.node_id(name))

    def _on_node(self, event: str, name: str, host: str, port: int) -> None:
        if event == "add":
            self.dns.register(NOMAD_CLIENT_SERVICE, name, host, port)
        else:
            self.dns.deregister(NOMAD_CLIENT_SERVICE, name)

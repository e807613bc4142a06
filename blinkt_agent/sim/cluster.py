"""A simulated cluster: one Nomad API plus Consul DNS advertising every node's Nomad client."""

from __future__ import annotations

from collections.abc import Iterable

from blinkt_agent.sim.consul_dns import SimConsulDNS
from blinkt_agent.sim.loopback import StartStop
from blinkt_agent.sim.nomad import SimNomad

NOMAD_CLIENT_SERVICE = "nomad-client"  # what a Nomad client registers in Consul, tagged "http"


class SimCluster(StartStop):
    """SimNomad + SimConsulDNS; the first of `nodes` is the agent's own (local) node.

    Every node, including ones added later through `nomad.add_node` or the control API,
    is a nomad-client instance in DNS pointing at the one SimNomad port.
    """

    def __init__(
        self,
        nodes: Iterable[str] = ("pi-01",),
        acl_tokens: dict[str, set[str]] | None = None,
        resources_shape: str = "new",
        host: str = "127.0.0.1",
        nomad_port: int = 0,
        dns_port: int = 0,
    ):
        self.nomad = SimNomad(host, nomad_port, acl_tokens, resources_shape)
        self.dns = SimConsulDNS(host, dns_port, datacenter=self.nomad.datacenter)
        self._initial_nodes = tuple(nodes)
        self.node_ids: dict[str, str] = {}

    def start(self) -> SimCluster:
        self.dns.start()
        self.nomad.start()
        self.nomad.node_listeners.append(self._on_node)
        for name in self._initial_nodes:
            self.node_ids[name] = self.nomad.add_node(name)
        return self

    def stop(self) -> None:
        self.nomad.stop()
        self.dns.stop()

    @property
    def local_node_id(self) -> str:
        return self.nomad.local_node_id or ""

    def _on_node(self, event: str, name: str) -> None:
        if event == "add":
            self.dns.register(NOMAD_CLIENT_SERVICE, name, self.nomad.host, self.nomad.port)
        else:
            self.dns.deregister(NOMAD_CLIENT_SERVICE, name)

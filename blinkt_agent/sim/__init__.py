"""Simulated Nomad HTTP API and Consul DNS on loopback, for the demo and the tests."""

from blinkt_agent.sim.cluster import SimCluster
from blinkt_agent.sim.consul_dns import SimConsulDNS
from blinkt_agent.sim.nomad import SimNomad

__all__ = ["SimCluster", "SimConsulDNS", "SimNomad"]

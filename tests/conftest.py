"""Shared pytest fixtures."""

import pytest

from blinkt_agent.sim import SimCluster, SimConsulDNS, SimNomad

pytest_plugins = ["tests.fixtures_gpio"]  # the gpio_double fixture

# --- simulator fixtures (blinkt_agent.sim): fresh servers on free loopback ports per test ---


@pytest.fixture
def sim_nomad():
    """A SimNomad with no nodes yet (the first node added becomes the local one)."""
    with SimNomad() as sim:
        yield sim


@pytest.fixture
def sim_dns():
    """A SimConsulDNS with an empty catalog."""
    with SimConsulDNS() as sim:
        yield sim


@pytest.fixture
def sim_cluster():
    """SimNomad + SimConsulDNS with nodes pi-01 (local) and pi-02 advertised as nomad-client."""
    with SimCluster(nodes=("pi-01", "pi-02")) as cluster:
        yield cluster


# --- end of simulator fixtures ---

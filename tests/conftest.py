"""Shared pytest fixtures."""

import pytest

from blinkt_agent.sim import SimCluster, SimConsulDNS, SimNomad
from blinkt_agent.sim.cluster import loopback_hosts

pytest_plugins = [
    "tests.fixtures_gpio",  # the gpio_double fixture
    "tests.no_skip",  # under `make test` a skip is a failure
    "pytester",  # tests/test_no_skip.py runs pytest on small test files
    "tests.fixtures_usb",
    "tests.fixtures_spi",  # the spi_double, hd_double and mini_double fixtures
]

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
    names = ("pi-01", "pi-02")
    # Each Pi's client agent on its own address, as on a real network.
    with SimCluster(nodes=names, node_hosts=loopback_hosts(names)) as cluster:
        yield cluster


# --- end of simulator fixtures ---

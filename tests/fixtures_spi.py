"""The spidev fixtures: a fresh simulated spidev module per test, decoding a Unicorn HAT.

The double (tests/spidev_double/spidev.py) is loaded under a private module name, so
that `import spidev` elsewhere still behaves as on a machine without the library.
"""

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # mypy checks that the double offers what the displays use of spidev
    from blinkt_agent.displays.spi import Spidev
    from tests.spidev_double import spidev as _double

    _offers: Spidev = _double

SPIDEV_DOUBLE = Path(__file__).parent / "spidev_double" / "spidev.py"
PRIVATE_NAME = "blinkt_tests_spidev"


@functools.cache
def load_spidev_double() -> ModuleType:
    spec = importlib.util.spec_from_file_location(PRIVATE_NAME, SPIDEV_DOUBLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[PRIVATE_NAME] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def spi_double(monkeypatch):
    """The spidev double, reset, with /dev/spidev0.0 and 0.1 and a Unicorn HAT HD."""
    for name in ("BLINKT_SPI_DOUBLE_STATE", "BLINKT_SPI_DOUBLE_BOARD"):
        monkeypatch.delenv(name, raising=False)
    for name in ("BLINKT_SPI_DOUBLE_DEVICES", "BLINKT_SPI_DOUBLE_REFUSED"):
        monkeypatch.delenv(name, raising=False)
    spidev = load_spidev_double()
    spidev.reset()
    yield spidev
    spidev.reset()


@pytest.fixture
def hd_double(spi_double):
    """The spidev double wired to a Unicorn HAT HD."""
    spi_double.configure(board="hd")
    return spi_double


@pytest.fixture
def mini_double(spi_double):
    """The spidev double wired to a Unicorn HAT Mini."""
    spi_double.configure(board="mini")
    return spi_double

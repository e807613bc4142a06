"""The `gpio_double` fixture: a fresh simulated RPi.GPIO module per test.

The double's RPi package is loaded under a private package name, so that
`import RPi` elsewhere still behaves as on a machine without the library.
"""

import functools
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # mypy checks that the double offers what BlinktDisplay uses of RPi.GPIO
    from blinkt_agent.displays.gpio import Gpio
    from tests.gpio_double.RPi import GPIO as _double

    _offers: Gpio = _double

GPIO_DOUBLE_PACKAGE = Path(__file__).parent / "gpio_double" / "RPi"
PRIVATE_NAME = "blinkt_tests_rpi"


@functools.cache
def load_gpio_double() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        PRIVATE_NAME,
        GPIO_DOUBLE_PACKAGE / "__init__.py",
        submodule_search_locations=[str(GPIO_DOUBLE_PACKAGE)],
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[PRIVATE_NAME] = package  # GPIO.py imports its sibling apa102.py relatively
    spec.loader.exec_module(package)
    return importlib.import_module(f"{PRIVATE_NAME}.GPIO")


@pytest.fixture
def gpio_double():
    """The RPi.GPIO double, reset, decoding the Blinkt! pins (data 23, clock 24)."""
    gpio = load_gpio_double()
    gpio.reset()
    yield gpio
    gpio.reset()


def refusing(gpio_double, monkeypatch, error):
    """The RPi.GPIO double, with a setmode() that fails the way the real libraries do."""

    def setmode(mode):
        raise error

    monkeypatch.setattr(gpio_double, "setmode", setmode)
    return gpio_double


@pytest.fixture
def rpi_on_path(monkeypatch, gpio_double):
    """The double importable as RPi.GPIO, as in the system-test container."""
    monkeypatch.syspath_prepend(str(Path(gpio_double.__file__).parents[1]))
    yield
    for name in ("RPi.GPIO", "RPi"):
        sys.modules.pop(name, None)

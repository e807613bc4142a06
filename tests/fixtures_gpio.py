"""The `gpio_double` fixture: a fresh simulated RPi.GPIO module per test.

Loaded from its file under a private module name, so that `import RPi`
elsewhere still behaves as on a machine without the library.
"""

import functools
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # mypy checks that the double offers what BlinktDisplay uses of RPi.GPIO
    from blinkt_agent.displays.blinkt import Gpio
    from tests.gpio_double.RPi import GPIO as _double

    _offers: Gpio = _double

GPIO_DOUBLE_FILE = Path(__file__).parent / "gpio_double" / "RPi" / "GPIO.py"


@functools.cache
def load_gpio_double() -> ModuleType:
    spec = importlib.util.spec_from_file_location("blinkt_tests_gpio_double", GPIO_DOUBLE_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def gpio_double():
    """The RPi.GPIO double, reset, decoding the Blinkt! pins (data 23, clock 24)."""
    gpio = load_gpio_double()
    gpio.reset()
    yield gpio
    gpio.reset()

"""The `usb_double` fixture: a fresh simulated pyusb (with BlinkSticks) per test.

The double's usb package is loaded under a private package name, so that
`import usb` elsewhere still behaves as on a machine without pyusb.
"""

import functools
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # mypy checks that the double offers what BlinkStickDisplay uses of pyusb
    # (usb.core and usb.util one by one: mypy types a package's submodules as plain modules)
    import tests.usb_double.usb.core
    import tests.usb_double.usb.util
    from blinkt_agent.displays.blinkstick import UsbCore, UsbUtil

    _core: UsbCore = tests.usb_double.usb.core
    _util: UsbUtil = tests.usb_double.usb.util

USB_DOUBLE_PACKAGE = Path(__file__).parent / "usb_double" / "usb"
PRIVATE_NAME = "blinkt_tests_usb"


@functools.cache
def load_usb_double() -> ModuleType:
    """The package, with its core and util submodules imported (as `import usb.core` does)."""
    spec = importlib.util.spec_from_file_location(
        PRIVATE_NAME,
        USB_DOUBLE_PACKAGE / "__init__.py",
        submodule_search_locations=[str(USB_DOUBLE_PACKAGE)],
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[PRIVATE_NAME] = package  # core.py and util.py import their siblings relatively
    spec.loader.exec_module(package)
    importlib.import_module(f"{PRIVATE_NAME}.core")
    importlib.import_module(f"{PRIVATE_NAME}.util")
    return package


@pytest.fixture
def usb_double(monkeypatch):
    """The pyusb double, with no devices plugged in: usb_double.core.configure("nano")."""
    monkeypatch.delenv("BLINKT_USB_DOUBLE_STATE", raising=False)
    usb = load_usb_double()
    usb.core.reset()
    yield usb
    usb.core.reset()

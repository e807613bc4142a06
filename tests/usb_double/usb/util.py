"""usb.util of the pyusb double: dispose_resources() and get_string()."""

from __future__ import annotations

from . import core

CTRL_OUT, CTRL_IN = 0x00, 0x80
CTRL_TYPE_STANDARD, CTRL_TYPE_CLASS, CTRL_TYPE_VENDOR = 0x00, 0x20, 0x40
CTRL_RECIPIENT_DEVICE, CTRL_RECIPIENT_INTERFACE = 0, 1


def dispose_resources(device: object) -> None:
    """Release what pyusb holds for `device` (its handle); it reopens on next use."""
    if not isinstance(device, core.Device):
        raise AttributeError(f"{device!r} has no attribute '_ctx'")  # as pyusb fails
    device._dispose()


def get_string(dev: core.Device, index: int, langid: int | None = None) -> str | None:
    """String descriptor `index` (3 = the serial number); None for index 0."""
    return core._get_string(dev, index, langid)

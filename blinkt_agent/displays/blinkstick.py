"""BlinkStick (Agile Innovative) on USB: the original, Pro, Square, Strip, Nano and Flex.

The only module that imports pyusb (python3-usb), and only when a display is opened
without an injected `usb` module. It speaks to the device as arvydas/blinkstick-python
does on Linux, without that library: HID SET_REPORT control transfers (class request
to the device, so the kernel's usbhid driver can keep the interface), one report per
frame holding every LED:

  report 1        [1, R, G, B]                     one-LED devices (original, Pro)
  reports 6..9    [id, channel 0, (G, R, B) * n]   8, 16, 32, 64 LEDs: the smallest that fits

(wValue = the report ID, as the library sends it; data[0] = the report ID, as a HID host
sends a numbered report: the firmware reads neither byte 0 nor wValue's high byte.)

The model comes from the serial number's version suffix (BSnnnnnn-M.m: M 1 original,
2 Pro, 3 by bcdDevice: 0x200 Square, 0x201 Strip, 0x202 Nano, 0x203 Flex), as the
library's get_variant() tells them apart; the LED counts are the products' own.

A BlinkStick Pro is shown as one LED through report 1, which every one of its modes
takes (mode 0/1: its RGB outputs, mode 2: the first WS2812 LED on channel R); its mode
lives in EEPROM and is the owner's choice, so the agent never writes it, and a strip
on a Pro shows only its first LED. A Flex is taken to have its full 32 LEDs.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, cast

from blinkt_agent.errors import DisplayError
from blinkt_agent.frame import Frame, Shape, check_frame, dark

if TYPE_CHECKING:
    from blinkt_agent.config import Settings

VENDOR_ID = 0x20A0
PRODUCT_ID = 0x41E5
REQUEST_TYPE = 0x20  # host to device, class request, recipient device
SET_REPORT = 0x09  # HID class request
COLOUR_REPORT = 1  # [report id, R, G, B]: the first LED
FRAME_REPORTS = ((8, 6), (16, 7), (32, 8), (64, 9))  # LEDs each report holds, its id
CHANNEL = 0  # the output (R pin) the LEDs of a Square, Strip, Nano or Flex hang on

NAME = "display = blinkstick"
INSTALL_HINT = "apt install python3-usb"
PERMISSION_HINT = (
    "the user needs group plugdev (the package's udev rule "
    "/lib/udev/rules.d/60-blinkt-agent.rules gives it the BlinkStick), "
    "and a systemd unit DeviceAllow=char-usb_device rw"
)


class UsbDevice(Protocol):
    """What BlinkStickDisplay uses of a pyusb usb.core.Device."""

    @property
    def bcdDevice(self) -> int: ...
    @property
    def serial_number(self) -> str | None: ...
    def ctrl_transfer(
        self, bmRequestType: int, bRequest: int, wValue: int, wIndex: int, data: bytes, /
    ) -> object: ...


class UsbCore(Protocol):
    """What it uses of usb.core."""

    @property
    def USBError(self) -> type[OSError]: ...
    @property
    def NoBackendError(self) -> type[Exception]: ...
    def find(
        self, *, find_all: Literal[True], idVendor: int, idProduct: int
    ) -> Iterable[UsbDevice]: ...


class UsbUtil(Protocol):
    """What it uses of usb.util."""

    def dispose_resources(self, device: UsbDevice, /) -> None: ...


class Usb(Protocol):
    """The pyusb package with usb.core and usb.util imported. pyusb has no type hints
    (and python3-usb no stubs), so mypy checks the test double against this instead."""

    @property
    def core(self) -> UsbCore: ...
    @property
    def util(self) -> UsbUtil: ...


@dataclass(frozen=True)
class Model:
    name: str
    leds: int


ORIGINAL = Model("BlinkStick", 1)
PRO = Model("BlinkStick Pro", 1)
BY_BCD_DEVICE = {  # serial major version 3
    0x0200: Model("BlinkStick Square", 8),
    0x0201: Model("BlinkStick Strip", 8),
    0x0202: Model("BlinkStick Nano", 2),
    0x0203: Model("BlinkStick Flex", 32),
}
_VERSION = re.compile(r"-(\d+)\.(\d+)$")


def model_of(serial: str, bcd_device: int) -> Model:
    """The model a serial number (its major version) and bcdDevice name; DisplayError
    for one we do not know."""
    version = _VERSION.search(serial)
    major = int(version.group(1)) if version else None
    if major == 1:
        return ORIGINAL
    if major == 2:
        return PRO
    if major == 3 and bcd_device in BY_BCD_DEVICE:
        return BY_BCD_DEVICE[bcd_device]
    raise DisplayError(
        f"{NAME}: {serial} (bcdDevice {bcd_device:#06x}) is no BlinkStick model we know: "
        "expected a serial ending -1.x, -2.x or -3.x with bcdDevice 0x0200..0x0203"
    )


def report_for(frame: Frame) -> tuple[int, bytes]:
    """(report id, data) that sets every LED of `frame` in one transfer."""
    if len(frame) == 1:
        return COLOUR_REPORT, bytes((COLOUR_REPORT, *frame[0].scaled()))
    fitting = [(holds, report_id) for holds, report_id in FRAME_REPORTS if len(frame) <= holds]
    if not fitting:
        raise ValueError(f"blinkstick: {len(frame)} LEDs; a report holds at most 64")
    holds, report_id = fitting[0]
    data = bytearray((report_id, CHANNEL))
    for pixel in frame:
        r, g, b = pixel.scaled()
        data += bytes((g, r, b))
    data += bytes(3 * (holds - len(frame)))
    return report_id, bytes(data)


def open_display(settings: Settings, *, usb: Usb | None = None) -> BlinkStickDisplay:
    """The BlinkStick with serial blinkstick.serial ("" = the first one found)."""
    return BlinkStickDisplay(settings["blinkstick.serial"], usb=usb)


class BlinkStickDisplay:
    """One BlinkStick, found by `serial` ("" = the first). `usb` is a pyusb-compatible
    package; None imports pyusb. DisplayError (exit 74) when pyusb is missing, no such
    BlinkStick is plugged in, the user may not open it, or a write fails."""

    def __init__(self, serial: str = "", usb: Usb | None = None) -> None:
        self._usb = usb if usb is not None else _import_pyusb()
        self._device, self.serial = _find(self._usb, serial)
        self.model = model_of(self.serial, self._device.bcdDevice)
        self._shape = Shape.strip(self.model.leds)
        self._last: Frame | None = None
        self._released = False

    @property
    def shape(self) -> Shape:
        return self._shape

    def show(self, frame: Frame) -> None:
        """Send `frame` unless it is the frame the LEDs already show."""
        if self._released or frame == self._last:
            return
        check_frame(frame, self._shape, "blinkstick")
        self._write(frame)
        self._last = frame

    def clear(self) -> None:
        """All LEDs off, now (sent even when the last frame was dark)."""
        if self._released:
            return
        frame = dark(self._shape)
        self._write(frame)
        self._last = frame

    def release(self) -> None:
        """Hand the device back to the system (the LEDs keep what they show)."""
        if self._released:
            return
        self._released = True
        self._usb.util.dispose_resources(self._device)

    def _write(self, frame: Frame) -> None:
        report_id, data = report_for(frame)
        try:
            self._send(report_id, data)
        except self._usb.core.USBError as err:
            if err.errno == errno.EACCES or not self._found_again():
                raise _write_error(err, self.serial) from err
            try:  # unplugged and back (or a glitch): once more, as the library does
                self._send(report_id, data)
            except self._usb.core.USBError as again:
                raise _write_error(again, self.serial) from again

    def _send(self, report_id: int, data: bytes) -> None:
        self._device.ctrl_transfer(REQUEST_TYPE, SET_REPORT, report_id, 0, data)

    def _found_again(self) -> bool:
        """Look for our serial on the bus again (a replugged device is a new one)."""
        try:
            device, _ = _find(self._usb, self.serial)
        except DisplayError:
            return False
        with contextlib.suppress(self._usb.core.USBError):  # the old one may be gone
            self._usb.util.dispose_resources(self._device)
        self._device = device
        return True


def _import_pyusb() -> Usb:
    # importlib, not `import usb.core`: pyusb has no stubs for mypy to check it with.
    try:
        usb = importlib.import_module("usb")
        importlib.import_module("usb.core")
        importlib.import_module("usb.util")
    except ImportError as err:
        raise DisplayError(f"{NAME}: pyusb not found; {INSTALL_HINT}") from err
    return cast(Usb, usb)


def _find(usb: Usb, serial: str) -> tuple[UsbDevice, str]:
    """The first BlinkStick (with `serial`, if given) and its serial number."""
    try:
        devices = list(usb.core.find(find_all=True, idVendor=VENDOR_ID, idProduct=PRODUCT_ID))
    except usb.core.NoBackendError as err:
        raise DisplayError(
            f"{NAME}: pyusb finds no libusb ({err}): apt install libusb-1.0-0, and a "
            "systemd unit needs AF_NETLINK in RestrictAddressFamilies= (libusb's udev monitor)"
        ) from err
    except usb.core.USBError as err:
        raise DisplayError(f"{NAME}: cannot list USB devices: {err}") from err
    if not devices:
        raise DisplayError(
            f"{NAME}: no BlinkStick found (no USB device with vendor {VENDOR_ID:#06x} "
            f"product {PRODUCT_ID:#06x}): is it plugged in?"
        )
    found = []
    for device in devices:
        number = _serial_of(usb, device)
        if not serial or number == serial:
            return device, number
        found.append(number)
    raise DisplayError(
        f"blinkstick.serial = {serial!r}: no BlinkStick with that serial; found {', '.join(found)}"
    )


def _serial_of(usb: Usb, device: UsbDevice) -> str:
    # pyusb reads string descriptors with the device opened: without permission its
    # langids are empty and serial_number raises ValueError ("... permission issue ...").
    try:
        serial = device.serial_number
    except ValueError as err:
        raise DisplayError(
            f"{NAME}: cannot open the BlinkStick ({err}); {PERMISSION_HINT}"
        ) from err
    except usb.core.USBError as err:
        if err.errno == errno.EACCES:
            raise DisplayError(
                f"{NAME}: no access to the BlinkStick ({err}); {PERMISSION_HINT}"
            ) from err
        raise DisplayError(f"{NAME}: cannot read the BlinkStick's serial number: {err}") from err
    if not serial:
        raise DisplayError(f"{NAME}: a BlinkStick without a serial number; cannot tell its model")
    return serial


def _write_error(err: OSError, serial: str) -> DisplayError:
    if err.errno == errno.EACCES:
        return DisplayError(f"{NAME}: no access to {serial} ({err}); {PERMISSION_HINT}")
    if err.errno == errno.ENODEV:
        return DisplayError(f"{NAME}: {serial} is gone (unplugged?): {err}")
    return DisplayError(f"{NAME}: writing to {serial} failed: {err}")

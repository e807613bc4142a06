"""usb.core of the pyusb double: find(), Device, USBError; and the simulated bus.

As pyusb 1.2.1 with its libusb1 backend on Linux (usb/core.py, usb/util.py,
usb/backend/libusb1.py): find() enumerates anew each call (a fresh Device per
physical device), string descriptors need the device opened, so a device the user
may not open has no langids and its serial_number raises ValueError; a transfer to
it raises USBError errno 13 (EACCES), to an unplugged one errno 19 (ENODEV);
ctrl_transfer opens the device on first use and, for a class request to an
interface, claims it (which fails with errno 16, EBUSY, while the kernel's usbhid
driver holds it; a request to the device needs no claim).

Test helpers (not pyusb): configure(), reset(), plug(), gadget(), gadgets(),
no_backend(). A BlinkStick here is a `Gadget`: the physical device, its firmware
(_blinkstick.Firmware) and counters; Device is pyusb's handle on it.
"""

from __future__ import annotations

import array
import itertools
import json
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, overload

from ._blinkstick import ORIGINAL, PRO, Firmware, Model, Rgb, model_of

BLINKSTICK_VENDOR, BLINKSTICK_PRODUCT = 0x20A0, 0x41E5
SETUP_PACKET_BYTES = 8  # every control transfer starts with an 8-byte SETUP packet
HISTORY_LIMIT = 10_000  # the agent may run for days on the double in the container tests
LANGID_EN_US = 0x0409
_NO_LANGID = (
    "The device has no langid (permission issue, no string descriptors supported or device error)"
)

# libusb1 backend: (message, libusb error code, errno) as usb/backend/libusb1.py maps them.
_ACCESS = ("Access denied (insufficient permissions)", -3, 13)
_NO_DEVICE = ("No such device (it may have been disconnected)", -4, 19)
_BUSY = ("Resource busy", -6, 16)
_PIPE = ("Pipe error", -9, 32)


class USBError(IOError):
    """As pyusb: str() is "[Errno N] message"; backend_error_code the libusb code."""

    def __init__(
        self, strerror: str, error_code: int | None = None, errno: int | None = None
    ) -> None:
        IOError.__init__(self, errno, strerror)
        self.backend_error_code = error_code


class USBTimeoutError(USBError):
    pass


class NoBackendError(ValueError):
    pass


def _error(what: tuple[str, int, int]) -> USBError:
    return USBError(*what)


# --- the simulated bus ------------------------------------------------------------------


@dataclass
class Gadget:
    """A physical USB device on the simulated bus (a BlinkStick when `firmware` is set)."""

    serial: str | None
    bcd_device: int
    vendor: int = BLINKSTICK_VENDOR
    product: int = BLINKSTICK_PRODUCT
    firmware: Firmware | None = None
    denied: bool = False  # no udev rule giving us the device: EACCES
    unplug_after: int | None = None  # transfers it still takes before it is unplugged
    kernel_driver: bool = True  # usbhid holds interface 0, as on Linux
    plugged: bool = True
    address: int = 0
    transfers: int = 0  # control transfers it accepted
    wire_bytes: int = 0  # their bytes: SETUP packet + data stage
    opens: int = 0
    disposals: int = 0
    reports: deque[tuple[int, bytes]] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))

    def __repr__(self) -> str:
        what = self.model.name if self.model else f"{self.vendor:04x}:{self.product:04x}"
        return (
            f"<Gadget {self.serial} {what} bcdDevice {self.bcd_device:#06x} at {self.address:03d}>"
        )

    @property
    def model(self) -> Model | None:
        return self.firmware.model if self.firmware else None

    def leds(self) -> list[Rgb]:
        """What its LEDs show, LED 0 first."""
        if self.firmware is None:
            raise ValueError(f"{self.serial}: not a BlinkStick")
        return self.firmware.leds()

    @property
    def latched(self) -> int:
        return self.firmware.latched if self.firmware else 0

    @property
    def ignored(self) -> list[str]:
        return list(self.firmware.ignored) if self.firmware else []

    def unplug(self, after: int = 0) -> None:
        """Gone after `after` more transfers (0: now)."""
        self.unplug_after = after
        if after == 0:
            self.plugged = False


_bus: list[Gadget] = []
_no_backend = False
_addresses = itertools.count(2)


def _blinkstick(serial: str, bcd_device: int) -> Gadget:
    return Gadget(serial, bcd_device, firmware=Firmware(model_of(serial, bcd_device)))


# name → (major version, bcdDevice). The original's and the Pro's firmware say 0x0200
# (usbconfig.h USB_CFG_DEVICE_VERSION 0x00, 0x02): only with major 3 does it tell models apart.
ALIASES = {
    "blinkstick": (1, 0x0200),
    "pro": (2, 0x0200),
    "square": (3, 0x0200),
    "strip": (3, 0x0201),
    "nano": (3, 0x0202),
    "flex": (3, 0x0203),
}


def parse_spec(spec: str, number: int = 1) -> Gadget:
    """One device: "BS000001-3.0:0x0202", a model name ("nano": serial BS<number>-3.0),
    or "usb:1d6b:0002" (another vendor's device); then flags ":denied",
    ":unplug_after=N", ":mode=N" (a Pro's mode; 2 = WS2812)."""
    head, *rest = spec.strip().split(":")
    flags = []
    if head == "usb":
        vendor, product, *flags = rest
        gadget = Gadget(None, 0x0100, int(vendor, 16), int(product, 16))
    elif head.lower() in ALIASES:
        major, bcd = ALIASES[head.lower()]
        gadget, flags = _blinkstick(f"BS{number:06d}-{major}.0", bcd), rest
    else:
        bcd = int(rest.pop(0), 16) if rest and rest[0].lower().startswith("0x") else 0x0200
        gadget, flags = _blinkstick(head, bcd), rest
    for flag in flags:
        name, _, value = flag.partition("=")
        if name == "denied":
            gadget.denied = True
        elif name == "unplug_after":
            gadget.unplug_after = int(value)
        elif name == "mode" and gadget.firmware is not None:
            gadget.firmware.mode = int(value)
        else:
            raise ValueError(f"usb double: {spec!r}: unknown flag {flag!r}")
    return gadget


def plug(spec: str) -> Gadget:
    """Plug in one more device (see parse_spec); it shows at a new address."""
    gadget = parse_spec(spec, number=len(_bus) + 1)
    gadget.address = next(_addresses)
    _bus.append(gadget)
    return gadget


def configure(*specs: str) -> list[Gadget]:
    """Exactly these devices plugged in, in enumeration order (see parse_spec)."""
    reset()
    return [plug(spec) for spec in specs]


def reset() -> None:
    """No devices, a backend, nothing counted."""
    global _no_backend
    _bus.clear()
    _no_backend = False


def no_backend(missing: bool = True) -> None:
    """find() raises NoBackendError, as without libusb-1.0."""
    global _no_backend
    _no_backend = missing


def gadgets() -> list[Gadget]:
    return list(_bus)


def gadget(serial: str | None = None) -> Gadget:
    """The BlinkStick with `serial` (None: the first on the bus)."""
    for candidate in _bus:
        if candidate.firmware and serial in (None, candidate.serial):
            return candidate
    raise LookupError(f"usb double: no BlinkStick {serial or ''} plugged in")


# --- pyusb API ---------------------------------------------------------------------------


class Device:
    """pyusb's Device: descriptors from the bus, strings and transfers from the gadget."""

    iManufacturer, iProduct, iSerialNumber = 1, 2, 3
    bDeviceClass = 0
    bus = 1

    def __init__(self, gadget: Gadget) -> None:
        self._gadget = gadget
        self.idVendor = gadget.vendor
        self.idProduct = gadget.product
        self.bcdDevice = gadget.bcd_device
        self.address = gadget.address
        self.default_timeout = 1000
        self._open = False
        self._serial_number: str | None = None

    def __repr__(self) -> str:
        ids = f"{self.idVendor:04x}:{self.idProduct:04x}"
        return f"<DEVICE ID {ids} on Bus 001 Address {self.address:03d}>"

    @property
    def langids(self) -> tuple[int, ...]:
        try:
            self._check()
        except USBError:
            return ()  # pyusb's langids swallows the error
        return (LANGID_EN_US,)

    @property
    def serial_number(self) -> str | None:
        if self._serial_number is None:
            self._serial_number = _get_string(self, self.iSerialNumber)
        return self._serial_number

    @property
    def manufacturer(self) -> str | None:
        return _get_string(self, self.iManufacturer)

    @property
    def product(self) -> str | None:
        return _get_string(self, self.iProduct)

    def ctrl_transfer(
        self,
        bmRequestType: int,
        bRequest: int,
        wValue: int = 0,
        wIndex: int = 0,
        data_or_wLength: bytes | bytearray | array.array[int] | list[int] | int | None = None,
        timeout: int | None = None,
    ) -> int | array.array[int]:
        """OUT: the bytes sent (as many as given); IN: an array (empty: we answer none)."""
        for name, value, top in (
            ("bmRequestType", bmRequestType, 0xFF),
            ("bRequest", bRequest, 0xFF),
            ("wValue", wValue, 0xFFFF),
            ("wIndex", wIndex, 0xFFFF),
        ):
            if not isinstance(value, int) or not 0 <= value <= top:
                raise ValueError(f"ctrl_transfer: {name}={value!r} out of range")
        self._check()
        self._open_once()
        recipient, kind = bmRequestType & 0x1F, bmRequestType & 0x60
        if recipient == 1 and kind != 0x40 and self._gadget.kernel_driver:
            raise _error(_BUSY)  # pyusb claims the interface; usbhid has it
        if bmRequestType & 0x80:
            self._count(0)
            return array.array("B")
        # An int sends that many zero bytes, as pyusb's create_buffer does.
        data = b"" if data_or_wLength is None else bytes(data_or_wLength)
        self._count(len(data))
        self._deliver(bmRequestType, bRequest, wValue, data)
        return len(data)

    # --- internals

    def _check(self) -> None:
        if not self._gadget.plugged:
            raise _error(_NO_DEVICE)
        if self._gadget.denied:
            raise _error(_ACCESS)

    def _open_once(self) -> None:
        if not self._open:
            self._open = True
            self._gadget.opens += 1

    def _count(self, data_bytes: int) -> None:
        gadget = self._gadget
        gadget.transfers += 1
        gadget.wire_bytes += SETUP_PACKET_BYTES + data_bytes
        if gadget.unplug_after is not None:
            gadget.unplug_after -= 1
            if gadget.unplug_after <= 0:
                gadget.plugged = False  # after this transfer

    def _deliver(self, bmRequestType: int, bRequest: int, wValue: int, data: bytes) -> None:
        firmware = self._gadget.firmware
        if firmware is None:
            return
        if bmRequestType & 0x60 != 0x20 or bRequest != 0x09:  # class request SET_REPORT
            firmware.ignored.append(f"request type {bmRequestType:#04x} {bRequest:#04x}")
            return
        report_id = wValue & 0xFF  # the firmware reads only the low byte
        self._gadget.reports.append((report_id, data))
        if firmware.set_report(report_id, data):
            write_state_file()

    def _dispose(self) -> None:
        self._open = False  # pyusb opens it again on the next transfer
        self._gadget.disposals += 1
        write_state_file()


def _get_string(device: Device, index: int, langid: int | None = None) -> str | None:
    if index == 0:
        return None
    if langid is None and not device.langids:
        raise ValueError(_NO_LANGID)
    device._check()
    device._open_once()
    gadget = device._gadget
    if gadget.firmware is None:
        return {1: "Linux Foundation", 2: "USB device", 3: gadget.serial}.get(index)
    model = gadget.firmware.model
    product = "BlinkStick" if model in (ORIGINAL, PRO) else model.name
    return {1: "Agile Innovative Ltd", 2: product, 3: gadget.serial}.get(index)


@overload
def find(
    find_all: Literal[False] = ...,
    backend: object = ...,
    custom_match: Callable[[Device], bool] | None = ...,
    **args: object,
) -> Device | None: ...
@overload
def find(
    find_all: Literal[True],
    backend: object = ...,
    custom_match: Callable[[Device], bool] | None = ...,
    **args: object,
) -> Iterator[Device]: ...
def find(
    find_all: bool = False,
    backend: object = None,
    custom_match: Callable[[Device], bool] | None = None,
    **args: object,
) -> Device | Iterator[Device] | None:
    """As pyusb: devices whose attributes equal `args` and that `custom_match` accepts;
    all of them (an iterator) or the first (None if none)."""
    if _no_backend:
        raise NoBackendError("No backend available")

    def device_iter() -> Iterator[Device]:
        for gadget in list(_bus):
            if not gadget.plugged:
                continue
            device = Device(gadget)
            tests = (value == getattr(device, key, None) for key, value in args.items())
            if all(tests) and (custom_match is None or custom_match(device)):
                yield device

    if find_all:
        return device_iter()
    return next(device_iter(), None)


# --- state file for the container tests ---------------------------------------------------


def state() -> dict[str, object]:
    """What the state file holds: each BlinkStick's LEDs and counters."""
    devices = [
        {
            "serial": gadget.serial,
            "model": gadget.firmware.model.name,
            "bcdDevice": gadget.bcd_device,
            "leds": [list(rgb) for rgb in gadget.firmware.leds()],
            "latched": gadget.firmware.latched,
            "transfers": gadget.transfers,
            "wire_bytes": gadget.wire_bytes,
            "disposals": gadget.disposals,
            "plugged": gadget.plugged,
            "ignored": gadget.firmware.ignored[-10:],
        }
        for gadget in _bus
        if gadget.firmware is not None
    ]
    return {"devices": devices, "pid": os.getpid()}


def write_state_file() -> None:
    """Write state() to $BLINKT_USB_DOUBLE_STATE (if set), atomically."""
    path = os.environ.get("BLINKT_USB_DOUBLE_STATE")
    if not path:
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".usb-double-")
    try:
        os.fchmod(fd, 0o644)  # the tests read it as another user than the agent's
        with os.fdopen(fd, "w") as f:
            json.dump(state(), f)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


if os.environ.get("BLINKT_USB_DOUBLE_DEVICES"):
    configure(*os.environ["BLINKT_USB_DOUBLE_DEVICES"].split(","))

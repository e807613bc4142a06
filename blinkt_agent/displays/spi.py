"""SPI for the Unicorn HATs: the one place spidev is imported, and its errors in one line.

python3-spidev (doceme/py-spidev) ships no type hints: `Spidev` and `SpiDev` below say
what the displays use of it, and spidev is imported through importlib, only when a
display is opened without an injected module (the tests inject tests/spidev_double).

py-spidev raises OSError from errno (PyErr_SetFromErrno): opening /dev/spidevB.D gives
FileNotFoundError when the device node is absent (SPI off: the kernel's spidev driver
made no node) and PermissionError when the user may not open it.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
from collections.abc import Callable
from typing import Protocol, cast

from blinkt_agent.errors import DisplayError
from blinkt_agent.frame import Shape

PACKAGE = "python3-spidev"
ENABLE_SPI = (
    "SPI is off: enable it (dtparam=spi=on in /boot/firmware/config.txt, "
    "or raspi-config nonint do_spi 0) and reboot"
)
ROTATIONS = (0, 90, 180, 270)  # degrees clockwise


class SpiDev(Protocol):
    """What the displays use of spidev.SpiDev."""

    max_speed_hz: int

    def open(self, bus: int, device: int, /) -> None: ...
    def close(self) -> None: ...
    def xfer2(self, values: list[int], /) -> list[int]: ...


class Spidev(Protocol):
    """The spidev module, as far as the displays use it."""

    @property
    def SpiDev(self) -> Callable[[], SpiDev]: ...


def device_path(bus: int, device: int) -> str:
    return f"/dev/spidev{bus}.{device}"


def import_spidev(display: str) -> Spidev:
    """The spidev module: DisplayError (exit 74) naming the package when it is missing."""
    try:
        module = importlib.import_module("spidev")
    except ImportError as err:
        raise DisplayError(f"display = {display}: spidev not found; apt install {PACKAGE}") from err
    return cast("Spidev", module)


def open_device(spidev: Spidev, display: str, bus: int, device: int, speed_hz: int) -> SpiDev:
    """/dev/spidev`bus`.`device` opened at `speed_hz`, or a one-line DisplayError."""
    spi = spidev.SpiDev()
    try:
        spi.open(bus, device)
        spi.max_speed_hz = speed_hz
    except OSError as err:
        with contextlib.suppress(OSError):
            spi.close()
        raise open_error(err, display, device_path(bus, device)) from err
    return spi


def open_error(err: OSError, display: str, path: str) -> DisplayError:
    reason = _reason(err)
    if isinstance(err, FileNotFoundError) or err.errno in (errno.ENODEV, errno.ENXIO):
        return DisplayError(f"display = {display}: {path}: {reason}; {ENABLE_SPI}")
    if isinstance(err, PermissionError):
        return DisplayError(
            f"display = {display}: no access to {path} ({reason}); the user needs group spi, "
            f"and a systemd unit DeviceAllow={path}"
        )
    return DisplayError(f"display = {display}: cannot open {path}: {reason}")


def write_error(err: OSError, display: str, path: str) -> DisplayError:
    return DisplayError(f"display = {display}: SPI write to {path} failed: {_reason(err)}")


def close_quietly(spi: SpiDev) -> None:
    """Close `spi`; closing a file descriptor that fails leaves nothing to hand back."""
    with contextlib.suppress(OSError):
        spi.close()


def _reason(err: OSError) -> str:
    return err.strerror or str(err) or type(err).__name__


def turned(shape: Shape, rotation: int) -> tuple[tuple[int, ...], int, int]:
    """The picture of a `shape` frame turned `rotation` degrees clockwise on the board:
    (for each LED of the board, row by row from its top left, the index of the frame
    pixel it shows; the board's width; its height)."""
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation {rotation!r}: expected one of {ROTATIONS}")
    w, h = shape.width, shape.height
    board_w, board_h = (h, w) if rotation in (90, 270) else (w, h)
    order = [0] * shape.size
    for y in range(h):
        for x in range(w):
            if rotation == 0:
                bx, by = x, y
            elif rotation == 90:  # the top left goes to the top right
                bx, by = h - 1 - y, x
            elif rotation == 180:
                bx, by = w - 1 - x, h - 1 - y
            else:  # 270: the top left goes to the bottom left
                bx, by = y, w - 1 - x
            order[by * board_w + bx] = y * w + x
    return tuple(order), board_w, board_h

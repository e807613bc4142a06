"""A simulated spidev (python3-spidev), with the board on the other end of the wire.

SpiDev implements the part of py-spidev (doceme/py-spidev, spidev_module.c) that a
display uses: open(bus, device), close(), mode, max_speed_hz, bits_per_word, no_cs,
xfer2, xfer3, writebytes, writebytes2; with its errors: OSError from errno when a call
reaches the device (FileNotFoundError when /dev/spidevB.D is absent, PermissionError
when refused, EBADF once closed, EMSGSIZE above bufsiz), TypeError and OverflowError
for bad arguments. Which devices exist, and which are refused, is configuration.

Each transfer is one chip-select frame for the board (xfer2, xfer3 and writebytes hold
CS low for the whole call; writebytes2 writes bufsiz blocks, each its own frame; with
no_cs set nothing is selected and the board ignores it), decoded per chip select:

- board "hd", the Unicorn HAT HD, on CE0: the start byte 0x72 then 768 bytes R, G, B
  latch a frame of 16x16 pixels, row by row from the top left with the Pi's GPIO header
  at the top (HDMI ports down). Another start byte, or fewer or more bytes, is not
  latched: an error is recorded and the LEDs keep the last frame.
- board "mini", the Unicorn HAT Mini: a Holtek HT16D35 on CE0 (the left 9 columns) and
  one on CE1 (the right 8). Each keeps its registers (system control, global brightness,
  COM and ROW pin enables, scroll, gray or binary mode) and its 224 bytes of gray RAM;
  the 17x7 pixels are what the two show, as seen with buttons A and B at the left: a
  pixel is lit when its controller's oscillator and display are on (system control
  0x03), brightness is not 0 and its COM and ROW pins are enabled. Unknown commands,
  wrong argument counts and writes past the RAM are errors, and change nothing.

Stdlib only: system and Molecule tests copy this file to the container's
/usr/local/lib/python3.11/dist-packages/spidev.py, configured by the environment:
BLINKT_SPI_DOUBLE_BOARD=hd|mini, BLINKT_SPI_DOUBLE_DEVICES (default "0.0,0.1"),
BLINKT_SPI_DOUBLE_REFUSED (devices whose open is refused, default none); when
BLINKT_SPI_DOUBLE_STATE names a file, the decoded pixels are written there atomically,
as JSON, after each transfer and each close.
"""

import contextlib
import errno
import json
import os
import tempfile
from collections import deque

__version__ = "3.6"  # the py-spidev release Debian bookworm ships

SPIDEV_MAXPATH = 4096  # py-spidev's own limit on xfer2/writebytes lengths
DEFAULT_BUFSIZ = 4096  # /sys/module/spidev/parameters/bufsiz
DEFAULT_SPEED_HZ = 125_000_000  # what the Pi's spidev nodes report until set
HISTORY_LIMIT = 10_000
ERROR_LIMIT = 1_000

BOARDS = ("hd", "mini")

# --- the Unicorn HAT HD: a microcontroller taking whole frames on CE0 ---------------------

HD_WIDTH = HD_HEIGHT = 16
HD_START_OF_FRAME = 0x72
HD_FRAME_BYTES = HD_WIDTH * HD_HEIGHT * 3

# --- the Unicorn HAT Mini: two HT16D35 LED controllers ------------------------------------

MINI_WIDTH, MINI_HEIGHT = 17, 7
MINI_LEFT_COLUMNS = 9  # CE0's controller; CE1's has the other 8
HT_ROWS, HT_COMS = 28, 8
HT_RAM_BYTES = HT_ROWS * HT_COMS  # gray mode: one 6-bit level per LED channel
HT_MAX_BRIGHTNESS = 64  # BC[6:0]: 64 steps, 0x40 the most
# The HT16D35 commands and how many data bytes follow each (write display: an address,
# then any number of bytes).
HT_SCROLL_CTRL = 0x20
HT_GRAY_BINARY = 0x31
HT_COM_NUMBER = 0x32
HT_BLINK = 0x33
HT_CASCADE = 0x34
HT_SYSTEM_CTRL = 0x35
HT_CURRENT = 0x36
HT_GLOBAL_BRIGHTNESS = 0x37
HT_MODE_CTRL = 0x38
HT_COM_PIN_CTRL = 0x41
HT_ROW_PIN_CTRL = 0x42
HT_WRITE_DISPLAY = 0x80
HT_SOFT_RESET = 0xCC
_HT_DATA_BYTES = {
    HT_SOFT_RESET: 0,
    HT_SCROLL_CTRL: 1,
    HT_GRAY_BINARY: 1,
    HT_COM_NUMBER: 1,
    HT_BLINK: 1,
    HT_CASCADE: 1,
    HT_SYSTEM_CTRL: 1,
    HT_CURRENT: 1,
    HT_GLOBAL_BRIGHTNESS: 1,
    HT_MODE_CTRL: 1,
    HT_COM_PIN_CTRL: 1,
    HT_ROW_PIN_CTRL: 4,
}
# How the Mini's LEDs hang on the controllers, read off the 119-entry lookup table of
# pimoroni/unicornhatmini-python: the ROWs lighting red, green and blue in each column
# of a controller, and the COM driving each display row (ROW 0 and COM 0 unused).
MINI_COLUMN_ROWS = (
    (27, 26, 25),
    (24, 23, 22),
    (1, 3, 2),
    (4, 6, 5),
    (7, 9, 8),
    (10, 12, 11),
    (13, 15, 14),
    (16, 18, 17),
    (19, 21, 20),
)
MINI_ROW_COMS = (4, 7, 5, 6, 3, 1, 2)


class Ht16d35:
    """One HT16D35: its registers and gray RAM, as the SPI commands leave them."""

    def __init__(self, name):
        self.name = name
        self.ram = bytearray(HT_RAM_BYTES)  # not cleared by a reset
        self.resets = 0
        self.ram_writes = 0
        self.commands = []  # the command byte of each accepted transfer, oldest first
        self._defaults()

    def _defaults(self):
        self.system = 0x00  # bit 1 oscillator, bit 0 display: both off
        self.brightness = HT_MAX_BRIGHTNESS
        self.com_pins = 0x00  # COM and ROW outputs high impedance
        self.row_pins = 0x0000000
        self.scroll = 0x00
        self.binary = False
        self.registers = {}  # the other one-byte settings, by command

    def receive(self, data):
        """Decode one CS frame; an error message (the frame changes nothing) or None."""
        command, args = data[0], data[1:]
        if command == HT_WRITE_DISPLAY:
            return self._write_display(args)
        expected = _HT_DATA_BYTES.get(command)
        if expected is None:
            return f"{self.name}: unknown command 0x{command:02x}"
        if len(args) != expected:
            return (
                f"{self.name}: command 0x{command:02x} takes {expected} data bytes, got {len(args)}"
            )
        if command == HT_SOFT_RESET:
            self._defaults()
            self.resets += 1
        elif command == HT_SYSTEM_CTRL:
            self.system = args[0] & 0x03
        elif command == HT_GLOBAL_BRIGHTNESS:
            if args[0] > HT_MAX_BRIGHTNESS:
                return f"{self.name}: global brightness {args[0]} is above {HT_MAX_BRIGHTNESS}"
            self.brightness = args[0]
        elif command == HT_COM_PIN_CTRL:
            self.com_pins = args[0]
        elif command == HT_ROW_PIN_CTRL:
            self.row_pins = int.from_bytes(args, "little") & (1 << HT_ROWS) - 1
        elif command == HT_SCROLL_CTRL:
            self.scroll = args[0]
        elif command == HT_GRAY_BINARY:
            self.binary = bool(args[0] & 1)
        else:
            self.registers[command] = args[0]
        self.commands.append(command)
        return None

    def _write_display(self, args):
        if not args:
            return f"{self.name}: write display without an address"
        address, levels = args[0], args[1:]
        if address + len(levels) > HT_RAM_BYTES:
            return (
                f"{self.name}: write display of {len(levels)} bytes at 0x{address:02x} "
                f"runs past the RAM's {HT_RAM_BYTES}"
            )
        self.ram[address : address + len(levels)] = bytes(level & 0x3F for level in levels)
        self.ram_writes += 1
        self.commands.append(HT_WRITE_DISPLAY)
        return None

    @property
    def showing(self):
        """Whether the LEDs show the RAM: oscillator and display on, some brightness."""
        return self.system == 0x03 and self.brightness > 0 and not self.binary

    def level(self, com, row):
        """The 6-bit level the LED channel at COM `com`, ROW `row` is lit at (0: dark)."""
        lit = self.showing and self.com_pins >> com & 1 and self.row_pins >> row & 1
        return self.ram[com * HT_ROWS + row] if lit else 0

    def state(self):
        return {
            "resets": self.resets,
            "system": self.system,
            "brightness": self.brightness,
            "com_pins": self.com_pins,
            "row_pins": self.row_pins,
            "scroll": self.scroll,
            "binary": self.binary,
            "ram_writes": self.ram_writes,
            "showing": bool(self.showing),
        }


class UnicornHatHd:
    """The HD's microcontroller: whole frames on CE0."""

    width, height = HD_WIDTH, HD_HEIGHT

    def __init__(self):
        self.leds = [(0, 0, 0)] * (HD_WIDTH * HD_HEIGHT)
        self.frames = 0

    def receive(self, device, data):
        if device != (0, 0):
            return f"{_name(device)}: nothing of the Unicorn HAT HD listens on CE{device[1]}"
        if data[0] != HD_START_OF_FRAME:
            return f"start byte 0x{data[0]:02x} is not 0x{HD_START_OF_FRAME:02x}: not latched"
        if len(data) - 1 != HD_FRAME_BYTES:
            return f"frame of {len(data) - 1} bytes, not {HD_FRAME_BYTES}: not latched"
        self.leds = [tuple(data[i : i + 3]) for i in range(1, len(data), 3)]
        self.frames += 1
        return None

    def board_pixels(self):
        return list(self.leds)

    def state(self):
        return {"frames": self.frames}


class UnicornHatMini:
    """Two HT16D35s: CE0's drives the left 9 columns, CE1's the right 8."""

    width, height = MINI_WIDTH, MINI_HEIGHT

    def __init__(self):
        self.controllers = {(0, 0): Ht16d35("CE0"), (0, 1): Ht16d35("CE1")}

    def receive(self, device, data):
        controller = self.controllers.get(device)
        if controller is None:
            return f"{_name(device)}: the Unicorn HAT Mini is on CE0 and CE1 of bus 0"
        return controller.receive(data)

    @property
    def frames(self):
        """Whole pictures written: RAM writes that reached both controllers."""
        return min(c.ram_writes for c in self.controllers.values())

    def board_pixels(self):
        pixels = []
        for y in range(MINI_HEIGHT):
            com = MINI_ROW_COMS[y]
            for x in range(MINI_WIDTH):
                right = x >= MINI_LEFT_COLUMNS
                controller = self.controllers[(0, 1) if right else (0, 0)]
                rows = MINI_COLUMN_ROWS[x - MINI_LEFT_COLUMNS if right else x]
                pixels.append(tuple(controller.level(com, row) for row in rows))
        return pixels

    def state(self):
        return {
            "frames": self.frames,
            "controllers": [c.state() for c in self.controllers.values()],
        }


def _name(device):
    return f"{device[0]}.{device[1]}"


def _parse_devices(text):
    devices = set()
    for item in text.replace(" ", "").split(","):
        if item:
            bus, _, device = item.partition(".")
            devices.add((int(bus), int(device)))
    return devices


def _fresh_state():
    board = os.environ.get("BLINKT_SPI_DOUBLE_BOARD", "hd")
    if board not in BOARDS:
        raise ValueError(f"BLINKT_SPI_DOUBLE_BOARD={board!r}: expected one of {BOARDS}")
    return {
        "board": board,
        "decoder": UnicornHatHd() if board == "hd" else UnicornHatMini(),
        "devices": _parse_devices(os.environ.get("BLINKT_SPI_DOUBLE_DEVICES", "0.0,0.1")),
        "refused": _parse_devices(os.environ.get("BLINKT_SPI_DOUBLE_REFUSED", "")),
        "write_error": None,
        "bufsiz": DEFAULT_BUFSIZ,
        "open": {},  # (bus, device) → the SpiDev opens holding it (one token each)
        "speed_hz": {},  # (bus, device) → the last max_speed_hz set
        "opens": 0,
        "transfers": {},  # (bus, device) → count
        "wire_bytes": {},  # (bus, device) → bytes clocked out
        "history": deque(maxlen=HISTORY_LIMIT),  # ((bus, device), bytes)
        "errors": deque(maxlen=ERROR_LIMIT),
    }


_state = _fresh_state()


def _os_error(code):
    return OSError(code, os.strerror(code))  # PyErr_SetFromErrno: no file name


# --- the spidev API -----------------------------------------------------------------------


class SpiDev:
    """SpiDev([bus], [client]): a handle on /dev/spidev<bus>.<client>, opened if given."""

    def __init__(self, bus=-1, client=-1):
        self._device = None
        self._token = None
        self._mode = 0
        self._bits_per_word = 0
        self._max_speed_hz = 0
        self._no_cs = False
        if bus >= 0:
            self.open(bus, client)

    def open(self, bus, device):
        if not isinstance(bus, int) or not isinstance(device, int):
            raise TypeError("an integer is required")
        key = (bus, device)
        if key not in _state["devices"]:
            raise _os_error(errno.ENOENT)
        if key in _state["refused"]:
            raise _os_error(errno.EACCES)
        if self._device is not None:  # py-spidev opens again and leaks the old fd
            self.close()
        self._device, self._token = key, object()
        self._mode, self._bits_per_word = 0, 8
        self._max_speed_hz = _state["speed_hz"].get(key, DEFAULT_SPEED_HZ)
        _state["open"].setdefault(key, set()).add(self._token)
        _state["opens"] += 1

    def close(self):
        if self._device is None:
            return
        key, self._device = self._device, None
        self._mode = self._bits_per_word = self._max_speed_hz = 0
        holders = _state["open"].get(key, set())  # opened before a reset(): not there
        holders.discard(self._token)
        if not holders:
            _state["open"].pop(key, None)
        _write_state_file()

    def fileno(self):
        return -1 if self._device is None else 3 + self._device[0] * 8 + self._device[1]

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def __del__(self):  # py-spidev's dealloc closes the device
        with contextlib.suppress(Exception):  # at interpreter exit the module may be half gone
            self.close()

    # Settings: each reaches the device through an ioctl, so needs it open (EBADF).

    def _set(self, name, value, valid):
        if not isinstance(value, int):
            raise TypeError(f"The {name} attribute must be an integer")
        if not valid(value):
            raise TypeError(f"The {name} attribute must be valid")
        if value != getattr(self, "_" + name):
            if self._device is None:
                raise _os_error(errno.EBADF)
            setattr(self, "_" + name, value)
            if name == "max_speed_hz":
                _state["speed_hz"][self._device] = value

    @property
    def mode(self):
        return self._mode

    @mode.setter
    def mode(self, value):
        self._set("mode", value, lambda v: 0 <= v <= 3)

    @property
    def bits_per_word(self):
        return self._bits_per_word

    @bits_per_word.setter
    def bits_per_word(self, value):
        self._set("bits_per_word", value, lambda v: 8 <= v <= 16)

    @property
    def max_speed_hz(self):
        return self._max_speed_hz

    @max_speed_hz.setter
    def max_speed_hz(self, value):
        self._set("max_speed_hz", value, lambda v: v > 0)

    @property
    def no_cs(self):
        return self._no_cs

    @no_cs.setter
    def no_cs(self, value):
        if not isinstance(value, bool):
            raise TypeError("The no_cs attribute must be boolean")
        self._no_cs = value

    # Transfers.

    def xfer2(self, values, speed_hz=0, delay_usecs=0, bits_per_word=0):
        """One transfer, CS held for all of it; returns what came back (zeros: the
        boards only listen), in the list given (py-spidev writes it in place)."""
        data = _octets(values, SPIDEV_MAXPATH)
        if len(data) > _state["bufsiz"]:
            raise _os_error(errno.EMSGSIZE)
        self._transfer(data)
        return _answer(values, len(data))

    def xfer3(self, values, speed_hz=0, delay_usecs=0, bits_per_word=0):
        """Any length, in bufsiz blocks with CS held between them: one frame."""
        data = _octets(values, None)
        self._transfer(data)
        return _answer(values, len(data))

    def writebytes(self, values):
        data = _octets(values, SPIDEV_MAXPATH)
        if len(data) > _state["bufsiz"]:
            raise _os_error(errno.EMSGSIZE)
        self._transfer(data)

    def writebytes2(self, values):
        """Any length (a buffer or a sequence), written in bufsiz blocks: each block is
        its own write(), so its own CS frame."""
        try:
            data = bytes(memoryview(values))
        except TypeError:
            data = _octets(values, None)
        if not data:
            raise TypeError("Empty argument list.")
        size = _state["bufsiz"]
        for start in range(0, len(data), size):
            self._transfer(data[start : start + size])

    def _transfer(self, data):
        if self._device is None:
            raise _os_error(errno.EBADF)
        if _state["write_error"] is not None:
            raise _os_error(_state["write_error"])
        key = self._device
        _state["transfers"][key] = _state["transfers"].get(key, 0) + 1
        _state["wire_bytes"][key] = _state["wire_bytes"].get(key, 0) + len(data)
        _state["history"].append((key, data))
        if self._no_cs:
            _state["errors"].append(f"{_name(key)}: no_cs is set: no chip selected, ignored")
        else:
            error = _state["decoder"].receive(key, data)
            if error:
                _state["errors"].append(error)
        _write_state_file()


def _octets(values, limit):
    """The bytes py-spidev sends for `values`: any sequence of ints, each cut to 8 bits."""
    if isinstance(values, str):
        raise TypeError("Non-Int/Long value in arguments: a string.")
    try:
        items = list(values)
    except TypeError:
        raise TypeError("expected a sequence") from None
    if not items:
        raise TypeError("Empty argument list.")
    if limit is not None and len(items) > limit:
        raise OverflowError(f"Argument list size exceeds {limit} bytes.")
    for item in items:
        if not isinstance(item, int):
            raise TypeError(f"Non-Int/Long value in arguments: {item!r}.")
    return bytes(item & 0xFF for item in items)


def _answer(values, length):
    if isinstance(values, list):
        values[:] = [0] * length
        return values
    if isinstance(values, tuple):
        return (0,) * length
    return [0] * length


# --- test helpers -------------------------------------------------------------------------


def configure(board=None, devices=None, refused=None, write_error=None, bufsiz=None):
    """Choose the board ("hd" or "mini": a fresh one), the /dev/spidevB.D that exist and
    those refused (sets of (bus, device) or "B.D,B.D" strings), an errno every transfer
    fails with (None: they succeed) and the spidev module's bufsiz."""
    if board is not None:
        if board not in BOARDS:
            raise ValueError(f"board {board!r}: expected one of {BOARDS}")
        _state["board"] = board
        _state["decoder"] = UnicornHatHd() if board == "hd" else UnicornHatMini()
    if devices is not None:
        _state["devices"] = _parse_devices(devices) if isinstance(devices, str) else set(devices)
    if refused is not None:
        _state["refused"] = _parse_devices(refused) if isinstance(refused, str) else set(refused)
    _state["write_error"] = write_error
    if bufsiz is not None:
        _state["bufsiz"] = bufsiz


def reset():
    """Forget everything: board state, devices, counters, errors (back to the environment)."""
    _state.clear()
    _state.update(_fresh_state())


def board():
    return _state["board"]


def size():
    """(width, height) of the board's picture."""
    decoder = _state["decoder"]
    return decoder.width, decoder.height


def pixels(rotation=0):
    """What a person sees, row by row from the top left: (r, g, b) per pixel (0..255 on
    the HD, the 6-bit levels 0..63 on the Mini). `rotation`: the board as mounted for a
    display set to turn its picture that many degrees clockwise (so the board itself is
    turned as many degrees anticlockwise, and the picture stands upright)."""
    decoder = _state["decoder"]
    board_pixels = decoder.board_pixels()
    width, height = decoder.width, decoder.height
    if rotation in (90, 270) and width != height:
        raise ValueError(f"a {width}x{height} board cannot be turned {rotation} degrees")
    seen = []
    for y in range(height):
        for x in range(width):
            if rotation == 0:
                bx, by = x, y
            elif rotation == 90:
                bx, by = width - 1 - y, x
            elif rotation == 180:
                bx, by = width - 1 - x, height - 1 - y
            elif rotation == 270:
                bx, by = y, height - 1 - x
            else:
                raise ValueError(f"rotation {rotation!r}: expected 0, 90, 180 or 270")
            seen.append(board_pixels[by * width + bx])
    return seen


def frames_latched():
    """HD: frames latched; Mini: pictures written to both controllers' RAM."""
    return _state["decoder"].frames


def controllers():
    """The Mini's two HT16D35s' registers (CE0's, then CE1's); [] for the HD."""
    decoder = _state["decoder"]
    return decoder.state()["controllers"] if _state["board"] == "mini" else []


def commands(bus, device):
    """The Mini: the command bytes the controller on bus.device accepted, oldest first."""
    return list(_state["decoder"].controllers[(bus, device)].commands)


def transfers(bus=None, device=None):
    """How many CS frames were sent (to bus.device; None: to any)."""
    return _count(_state["transfers"], bus, device)


def wire_bytes(bus=None, device=None):
    """How many bytes were clocked out (to bus.device; None: to any)."""
    return _count(_state["wire_bytes"], bus, device)


def _count(counts, bus, device):
    if bus is None:
        return sum(counts.values())
    return counts.get((bus, device), 0)


def history():
    """("B.D", bytes) for every CS frame, oldest first (the last HISTORY_LIMIT)."""
    return [(_name(key), data) for key, data in _state["history"]]


def errors():
    """Why transfers were not taken (not latched, malformed, unknown), oldest first."""
    return list(_state["errors"])


def is_open(bus, device):
    """Whether some SpiDev has /dev/spidev<bus>.<device> open."""
    return (bus, device) in _state["open"]


def opens():
    """How many times a device was opened."""
    return _state["opens"]


def speed_hz(bus, device):
    """The last max_speed_hz set on bus.device (None: never set)."""
    return _state["speed_hz"].get((bus, device))


def _write_state_file():
    path = os.environ.get("BLINKT_SPI_DOUBLE_STATE")
    if not path:
        return
    width, height = size()
    state = {
        "board": _state["board"],
        "width": width,
        "height": height,
        "pixels": [{"r": r, "g": g, "b": b} for r, g, b in pixels()],
        "frames": frames_latched(),
        "transfers": transfers(),
        "wire_bytes": wire_bytes(),
        "open": sorted(_name(key) for key in _state["open"]),
        "errors": errors()[-20:],
        "pid": os.getpid(),
    }
    if _state["board"] == "mini":
        state["controllers"] = controllers()
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".spi-double-")
    try:
        os.fchmod(fd, 0o644)  # the tests read it as another user than the agent's
        with os.fdopen(fd, "w") as f:
            json.dump(state, f)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise

"""A simulated RPi.GPIO: records pin levels and decodes the APA102 bit stream.

Implements the part of RPi.GPIO that an APA102 driver uses, raising the
same errors as the real module, and decodes what is clocked out on the
data/clock pins the way the LEDs would (apa102.py, sampling the data pin on
each rising clock edge): pixels() is what a Blinkt! shows. LEDs on pins of
their own (a traffic light) are what high() says: lit while driven HIGH.

Stdlib only: the container tests copy this package to .../dist-packages/RPi/.
When BLINKT_GPIO_DOUBLE_STATE names a file, the decoded LEDs and the level of
every output pin ("pins": {"9": 1, ...}) are written there (atomically) after
each latched frame, on cleanup, and when a pin other than the APA102's data and
clock pins is set up or changes its level.
"""

import json
import os
import tempfile
import time
from collections import Counter, deque
from typing import Final

from .apa102 import Apa102Decoder

VERSION = "0.7.1"
RPI_INFO = {
    "P1_REVISION": 3,
    "REVISION": "c03112",
    "TYPE": "Pi 4 Model B",
    "MANUFACTURER": "Sony UK",
    "PROCESSOR": "BCM2711",
    "RAM": "4GB",
}
RPI_REVISION = RPI_INFO["P1_REVISION"]

# Final, as in RPi.GPIO's stubs: mypy checks this module against blinkt.Gpio.
UNKNOWN: Final = -1
BOARD: Final = 10
BCM: Final = 11
OUT: Final = 0
IN: Final = 1
LOW: Final = 0
HIGH: Final = 1

HISTORY_LIMIT = 100_000  # the agent may run for days on the double in the container tests

# 40-pin header: board pin → BCM GPIO number.
_BOARD_TO_BCM = {
    3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23, 18: 24, 19: 10,
    21: 9, 22: 25, 23: 11, 24: 8, 26: 7, 29: 5, 31: 6, 32: 12, 33: 13, 35: 19, 36: 16, 37: 26,
    38: 20, 40: 21,
}  # fmt: skip


def _fresh_state():
    return {
        "mode": UNKNOWN,
        "warnings": True,
        "pins": {},  # BCM number → {"direction": OUT|IN, "level": LOW|HIGH}
        "history": deque(maxlen=HISTORY_LIMIT),
        "writes": Counter(),  # BCM number → output() calls, also those that change nothing
        "decoder": Apa102Decoder(),
        "data_pin": 23,
        "clock_pin": 24,
        "cleaned_up": False,
    }


_state = _fresh_state()


# --- RPi.GPIO API --------------------------------------------------------------------


def setmode(mode):
    if mode not in (BOARD, BCM):
        raise ValueError("An invalid mode was passed to setmode()")
    if _state["mode"] != UNKNOWN and mode != _state["mode"]:
        raise ValueError("A different mode has already been set!")
    _state["mode"] = mode


def getmode():
    return None if _state["mode"] == UNKNOWN else _state["mode"]


def setwarnings(flag):
    _state["warnings"] = bool(flag)


def setup(channel, direction, pull_up_down=None, initial=None):
    if direction not in (IN, OUT):
        raise ValueError("An invalid direction was passed to setup()")
    if direction == IN and initial is not None:
        raise ValueError("initial parameter is not valid for inputs")
    apa102 = (_state["data_pin"], _state["clock_pin"])
    gpios = _gpios(channel)
    for gpio in gpios:
        level = LOW if initial is None else int(bool(initial))
        _state["pins"][gpio] = {"direction": direction, "level": level}
        _record(gpio, level)
        if gpio in apa102:
            _state["cleaned_up"] = False
    if direction == OUT and any(gpio not in apa102 for gpio in gpios):
        _write_state_file()


def output(channel, value):
    gpios = _gpios(channel)
    values = list(value) if isinstance(value, list | tuple) else [value]
    if len(values) == 1:
        values *= len(gpios)
    if len(values) != len(gpios):
        raise RuntimeError("Number of channels != number of values")
    for gpio, level in zip(gpios, values, strict=True):
        pin = _state["pins"].get(gpio)
        if pin is None or pin["direction"] != OUT:
            raise RuntimeError("The GPIO channel has not been set up as an OUTPUT")
        _state["writes"][gpio] += 1
        _drive(gpio, pin, int(bool(level)))


def input(channel):
    (gpio,) = _gpios(channel)
    if gpio not in _state["pins"]:
        raise RuntimeError("You must setup() the GPIO channel first")
    return _state["pins"][gpio]["level"]


def cleanup(channel=None):
    """Release the given channels (all when None) back to inputs; LEDs keep their state."""
    if channel is None:
        _state["pins"].clear()
        _state["mode"] = UNKNOWN
    else:
        for gpio in _gpios(channel):
            _state["pins"].pop(gpio, None)
    if not {_state["data_pin"], _state["clock_pin"]} & _state["pins"].keys():
        _state["cleaned_up"] = True
    _write_state_file()


# --- test helpers --------------------------------------------------------------------


def configure(data_pin=23, clock_pin=24):
    """Decode the APA102 stream on these BCM pins (the Blinkt! uses 23 and 24)."""
    _state["data_pin"], _state["clock_pin"] = data_pin, clock_pin


def reset():
    """Forget everything: mode, pins, history, decoded LEDs, configured pins."""
    _state.clear()
    _state.update(_fresh_state())


def pixels():
    """The 8 LEDs as last latched: (r, g, b, brightness 0..31) each."""
    return list(_state["decoder"].pixels)


def frames_latched():
    return _state["decoder"].frames


def errors():
    """Why frames were dropped (bad LED word headers), oldest first."""
    return list(_state["decoder"].errors)


def history():
    """(monotonic ns, BCM pin, level) for every level change, oldest first."""
    return list(_state["history"])


def is_setup(gpio):
    """Whether BCM pin `gpio` is currently claimed (set up and not cleaned up)."""
    return gpio in _state["pins"]


def high(pins):
    """Those of the BCM `pins` (in their order) that are outputs driven HIGH: the lit
    ones, for LEDs on pins of their own. A pin cleaned up is an input: not lit."""
    claimed = _state["pins"]
    return [
        gpio
        for gpio in pins
        if gpio in claimed and claimed[gpio]["direction"] == OUT and claimed[gpio]["level"] == HIGH
    ]


def levels():
    """{BCM pin: level} of every pin set up as an output (the state file's "pins")."""
    return {gpio: pin["level"] for gpio, pin in _state["pins"].items() if pin["direction"] == OUT}


def writes(pins=None):
    """How many output() calls went to the BCM `pins` (all pins when None), counting
    those that left the level as it was (history() records only changes)."""
    counts = _state["writes"]
    return sum(counts.values()) if pins is None else sum(counts[gpio] for gpio in pins)


# --- internals -----------------------------------------------------------------------


def _gpios(channel):
    if _state["mode"] == UNKNOWN:
        raise RuntimeError(
            "Please set pin numbering mode using GPIO.setmode(GPIO.BOARD) or GPIO.setmode(GPIO.BCM)"
        )
    channels = list(channel) if isinstance(channel, list | tuple) else [channel]
    if _state["mode"] == BCM:
        if not all(isinstance(c, int) and 0 <= c <= 53 for c in channels):
            raise ValueError("The channel sent is invalid on a Raspberry Pi")
        return channels
    if not all(c in _BOARD_TO_BCM for c in channels):
        raise ValueError("The channel sent is invalid on a Raspberry Pi")
    return [_BOARD_TO_BCM[c] for c in channels]


def _record(gpio, level):
    _state["history"].append((time.monotonic_ns(), gpio, level))


def _drive(gpio, pin, level):
    if level == pin["level"]:
        return
    pin["level"] = level
    _record(gpio, level)
    if gpio == _state["clock_pin"]:
        if level == HIGH:
            data = _state["pins"].get(_state["data_pin"])
            if _state["decoder"].clock(data["level"] if data else LOW):
                _write_state_file()
    elif gpio != _state["data_pin"]:
        _write_state_file()


def _write_state_file():
    path = os.environ.get("BLINKT_GPIO_DOUBLE_STATE")
    if not path:
        return
    state = {
        "pixels": [{"r": r, "g": g, "b": b, "brightness": b5 / 31} for r, g, b, b5 in pixels()],
        "frames": frames_latched(),
        "cleaned_up": _state["cleaned_up"],
        "pins": {str(gpio): level for gpio, level in sorted(levels().items())},
        "pid": os.getpid(),
    }
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".gpio-double-")
    try:
        os.fchmod(fd, 0o644)  # the tests read it as another user than the agent's
        with os.fdopen(fd, "w") as f:
            json.dump(state, f)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise

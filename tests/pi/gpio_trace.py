"""The LEDs of a Blinkt!, decoded from QEMU's trace of the bcm2835 GPIO registers.

QEMU's raspi3b GPIO model has no trace events of its own, but the generic
`memory_region_ops_write` event logs every write to it (name 'bcm2835_gpio',
absolute address, value). Replaying those writes gives each pin's function and
output latch over time (BCM2835 ARM Peripherals, section 6.1):

    GPFSEL0..5  0x00..0x14  3 bits a pin, 10 pins a register; 001 = output
    GPSET0/1    0x1c/0x20   a 1 bit drives that pin high
    GPCLR0/1    0x28/0x2c   a 1 bit drives that pin low

Every other register (pull-ups, edge detection) changes no output and is
ignored. A pin drives its latch only while it is an output; Linux's pinctrl
driver makes a pin an input again when a process releases the line. The
APA102 bits are the data pin's level at each rising edge of the clock pin
while both are outputs, decoded by the same Apa102Decoder as the RPi.GPIO
double's. Pure: lines in, events out (the emulator feeds it from a thread).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.gpio_double.RPi.apa102 import Apa102Decoder

NUM_PINS = 54
GPFSEL0, GPFSEL5 = 0x00, 0x14
GPSET0, GPSET1 = 0x1C, 0x20
GPCLR0, GPCLR1 = 0x28, 0x2C
FUNCTION_INPUT, FUNCTION_OUTPUT = 0b000, 0b001
REGISTER_SPAN = 0x1000  # the GPIO block; QEMU logs absolute addresses

# With `-msg timestamp=on` QEMU prefixes "<pid>@<seconds>.<microseconds>:" (host time).
TRACE_LINE = re.compile(
    r"(?:\d+@(?P<time>\d+\.\d+):)?memory_region_ops_write cpu -?\d+ mr 0x[0-9a-f]+ "
    r"addr 0x(?P<addr>[0-9a-f]+) value 0x(?P<value>[0-9a-f]+) size \d+ name 'bcm2835_gpio'"
)


@dataclass(frozen=True)
class Write:
    """One register write: host time (seconds, None when untimed), offset in the block, value."""

    time: float | None
    offset: int
    value: int


def parse(line: str) -> Write | None:
    """The GPIO register write a trace line records; None for any other line."""
    match = TRACE_LINE.search(line)
    if match is None:
        return None
    time = float(match["time"]) if match["time"] else None
    return Write(time, int(match["addr"], 16) % REGISTER_SPAN, int(match["value"], 16))


class GpioBlock:
    """The 54 pins' functions and output latches, replayed from register writes."""

    def __init__(self) -> None:
        self.function = [FUNCTION_INPUT] * NUM_PINS  # the reset state
        self.latch = [0] * NUM_PINS

    def write(self, offset: int, value: int) -> None:
        if GPFSEL0 <= offset <= GPFSEL5 and offset % 4 == 0:
            first = offset // 4 * 10
            for pin in range(first, min(first + 10, NUM_PINS)):
                self.function[pin] = value >> (pin - first) * 3 & 0b111
        elif offset in (GPSET0, GPSET1, GPCLR0, GPCLR1):
            level = 1 if offset in (GPSET0, GPSET1) else 0
            base = 0 if offset in (GPSET0, GPCLR0) else 32
            for bit in range(32):
                if value >> bit & 1 and base + bit < NUM_PINS:
                    self.latch[base + bit] = level

    def driven(self, pin: int) -> int | None:
        """The level an output pin drives; None while it is not an output."""
        return self.latch[pin] if self.function[pin] == FUNCTION_OUTPUT else None


@dataclass(frozen=True)
class Event:
    """What the Blinkt!'s pins did: "claimed" (both became outputs), "released"
    (no longer both outputs), or "frame" (the LEDs latched `pixels`,
    (r, g, b, brightness 0..31) each)."""

    time: float | None
    kind: str
    pixels: tuple[tuple[int, int, int, int], ...] | None = None

    @property
    def dark(self) -> bool:
        return self.pixels is not None and all(p[3] == 0 or p[:3] == (0, 0, 0) for p in self.pixels)


class BlinktTrace:
    """Decodes a Blinkt! on BCM `data_pin`/`clock_pin` (23/24 as wired) from trace lines."""

    def __init__(self, data_pin: int = 23, clock_pin: int = 24) -> None:
        self.data_pin, self.clock_pin = data_pin, clock_pin
        self.gpio = GpioBlock()
        self.decoder = Apa102Decoder()
        self.events: list[Event] = []
        self.writes = 0

    @property
    def errors(self) -> list[str]:
        """Why frames were dropped (bad LED word headers), oldest first."""
        return list(self.decoder.errors)

    def feed_line(self, line: str) -> None:
        write = parse(line)
        if write is not None:
            self.feed(write)

    def feed(self, write: Write) -> None:
        self.writes += 1
        clock_before = self.gpio.driven(self.clock_pin)
        claimed_before = self._claimed()
        self.gpio.write(write.offset, write.value)
        claimed = self._claimed()
        if claimed and not claimed_before:
            self.events.append(Event(write.time, "claimed"))
        if clock_before == 0 and self.gpio.driven(self.clock_pin) == 1:
            data = self.gpio.driven(self.data_pin)
            if self.decoder.clock(data or 0):
                pixels = tuple(self.decoder.pixels)
                self.events.append(Event(write.time, "frame", pixels))
        if claimed_before and not claimed:
            self.events.append(Event(write.time, "released"))

    def _claimed(self) -> bool:
        return None not in (self.gpio.driven(self.data_pin), self.gpio.driven(self.clock_pin))

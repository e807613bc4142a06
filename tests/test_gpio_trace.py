"""The emulated Pi's LED decoder (tests/pi/gpio_trace.py), fed recorded and synthesised
QEMU trace lines of the bcm2835 GPIO registers."""

import gzip
from pathlib import Path

import pytest

from blinkt_agent.displays.blinkt import apa102_bits
from blinkt_agent.frame import DARK, Pixel, apa102_brightness, make_frame
from blinkt_agent.mapping import status_frame
from tests.pi.gpio_trace import BlinktTrace, GpioBlock, Write, parse

# Recorded on the emulated Pi (make pi): the packaged agent's first run on Debian with no
# Consul to ask, then `apt-get purge`: the agent's session (status patterns, dark on
# SIGTERM) and ExecStopPost's (dark again).
RECORDED = Path(__file__).parent / "pi" / "data" / "agent-debian-first-run.trace.gz"
BASE = 0x3F200000  # where the raspi3b machine maps the GPIO block


def line(offset, value, time=1795426663.171273):
    seconds, micros = divmod(round(time * 1e6), 1_000_000)
    return (
        f"23865@{seconds}.{micros:06d}:memory_region_ops_write cpu 2 mr 0x7fbe39579850 "
        f"addr 0x{BASE + offset:x} value 0x{value:x} size 4 name 'bcm2835_gpio'"
    )


class Kernel:
    """Writes the registers the way Linux's pinctrl-bcm2835 does for a process
    driving lines through /dev/gpiochip0 (seen in the emulated Pi's trace):
    claiming sets the level, then read-modify-writes GPFSEL; releasing makes
    the pin an input again."""

    def __init__(self):
        self.fsel = [0] * 6
        self.lines = []

    def _fsel(self, pin, function):
        reg = pin // 10
        shift = pin % 10 * 3
        self.fsel[reg] = self.fsel[reg] & ~(0b111 << shift) | function << shift
        self.lines.append(line(reg * 4, self.fsel[reg]))

    def claim(self, *pins):
        for pin in pins:
            self.lines.append(line(0x28 if pin < 32 else 0x2C, 1 << pin % 32))
            self._fsel(pin, 0b001)

    def release(self, *pins):
        for pin in pins:
            self._fsel(pin, 0b000)

    def level(self, pin, value):
        register = (0x1C if value else 0x28) + (4 if pin >= 32 else 0)
        self.lines.append(line(register, 1 << pin % 32))

    def clock_out(self, bits, data=23, clock=24):
        for bit in bits:
            self.level(data, bit)
            self.level(clock, 1)
            self.level(clock, 0)

    def show(self, frame):
        self.claim(23, 24)
        self.clock_out(apa102_bits(frame))
        self.release(23, 24)
        return self.lines


def decode(lines):
    trace = BlinktTrace()
    for text in lines:
        trace.feed_line(text)
    return trace


def expected(frame):
    return tuple((p.r, p.g, p.b, apa102_brightness(p.brightness)) for p in frame)


FRAME = make_frame(
    [Pixel(16, 160, 48, 0.45), Pixel(0, 0, 255, 0.2), Pixel(255, 0, 0, 1.0), Pixel(1, 2, 3, 0.01)]
)


def test_parse_reads_time_offset_and_value_of_a_gpio_write():
    assert parse(line(0x28, 0x1000000)) == Write(1795426663.171273, 0x28, 0x1000000)
    untimed = line(0x1C, 0x800000).split(":", 1)[1]  # QEMU without -msg timestamp=on
    assert parse(untimed) == Write(None, 0x1C, 0x800000)


def test_parse_ignores_other_devices_and_other_events():
    assert parse(line(0x28, 1).replace("bcm2835_gpio", "bcm2835_sdhci")) is None
    assert parse("memory_region_ops_read cpu 0 mr 0x1 addr 0x3f200034 value 0x0 size 4") is None
    assert parse("") is None


def test_fsel_registers_set_three_bits_a_pin():
    gpio = GpioBlock()
    gpio.write(0x08, 0b001_001 << 9)  # GPFSEL2: pins 23 and 24 outputs
    gpio.write(0x14, 0b001 << 9)  # GPFSEL5: pin 53
    assert [gpio.function[pin] for pin in (22, 23, 24, 25, 53)] == [0, 1, 1, 0, 1]
    gpio.write(0x08, 0b100 << 12)  # pin 24 to ALT0, pin 23 back to input
    assert (gpio.function[23], gpio.function[24]) == (0, 0b100)


def test_set_and_clear_registers_drive_only_output_pins():
    gpio = GpioBlock()
    gpio.write(0x1C, 1 << 23)
    assert gpio.latch[23] == 1 and gpio.driven(23) is None  # latched, but an input
    gpio.write(0x08, 0b001 << 9)
    assert gpio.driven(23) == 1
    gpio.write(0x28, 1 << 23)
    assert gpio.driven(23) == 0
    gpio.write(0x20, 1 << 21)  # GPSET1 bit 21: pin 53
    assert gpio.latch[53] == 1


def test_a_frame_shown_through_the_kernel_decodes_to_its_pixels():
    trace = decode(Kernel().show(FRAME))
    assert [e.kind for e in trace.events] == ["claimed", "frame", "released"]
    assert trace.events[1].pixels == expected(FRAME)
    assert trace.errors == []


def test_dark_frame_is_dark_and_frames_follow_each_other():
    kernel = Kernel()
    kernel.show(FRAME)
    trace = decode(kernel.show(DARK))
    frames = [e for e in trace.events if e.kind == "frame"]
    assert [f.dark for f in frames] == [False, True]
    assert [e.kind for e in trace.events].count("claimed") == 2


def test_clock_edges_while_the_pins_are_inputs_do_not_reach_the_leds():
    kernel = Kernel()
    kernel.clock_out(apa102_bits(FRAME))  # never claimed: GPFSEL says input
    trace = decode(kernel.lines)
    assert trace.events == [] and trace.writes == len(kernel.lines)


def test_other_pins_and_registers_change_nothing():
    kernel = Kernel()
    kernel.claim(23, 24, 25)
    for _ in range(40):
        kernel.level(25, 1)
        kernel.level(25, 0)
    kernel.lines.append(line(0x94, 0))  # GPPUD
    kernel.lines.append(line(0x98, 1 << 24))  # GPPUDCLK0
    trace = decode(kernel.lines)
    assert [e.kind for e in trace.events] == ["claimed"]


def test_a_bad_led_header_drops_the_frame_and_says_why():
    kernel = Kernel()
    kernel.claim(23, 24)
    bits = apa102_bits(FRAME)
    bits[34] = 0  # the first LED word's header becomes 110
    kernel.clock_out(bits)
    trace = decode(kernel.lines)
    assert [e.kind for e in trace.events] == ["claimed"]
    assert trace.errors == ["LED 0: header 110, expected 111"]


def test_skimped_end_frame_latches_nothing():
    kernel = Kernel()
    kernel.claim(23, 24)
    kernel.clock_out(apa102_bits(FRAME)[:-1])
    assert [e.kind for e in decode(kernel.lines).events] == ["claimed"]


@pytest.mark.parametrize("pins", [(17, 27), (40, 41)])
def test_other_wiring_is_decoded_on_its_own_pins(pins):
    data, clock = pins
    kernel = Kernel()
    kernel.claim(data, clock)
    kernel.clock_out(apa102_bits(FRAME), data=data, clock=clock)
    trace = BlinktTrace(data_pin=data, clock_pin=clock)
    for text in kernel.lines:
        trace.feed_line(text)
    assert trace.events[-1].pixels == expected(FRAME)


def test_recorded_agent_run_on_the_emulated_pi_decodes_to_its_frames():
    with gzip.open(RECORDED, "rt") as lines:
        trace = decode(lines)
    kinds = [e.kind if e.kind != "frame" else ("dark" if e.dark else "lit") for e in trace.events]
    assert kinds == ["claimed", "lit", "lit", "dark", "released", "claimed", "dark", "released"]
    frames = [e.pixels for e in trace.events if e.kind == "frame"]
    assert frames[0] == expected(status_frame("no_data", 0.2))
    assert frames[1] == expected(status_frame("unreachable", 0.2))
    assert trace.errors == []
    times = [e.time for e in trace.events]
    assert times == sorted(times) and all(times)

"""The real BlinktDisplay driving the RPi.GPIO double, checked by decoding the LEDs."""

import sys

import pytest

from blinkt_agent import config
from blinkt_agent.displays import close, open_display
from blinkt_agent.displays.blinkt import BlinktDisplay
from blinkt_agent.errors import EXIT_IOERR, ConfigError, DisplayError
from blinkt_agent.frame import DARK, Pixel, apa102_brightness, make_frame
from tests.fixtures_gpio import refusing

FRAME = make_frame(Pixel(i * 30, 255 - i * 30, 7 * i, i / 7) for i in range(8))


def decoded(frame):
    return [(p.r, p.g, p.b, apa102_brightness(p.brightness)) for p in frame]


def clock_edges(gpio, clock=24):
    return sum(1 for _, pin, level in gpio.history() if pin == clock and level == 1)


def test_shown_frame_is_what_the_leds_decode(gpio_double):
    BlinktDisplay(gpio=gpio_double).show(FRAME)
    assert gpio_double.pixels() == decoded(FRAME)
    assert gpio_double.frames_latched() == 1 and gpio_double.errors() == []


def test_same_frame_twice_clocks_nothing_the_second_time(gpio_double):
    display = BlinktDisplay(gpio=gpio_double)
    display.show(FRAME)
    edges = clock_edges(gpio_double)
    display.show(FRAME)
    assert clock_edges(gpio_double) == edges
    assert gpio_double.frames_latched() == 1


def test_each_new_frame_is_latched(gpio_double):
    display = BlinktDisplay(gpio=gpio_double)
    for brightness in (0.1, 0.5, 1.0):
        display.show(make_frame([Pixel(255, 0, 0, brightness)]))
    assert gpio_double.frames_latched() == 3
    assert gpio_double.pixels()[0] == (255, 0, 0, 31)


def test_close_leaves_the_leds_dark_and_releases_the_pins(gpio_double):
    display = BlinktDisplay(gpio=gpio_double)
    display.show(FRAME)
    close(display)
    close(display)
    assert gpio_double.pixels() == decoded(DARK)
    assert not gpio_double.is_setup(23) and not gpio_double.is_setup(24)


def test_close_releases_only_our_pins(gpio_double):
    gpio_double.setmode(gpio_double.BCM)
    gpio_double.setup(4, gpio_double.OUT)
    close(BlinktDisplay(gpio=gpio_double))
    assert gpio_double.is_setup(4)


def test_custom_pins_drive_the_leds(gpio_double):
    gpio_double.configure(data_pin=5, clock_pin=6)
    open_display(
        config.override(config.defaults(), {"blinkt.data_pin": 5, "blinkt.clock_pin": 6}),
        gpio=gpio_double,
    ).show(FRAME)
    assert gpio_double.pixels() == decoded(FRAME)


def test_rpi_gpio_is_imported_when_no_module_is_given(rpi_on_path):
    BlinktDisplay().show(FRAME)
    assert sys.modules["RPi.GPIO"].pixels() == decoded(FRAME)


def test_missing_library_is_a_display_error_with_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "RPi", None)
    with pytest.raises(DisplayError, match="apt install python3-rpi-lgpio") as error:
        BlinktDisplay()
    assert error.value.exit_code == EXIT_IOERR


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("No access to /dev/mem.  Try running as root!"),
        type("error", (Exception,), {})("can not open gpiochip"),
        PermissionError(13, "Permission denied"),
    ],
)
def test_no_permission_names_the_device_and_the_gpio_group(error, gpio_double, monkeypatch):
    with pytest.raises(
        DisplayError, match=r"/dev/gpiomem or /dev/gpiochip\*.*group gpio.*DeviceAllow="
    ):
        BlinktDisplay(gpio=refusing(gpio_double, monkeypatch, error))


def test_other_setup_failure_is_a_display_error_naming_the_pins(gpio_double, monkeypatch):
    with pytest.raises(DisplayError, match="pins 23 and 24: busy"):
        BlinktDisplay(gpio=refusing(gpio_double, monkeypatch, RuntimeError("busy")))


def test_unknown_display_name_is_a_config_error_naming_display():
    with pytest.raises(ConfigError, match="display = 'lcd'"):
        open_display(config.defaults(), "lcd")

"""The traffic light (red, amber, green on three GPIO pins) driving the RPi.GPIO double."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import pytest

from blinkt_agent import config
from blinkt_agent.displays import DISPLAYS, close, open_display
from blinkt_agent.displays.traffic import TrafficDisplay
from blinkt_agent.errors import EXIT_IOERR, DisplayError
from blinkt_agent.frame import OFF, SIGNAL, Pixel, dark
from tests.fixtures_gpio import refusing

if TYPE_CHECKING:  # mypy: the double offers what the GPIO displays use of RPi.GPIO
    from blinkt_agent.displays.gpio import Gpio
    from tests.gpio_double.RPi import GPIO as _double

    _offers: Gpio = _double

PINS = (9, 10, 11)  # the Pi-Traffic's red, amber, green
RED, AMBER, GREEN = Pixel(255, 0, 0, 1.0), Pixel(255, 160, 0, 0.3), Pixel(0, 255, 0, 0.05)


def signal(red: Pixel = OFF, amber: Pixel = OFF, green: Pixel = OFF) -> tuple[Pixel, ...]:
    return (red, amber, green)


def test_each_light_follows_its_pixel(gpio_double):
    display = TrafficDisplay(gpio=gpio_double)
    for frame, lit in [
        (signal(red=RED), [9]),
        (signal(amber=AMBER), [10]),
        (signal(green=GREEN), [11]),
        (signal(RED, AMBER, GREEN), [9, 10, 11]),
        (signal(red=RED, green=GREEN), [9, 11]),
        (dark(SIGNAL), []),
    ]:
        display.show(frame)
        assert gpio_double.high(PINS) == lit, frame


def test_a_pixel_that_is_off_leaves_its_light_off(gpio_double):
    display = TrafficDisplay(gpio=gpio_double)
    display.show(signal(red=Pixel(255, 0, 0, 0.0), amber=Pixel(0, 0, 0, 1.0), green=GREEN))
    assert gpio_double.high(PINS) == [11]


def test_the_lights_are_off_when_opened(gpio_double):
    TrafficDisplay(gpio=gpio_double)
    assert gpio_double.levels() == {9: 0, 10: 0, 11: 0}


def test_shape_is_the_signal_of_three(gpio_double):
    assert TrafficDisplay(gpio=gpio_double).shape == SIGNAL == DISPLAYS["traffic"].shape


def test_pins_are_configurable(gpio_double):
    display = TrafficDisplay(red_pin=17, amber_pin=27, green_pin=22, gpio=gpio_double)
    display.show(signal(red=RED, green=GREEN))
    assert gpio_double.high((17, 27, 22)) == [17, 22]
    assert gpio_double.high(PINS) == []


def test_pins_come_from_the_environment_through_the_settings(gpio_double):
    settings = config.load(
        environ={
            "BLINKT_AGENT_DISPLAY": "traffic",
            "BLINKT_AGENT_TRAFFIC_RED_PIN": "5",
            "BLINKT_AGENT_TRAFFIC_AMBER_PIN": "6",
            "BLINKT_AGENT_TRAFFIC_GREEN_PIN": "13",
        }
    )
    display = open_display(settings, "traffic", gpio=gpio_double)
    display.show(signal(AMBER, AMBER, AMBER))
    assert gpio_double.high((5, 6, 13)) == [5, 6, 13]


def test_registry_opens_it_on_the_default_pins(gpio_double):
    display = open_display(config.load(environ={}), "traffic", gpio=gpio_double)
    assert isinstance(display, TrafficDisplay) and display.pins == PINS
    display.show(signal(green=GREEN))
    assert gpio_double.high(PINS) == [11]


def test_unchanged_frame_is_not_written_again(gpio_double):
    display = TrafficDisplay(gpio=gpio_double)
    display.show(signal(RED, AMBER))
    writes = gpio_double.writes(PINS)
    display.show(signal(RED, AMBER))
    assert gpio_double.writes(PINS) == writes == 2


def test_only_the_lights_that_change_are_written(gpio_double):
    display = TrafficDisplay(gpio=gpio_double)
    display.show(signal(RED, AMBER))
    red, amber, green = (gpio_double.writes([pin]) for pin in PINS)
    display.show(signal(Pixel(9, 9, 9, 0.5), green=GREEN))  # red stays lit, in another colour
    assert [gpio_double.writes([pin]) for pin in PINS] == [red, amber + 1, green + 1]
    assert gpio_double.high(PINS) == [9, 11]


def test_clear_drives_all_three_low_now(gpio_double):
    display = TrafficDisplay(gpio=gpio_double)
    display.show(signal(RED, AMBER, GREEN))
    before = gpio_double.writes(PINS)
    display.clear()
    assert gpio_double.levels() == {9: 0, 10: 0, 11: 0}
    assert gpio_double.writes(PINS) == before + 3  # written, not assumed


def test_a_frame_after_clear_lights_again(gpio_double):
    display = TrafficDisplay(gpio=gpio_double)
    display.show(signal(red=RED))
    display.clear()
    display.show(signal(red=RED))
    assert gpio_double.high(PINS) == [9]


def test_release_cleans_up_only_our_three_pins(gpio_double):
    gpio_double.setmode(gpio_double.BCM)
    gpio_double.setup([4, 23, 24], gpio_double.OUT)
    display = TrafficDisplay(gpio=gpio_double)
    display.release()
    display.release()
    assert not any(gpio_double.is_setup(pin) for pin in PINS)
    assert all(gpio_double.is_setup(pin) for pin in (4, 23, 24))


def test_release_while_a_light_is_lit_keeps_it_lit_as_once_leaves_its_frame(gpio_double):
    display = TrafficDisplay(gpio=gpio_double)
    display.show(signal(green=GREEN))
    display.release()
    assert gpio_double.high(PINS) == [11] and all(gpio_double.is_setup(pin) for pin in PINS)


def test_close_leaves_the_lights_off_and_the_pins_released(gpio_double):
    display = TrafficDisplay(gpio=gpio_double)
    display.show(signal(RED, AMBER, GREEN))
    close(display)
    assert [level for _, pin, level in gpio_double.history() if pin in PINS][-3:] == [0, 0, 0]
    assert not any(gpio_double.is_setup(pin) for pin in PINS)


def test_a_frame_after_release_is_a_display_error(gpio_double):
    display = TrafficDisplay(gpio=gpio_double)
    display.release()
    with pytest.raises(DisplayError, match="display = traffic: GPIO write failed"):
        display.show(signal(red=RED))


@pytest.mark.parametrize("size", [0, 2, 4, 8])
def test_a_frame_of_the_wrong_size_is_a_value_error(gpio_double, size):
    display = TrafficDisplay(gpio=gpio_double)
    with pytest.raises(ValueError, match=rf"traffic: frame has {size} pixels"):
        display.show((RED,) * size)
    assert gpio_double.writes(PINS) == 0


def test_two_lights_on_one_pin_is_a_value_error(gpio_double):
    with pytest.raises(ValueError, match="three pins"):
        TrafficDisplay(red_pin=9, amber_pin=9, gpio=gpio_double)


def test_state_file_carries_the_pin_levels(gpio_double, tmp_path, monkeypatch):
    state_file = tmp_path / "leds.json"
    monkeypatch.setenv("BLINKT_GPIO_DOUBLE_STATE", str(state_file))
    display = TrafficDisplay(gpio=gpio_double)
    assert json.loads(state_file.read_text())["pins"] == {"9": 0, "10": 0, "11": 0}
    display.show(signal(red=RED, green=GREEN))
    state = json.loads(state_file.read_text())
    assert state["pins"] == {"9": 1, "10": 0, "11": 1}
    assert {"pixels", "frames", "cleaned_up", "pid"} <= state.keys()
    close(display)
    assert json.loads(state_file.read_text())["pins"] == {}


# --- the library missing, the pins refused -----------------------------------------------


def test_rpi_gpio_is_imported_when_no_module_is_given(rpi_on_path):
    TrafficDisplay().show(signal(amber=AMBER))
    assert sys.modules["RPi.GPIO"].high(PINS) == [10]


def one_line_error(error: pytest.ExceptionInfo[DisplayError]) -> str:
    message = str(error.value)
    assert "\n" not in message and error.value.exit_code == EXIT_IOERR
    return message


def test_missing_library_is_one_line_naming_the_display_and_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "RPi", None)
    with pytest.raises(DisplayError) as error:
        open_display(config.load(environ={}), "traffic")
    message = one_line_error(error)
    assert message.startswith("display = traffic: RPi.GPIO not found")
    assert "python3-rpi-lgpio" in message


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("No access to /dev/mem.  Try running as root!"),
        type("error", (Exception,), {})("can not open gpiochip"),
        PermissionError(13, "Permission denied"),
        RuntimeError("Not running on a RPi!\nNo access to /dev/mem"),
    ],
)
def test_no_access_is_one_line_naming_the_display_and_the_gpio_group(
    error, gpio_double, monkeypatch
):
    with pytest.raises(DisplayError) as raised:
        TrafficDisplay(gpio=refusing(gpio_double, monkeypatch, error))
    message = one_line_error(raised)
    assert message.startswith("display = traffic: no access to /dev/gpiomem or /dev/gpiochip*")
    assert "group gpio" in message and "DeviceAllow=" in message


def test_other_setup_failure_names_the_three_pins(gpio_double, monkeypatch):
    with pytest.raises(DisplayError) as raised:
        TrafficDisplay(gpio=refusing(gpio_double, monkeypatch, RuntimeError("busy")))
    assert one_line_error(raised) == "display = traffic: cannot set up GPIO pins 9, 10 and 11: busy"

"""The real Unicorn HAT Mini display driving the spidev double's two HT16D35 controllers."""

import errno
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blinkt_agent import config
from blinkt_agent.displays import open_display
from blinkt_agent.displays.unicornhatmini import UnicornHatMiniDisplay
from blinkt_agent.errors import EXIT_IOERR, DisplayError
from blinkt_agent.frame import OFF, Pixel, Shape

SHAPE = Shape.matrix(17, 7)
RED = Pixel(255, 0, 0, 1.0)
LIBRARY_INIT = [0xCC, 0x37, 0x20, 0x35, 0x80, 0x41, 0x42, 0x35]  # command bytes, in order

pixels = st.builds(
    Pixel, st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.floats(0.0, 1.0)
)
frames = st.lists(pixels, min_size=SHAPE.size, max_size=SHAPE.size).map(tuple)
with_double = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=60
)


def seen(pixel):
    """The 6-bit levels the HT16D35s light a pixel at: RGB * brightness >> 2, a lit
    channel at least 1."""
    if pixel.brightness == 0:
        return (0, 0, 0)
    channels = (pixel.r, pixel.g, pixel.b)
    return tuple(max(1, round(c * pixel.brightness) >> 2) if c else 0 for c in channels)


def one_lit(x, y, pixel=RED):
    return tuple(pixel if i == y * 17 + x else OFF for i in range(SHAPE.size))


@with_double
@given(frame=frames)
def test_any_frame_is_what_the_two_controllers_show(mini_double, frame):
    display = UnicornHatMiniDisplay(spidev=mini_double)
    display.show(frame)
    display.release()
    assert mini_double.pixels() == [seen(p) for p in frame]
    assert mini_double.errors() == []


@pytest.mark.parametrize("rotation", [0, 180])
@pytest.mark.parametrize("x, y", [(0, 0), (8, 3), (9, 3), (16, 6), (2, 5)])
def test_a_pixel_shows_where_it_is_for_every_rotation(mini_double, rotation, x, y):
    UnicornHatMiniDisplay(rotation, spidev=mini_double).show(one_lit(x, y))
    seen_lit = [i for i, rgb in enumerate(mini_double.pixels(rotation)) if rgb != (0, 0, 0)]
    assert seen_lit == [y * 17 + x]


def test_both_controllers_are_initialised_before_the_first_frame(mini_double):
    display = UnicornHatMiniDisplay(spidev=mini_double)
    assert mini_double.pixels() == [(0, 0, 0)] * 119  # opening clears the LEDs
    display.show(one_lit(0, 0))
    for device in (0, 1):
        assert mini_double.commands(0, device) == [*LIBRARY_INIT, 0x80]
    left, right = mini_double.controllers()
    assert left == right and left["showing"] and left["brightness"] == 63


def test_a_frame_is_one_ram_write_per_controller_at_600_khz(mini_double):
    UnicornHatMiniDisplay(spidev=mini_double).show(one_lit(4, 4))
    history = mini_double.history()
    assert [device for device, _ in history[-2:]] == ["0.0", "0.1"]
    assert all(data[:2] == b"\x80\x00" and len(data) == 226 for _, data in history[-2:])
    assert mini_double.speed_hz(0, 0) == mini_double.speed_hz(0, 1) == 600_000


def test_an_unchanged_frame_is_not_sent_again(mini_double):
    display = UnicornHatMiniDisplay(spidev=mini_double)
    sent = mini_double.transfers()
    display.show(tuple([OFF] * SHAPE.size))  # what the init left
    display.show(one_lit(3, 3))
    display.show(one_lit(3, 3))
    assert mini_double.transfers() == sent + 2


def test_clear_darkens_every_led(mini_double):
    display = UnicornHatMiniDisplay(spidev=mini_double)
    display.show(tuple([RED] * SHAPE.size))
    display.clear()
    assert mini_double.pixels() == [(0, 0, 0)] * 119
    assert mini_double.controllers()[0]["showing"]


def test_release_closes_both_devices_and_is_safe_twice(mini_double):
    display = UnicornHatMiniDisplay(spidev=mini_double)
    display.show(one_lit(16, 0))
    display.release()
    display.release()
    assert not mini_double.is_open(0, 0) and not mini_double.is_open(0, 1)
    assert mini_double.pixels()[16] == (63, 0, 0)  # left as it was


def test_a_dim_pixel_stays_lit_in_its_own_channels(mini_double):
    UnicornHatMiniDisplay(spidev=mini_double).show(one_lit(0, 0, Pixel(255, 8, 0, 0.02)))
    assert mini_double.pixels()[0] == (1, 1, 0)


def test_a_missing_second_device_says_to_enable_spi_and_closes_the_first(mini_double):
    mini_double.configure(devices="0.0")
    with pytest.raises(DisplayError) as caught:
        UnicornHatMiniDisplay(spidev=mini_double)
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_IOERR and "\n" not in message
    assert message.startswith("display = unicornhatmini: /dev/spidev0.1: No such file")
    assert "dtparam=spi=on" in message and not mini_double.is_open(0, 0)


def test_a_refused_spi_device_names_the_spi_group(mini_double):
    mini_double.configure(refused="0.0")
    with pytest.raises(DisplayError) as caught:
        UnicornHatMiniDisplay(spidev=mini_double)
    assert caught.value.exit_code == EXIT_IOERR
    assert "no access to /dev/spidev0.0 (Permission denied); the user needs group spi" in str(
        caught.value
    )


def test_a_write_error_is_one_line_display_error(mini_double):
    display = UnicornHatMiniDisplay(spidev=mini_double)
    mini_double.configure(write_error=errno.EIO)
    with pytest.raises(DisplayError) as caught:
        display.show(one_lit(1, 1))
    assert str(caught.value) == (
        "display = unicornhatmini: SPI write to /dev/spidev0.0 failed: Input/output error"
    )


def test_a_write_error_while_opening_closes_both_devices(mini_double):
    mini_double.configure(write_error=errno.EIO)
    with pytest.raises(DisplayError, match=r"SPI write to /dev/spidev0\.0 failed"):
        UnicornHatMiniDisplay(spidev=mini_double)
    assert not mini_double.is_open(0, 0) and not mini_double.is_open(0, 1)


def test_without_spidev_the_error_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "spidev", None)
    with pytest.raises(DisplayError) as caught:
        UnicornHatMiniDisplay()
    assert caught.value.exit_code == EXIT_IOERR
    assert str(caught.value) == (
        "display = unicornhatmini: spidev not found; apt install python3-spidev"
    )


def test_the_registry_opens_it_with_the_rotation_setting(mini_double):
    settings_ = config.override(config.defaults(), {"unicornhatmini.rotation": 180})
    display = open_display(settings_, "unicornhatmini", spidev=mini_double)
    display.show(one_lit(0, 0))
    assert display.shape == SHAPE
    assert mini_double.pixels()[118] == (63, 0, 0)  # turned: the bottom right

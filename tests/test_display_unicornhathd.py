"""The real Unicorn HAT HD display driving the spidev double, checked by decoding the wire."""

import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blinkt_agent import config
from blinkt_agent.displays import open_display
from blinkt_agent.displays.unicornhathd import FRAME_GAP, UnicornHatHdDisplay
from blinkt_agent.errors import EXIT_IOERR, DisplayError
from blinkt_agent.frame import OFF, Pixel, Shape, dark

SHAPE = Shape.matrix(16, 16)
RED = Pixel(255, 0, 0, 1.0)

pixels = st.builds(
    Pixel, st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.floats(0.0, 1.0)
)
frames = st.lists(pixels, min_size=SHAPE.size, max_size=SHAPE.size).map(tuple)
with_double = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=60
)


def seen(pixel):
    """What the HAT shows for a pixel: RGB * brightness, a lit channel at least 1."""
    if pixel.brightness == 0:
        return (0, 0, 0)
    return tuple(
        max(1, round(c * pixel.brightness)) if c else 0 for c in (pixel.r, pixel.g, pixel.b)
    )


def one_lit(x, y, pixel=RED):
    return tuple(pixel if i == y * 16 + x else OFF for i in range(SHAPE.size))


def test_expected_colours_helper_reads_pixel_fields():
    assert seen(Pixel(255, 10, 0, 0.01)) == (3, 1, 0)


@with_double
@given(frame=frames)
def test_any_frame_is_what_the_hat_decodes(hd_double, frame):
    display = UnicornHatHdDisplay(spidev=hd_double)
    display.show(frame)
    display.release()
    assert hd_double.pixels() == [seen(p) for p in frame]
    assert hd_double.errors() == []


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
@pytest.mark.parametrize("x, y", [(0, 0), (15, 0), (3, 12), (15, 15)])
def test_a_pixel_shows_where_it_is_for_every_rotation(hd_double, rotation, x, y):
    UnicornHatHdDisplay(rotation, spidev=hd_double).show(one_lit(x, y))
    seen_lit = [i for i, rgb in enumerate(hd_double.pixels(rotation)) if rgb != (0, 0, 0)]
    assert seen_lit == [y * 16 + x]


def test_rotation_turns_the_picture_clockwise_on_the_board(hd_double):
    UnicornHatHdDisplay(90, spidev=hd_double).show(one_lit(0, 0))
    assert hd_double.pixels()[15] == (255, 0, 0)  # the board's top right, header up


def test_a_frame_is_one_transfer_of_0x72_and_768_bytes_on_spi_0_0_at_9_mhz(hd_double):
    UnicornHatHdDisplay(spidev=hd_double).show(one_lit(1, 0))
    assert hd_double.speed_hz(0, 0) == 9_000_000
    assert hd_double.transfers(0, 0) == 1 and hd_double.wire_bytes(0, 0) == 769
    ((device, data),) = hd_double.history()
    assert device == "0.0" and data[:7] == bytes([0x72, 0, 0, 0, 255, 0, 0])


def test_an_unchanged_frame_is_not_sent_again(hd_double):
    display = UnicornHatHdDisplay(spidev=hd_double)
    display.show(one_lit(2, 2))
    display.show(one_lit(2, 2))
    assert hd_double.transfers() == 1 and hd_double.frames_latched() == 1


def test_frames_are_at_least_the_librarys_gap_apart(hd_double):
    display = UnicornHatHdDisplay(spidev=hd_double)
    start = time.monotonic()
    display.show(one_lit(0, 0))
    display.show(one_lit(1, 0))
    assert time.monotonic() - start >= FRAME_GAP * 0.99
    assert hd_double.frames_latched() == 2


def test_clear_darkens_every_led(hd_double):
    display = UnicornHatHdDisplay(spidev=hd_double)
    display.show(tuple([RED] * SHAPE.size))
    display.clear()
    assert hd_double.pixels() == [(0, 0, 0)] * 256
    display.show(dark(SHAPE))  # already dark: nothing sent
    assert hd_double.frames_latched() == 2


def test_release_closes_spi_and_is_safe_twice(hd_double):
    display = UnicornHatHdDisplay(spidev=hd_double)
    display.show(one_lit(5, 5))
    display.release()
    display.release()
    assert not hd_double.is_open(0, 0)
    assert hd_double.pixels()[5 * 16 + 5] == (255, 0, 0)  # left as it was
    with pytest.raises(DisplayError, match="already released"):
        display.show(one_lit(6, 6))


def test_a_dim_pixel_stays_lit_in_its_own_channels(hd_double):
    UnicornHatHdDisplay(spidev=hd_double).show(one_lit(0, 0, Pixel(255, 10, 0, 0.01)))
    assert hd_double.pixels()[0] == (3, 1, 0)


def test_a_write_error_is_one_line_and_the_frame_is_sent_again(hd_double):
    display = UnicornHatHdDisplay(spidev=hd_double, frame_gap=0)
    hd_double.configure(write_error=5)  # EIO
    with pytest.raises(DisplayError) as caught:
        display.show(one_lit(1, 1))
    assert str(caught.value) == (
        "display = unicornhathd: SPI write to /dev/spidev0.0 failed: Input/output error"
    )
    hd_double.configure(write_error=None)
    display.show(one_lit(1, 1))
    assert hd_double.frames_latched() == 1


def test_without_spidev_the_error_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "spidev", None)
    with pytest.raises(DisplayError) as caught:
        UnicornHatHdDisplay()
    assert caught.value.exit_code == EXIT_IOERR
    assert str(caught.value) == (
        "display = unicornhathd: spidev not found; apt install python3-spidev"
    )


def test_without_the_spi_device_the_error_says_to_enable_spi(hd_double):
    hd_double.configure(devices=())
    with pytest.raises(DisplayError) as caught:
        UnicornHatHdDisplay(spidev=hd_double)
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_IOERR and "\n" not in message
    assert message.startswith("display = unicornhathd: /dev/spidev0.0: No such file")
    assert "dtparam=spi=on" in message and "raspi-config" in message


def test_a_refused_spi_device_names_the_spi_group(hd_double):
    hd_double.configure(refused="0.0")
    with pytest.raises(DisplayError) as caught:
        UnicornHatHdDisplay(spidev=hd_double)
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_IOERR and "\n" not in message
    assert "no access to /dev/spidev0.0 (Permission denied)" in message
    assert "group spi" in message and "DeviceAllow=/dev/spidev0.0" in message


def test_the_registry_opens_it_with_the_rotation_setting(hd_double):
    settings_ = config.override(config.defaults(), {"unicornhathd.rotation": 180})
    display = open_display(settings_, "unicornhathd", spidev=hd_double)
    display.show(one_lit(0, 0))
    assert display.shape == SHAPE
    assert hd_double.pixels()[255] == (255, 0, 0)  # turned: the bottom right of the board


@pytest.fixture
def spidev_on_path(monkeypatch, hd_double):
    """The double importable as spidev, as in the system-test container."""
    monkeypatch.syspath_prepend(str(Path(hd_double.__file__).parent))
    yield
    sys.modules.pop("spidev", None)


def test_spidev_is_imported_when_no_module_is_given(spidev_on_path):
    UnicornHatHdDisplay().show(one_lit(0, 0))
    assert sys.modules["spidev"].pixels()[0] == (255, 0, 0)

"""The real BlinkStickDisplay driving the pyusb double, checked by what the firmware decodes."""

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blinkt_agent import config
from blinkt_agent.displays import close, open_display
from blinkt_agent.displays.blinkstick import BlinkStickDisplay
from blinkt_agent.errors import EXIT_IOERR, DisplayError
from blinkt_agent.frame import Pixel, Shape, dark

MODELS = {  # double's name → (LEDs, the report one frame is sent in)
    "blinkstick": (1, 1),
    "pro": (1, 1),
    "nano": (2, 6),
    "strip": (8, 6),
    "square": (8, 6),
    "flex": (32, 8),
}


def rainbow(n):
    return tuple(Pixel((40 * i) % 256, 255 - i, 3 * i + 1, 1.0) for i in range(n))


def one_line_error(raised):
    message = str(raised.value)
    assert "\n" not in message and raised.value.exit_code == EXIT_IOERR
    return message


@pytest.mark.parametrize("model", MODELS)
def test_each_model_shows_its_leds_in_one_report_decoded_in_order(usb_double, model):
    (stick,) = usb_double.core.configure(model)
    leds, report_id = MODELS[model]
    display = BlinkStickDisplay(usb=usb_double)
    assert display.shape == Shape.strip(leds)
    display.show(rainbow(leds))
    assert stick.leds() == [(p.r, p.g, p.b) for p in rainbow(leds)]
    assert [r for r, _ in stick.reports] == [report_id] and stick.ignored == []


def test_a_pro_in_ws2812_mode_shows_the_frame_on_its_first_led(usb_double):
    (pro,) = usb_double.core.configure("pro:mode=2")
    BlinkStickDisplay(usb=usb_double).show((Pixel(1, 2, 3, 1.0),))
    assert pro.leds() == [(1, 2, 3)]


def test_colours_are_scaled_by_brightness_and_a_dim_pixel_stays_lit(usb_double):
    (nano,) = usb_double.core.configure("nano")
    BlinkStickDisplay(usb=usb_double).show((Pixel(200, 100, 0, 0.5), Pixel(40, 255, 3, 0.01)))
    assert nano.leds() == [(100, 50, 0), (1, 3, 1)]


def test_an_unchanged_frame_is_not_sent_again(usb_double):
    (strip,) = usb_double.core.configure("strip")
    display = BlinkStickDisplay(usb=usb_double)
    display.show(rainbow(8))
    display.show(rainbow(8))
    assert strip.transfers == 1 and strip.latched == 1


def test_clear_darkens_every_led_at_once(usb_double):
    (flex,) = usb_double.core.configure("flex")
    display = BlinkStickDisplay(usb=usb_double)
    display.show(rainbow(32))
    display.clear()
    assert flex.leds() == [(0, 0, 0)] * 32 and flex.transfers == 2
    display.show(dark(display.shape))  # what clear() showed: nothing more to send
    assert flex.transfers == 2


def test_release_disposes_the_device_once_and_then_nothing_is_sent(usb_double):
    (square,) = usb_double.core.configure("square")
    display = BlinkStickDisplay(usb=usb_double)
    close(display)
    display.release()
    display.show(rainbow(8))
    assert square.disposals == 1 and square.leds() == [(0, 0, 0)] * 8


def test_the_first_blinkstick_found_is_used_when_no_serial_is_set(usb_double):
    _, nano, _ = usb_double.core.configure("usb:1d6b:0002", "nano", "strip")
    display = BlinkStickDisplay("", usb=usb_double)
    assert (display.serial, display.model.name) == (nano.serial, "BlinkStick Nano")


def test_a_serial_picks_that_blinkstick(usb_double):
    _, strip = usb_double.core.configure("nano", "BS123456-3.1:0x0201")
    BlinkStickDisplay("BS123456-3.1", usb=usb_double).show(rainbow(8))
    assert strip.leds() == [(p.r, p.g, p.b) for p in rainbow(8)]


def test_a_serial_not_plugged_in_names_the_setting_and_the_serials_found(usb_double):
    usb_double.core.configure("nano", "strip")
    with pytest.raises(DisplayError) as raised:
        BlinkStickDisplay("BS999999-3.0", usb=usb_double)
    assert one_line_error(raised) == (
        "blinkstick.serial = 'BS999999-3.0': no BlinkStick with that serial; "
        "found BS000001-3.0, BS000002-3.0"
    )


def test_no_blinkstick_names_its_vendor_and_product(usb_double):
    usb_double.core.configure("usb:1d6b:0002")
    with pytest.raises(DisplayError) as raised:
        BlinkStickDisplay(usb=usb_double)
    message = one_line_error(raised)
    assert message.startswith("display = blinkstick: no BlinkStick found")
    assert "vendor 0x20a0 product 0x41e5" in message


def test_missing_pyusb_is_one_line_naming_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "usb", None)  # `import usb` raises ImportError
    with pytest.raises(DisplayError) as raised:
        BlinkStickDisplay()
    assert one_line_error(raised) == (
        "display = blinkstick: pyusb not found; apt install python3-usb"
    )


def test_missing_libusb_names_its_package(usb_double):
    usb_double.core.no_backend()
    with pytest.raises(DisplayError) as raised:
        BlinkStickDisplay(usb=usb_double)
    assert "apt install libusb-1.0-0" in one_line_error(raised)


def test_permission_denied_names_group_plugdev_and_the_udev_rule(usb_double):
    usb_double.core.configure("nano:denied")
    with pytest.raises(DisplayError) as raised:
        BlinkStickDisplay(usb=usb_double)
    message = one_line_error(raised)
    assert "group plugdev" in message and "60-blinkt-agent.rules" in message
    assert "DeviceAllow=char-usb_device" in message


def test_permission_lost_while_writing_names_group_plugdev(usb_double):
    (nano,) = usb_double.core.configure("nano")
    display = BlinkStickDisplay(usb=usb_double)
    nano.denied = True
    with pytest.raises(DisplayError) as raised:
        display.show(rainbow(2))
    assert "Errno 13" in one_line_error(raised) and "plugdev" in str(raised.value)


def test_unplugged_during_show_is_a_display_error_and_the_frame_is_tried_again(usb_double):
    (strip,) = usb_double.core.configure("strip:unplug_after=1")
    display = BlinkStickDisplay(usb=usb_double)
    display.show(rainbow(8))
    with pytest.raises(DisplayError) as raised:
        display.show(dark(display.shape))
    assert one_line_error(raised).startswith("display = blinkstick: BS000001-3.0 is gone")
    assert strip.transfers == 1  # the dark frame never reached it
    usb_double.core.plug("BS000001-3.0:0x0201")  # back: the next show finds it again
    display.show(dark(display.shape))
    assert usb_double.core.gadgets()[-1].latched == 1


def test_an_unknown_model_is_refused_naming_serial_and_bcd_device(usb_double):
    usb_double.core.configure("BS000001-3.0:0x0204")  # a model newer than the library
    with pytest.raises(DisplayError) as raised:
        BlinkStickDisplay(usb=usb_double)
    assert "BS000001-3.0 (bcdDevice 0x0204)" in one_line_error(raised)


def test_a_frame_of_another_shape_is_refused(usb_double):
    usb_double.core.configure("nano")
    with pytest.raises(ValueError, match="blinkstick: frame has 8 pixels"):
        BlinkStickDisplay(usb=usb_double).show(rainbow(8))


def test_the_registry_opens_it_with_the_configured_serial(usb_double):
    _, flex = usb_double.core.configure("nano", "flex")
    settings = config.override(config.defaults(), {"blinkstick.serial": flex.serial})
    display = open_display(settings, "blinkstick", usb=usb_double)
    assert display.shape == Shape.strip(32)
    display.show(rainbow(32))
    assert flex.leds()[31] == (rainbow(32)[31].r, rainbow(32)[31].g, rainbow(32)[31].b)


PIXELS = st.builds(
    Pixel,
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.floats(0.0, 1.0),
)


def expected_colour(pixel):
    """r, g, b times the brightness, rounded, each colour of a lit pixel at least 1."""
    if pixel.is_off:
        return (0, 0, 0)
    return tuple(
        max(round(c * pixel.brightness), 1) if c else 0 for c in (pixel.r, pixel.g, pixel.b)
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(model=st.sampled_from(sorted(MODELS)), data=st.data())
def test_any_frame_round_trips_through_the_firmware_as_scaled(usb_double, model, data):
    (stick,) = usb_double.core.configure(model)
    display = BlinkStickDisplay(usb=usb_double)
    size = display.shape.size
    frame = tuple(data.draw(st.lists(PIXELS, min_size=size, max_size=size)))
    display.show(frame)
    assert stick.leds() == [expected_colour(p) for p in frame]
    assert stick.ignored == []


def test_a_blinkstick_replugged_between_frames_is_found_again_by_its_serial(usb_double):
    (old,) = usb_double.core.configure("nano")
    display = BlinkStickDisplay(usb=usb_double)
    old.unplug()
    new = usb_double.core.plug("BS000001-3.0:0x0202")
    display.show(rainbow(2))
    assert new.leds() == [(p.r, p.g, p.b) for p in rainbow(2)] and old.disposals == 1

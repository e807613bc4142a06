"""The pyusb double itself: pyusb's API and errors, and the BlinkStick firmware's decoding."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

USB_DOUBLE_DIR = Path(__file__).parent / "usb_double"
SET_REPORT = (0x20, 0x09)  # class request to the device, HID SET_REPORT


def blinksticks(usb):
    return list(usb.core.find(find_all=True, idVendor=0x20A0, idProduct=0x41E5))


def grb_report(report_id, channel, colours, leds):
    data = bytearray((report_id, channel))
    for r, g, b in colours:
        data += bytes((g, r, b))
    return bytes(data + bytes(3 * (leds - len(colours))))


RAINBOW = [(10 * i, 200 - 10 * i, i + 1) for i in range(8)]


def test_find_lists_blinksticks_by_vendor_and_product(usb_double):
    usb_double.core.configure("usb:1d6b:0002", "nano", "strip")
    assert [d.serial_number for d in blinksticks(usb_double)] == ["BS000002-3.0", "BS000003-3.0"]
    first = usb_double.core.find(idVendor=0x20A0, custom_match=lambda d: d.bcdDevice == 0x0201)
    assert first.serial_number == "BS000003-3.0"
    assert usb_double.core.find(idVendor=0x1234) is None


def test_frame_report_is_decoded_as_grb_on_channel_0(usb_double):
    (strip,) = usb_double.core.configure("strip")
    (device,) = blinksticks(usb_double)
    assert device.ctrl_transfer(*SET_REPORT, 6, 0, grb_report(6, 0, RAINBOW, 8)) == 26
    assert strip.leds() == RAINBOW
    assert strip.latched == 1 and strip.ignored == []


def test_other_channels_do_not_reach_the_strips_leds(usb_double):
    (strip,) = usb_double.core.configure("strip")
    (device,) = blinksticks(usb_double)
    device.ctrl_transfer(*SET_REPORT, 6, 0, grb_report(6, 1, RAINBOW, 8))
    assert strip.leds() == [(0, 0, 0)] * 8


def test_a_short_report_is_never_latched(usb_double):
    (strip,) = usb_double.core.configure("strip")
    (device,) = blinksticks(usb_double)
    device.ctrl_transfer(*SET_REPORT, 6, 0, grb_report(6, 0, RAINBOW, 8)[:-1])
    assert strip.leds() == [(0, 0, 0)] * 8
    assert strip.ignored == ["report 6: 25 bytes, 26 needed"]


def test_a_smaller_frame_report_leaves_the_later_leds_as_they_were(usb_double):
    (flex,) = usb_double.core.configure("flex")
    (device,) = blinksticks(usb_double)
    device.ctrl_transfer(*SET_REPORT, 8, 0, grb_report(8, 0, [(1, 2, 3)] * 32, 32))
    device.ctrl_transfer(*SET_REPORT, 6, 0, grb_report(6, 0, RAINBOW, 8))
    assert flex.leds() == RAINBOW + [(1, 2, 3)] * 24


def test_report_1_sets_the_first_led_in_rgb_order(usb_double):
    original, nano = usb_double.core.configure("blinkstick", "nano")
    for device in blinksticks(usb_double):
        device.ctrl_transfer(*SET_REPORT, 1, 0, bytes((1, 200, 100, 50)))
    assert original.leds() == [(200, 100, 50)]
    assert nano.leds() == [(200, 100, 50), (0, 0, 0)]


def test_the_original_blinkstick_ignores_frame_reports(usb_double):
    (original,) = usb_double.core.configure("blinkstick")
    blinksticks(usb_double)[0].ctrl_transfer(*SET_REPORT, 6, 0, grb_report(6, 0, RAINBOW, 8))
    assert original.leds() == [(0, 0, 0)]
    assert original.ignored == ["report 6: not in the original BlinkStick's"]


def test_a_pro_takes_frame_reports_only_in_mode_2(usb_double):
    rgb_mode, ws2812_mode = usb_double.core.configure("pro", "pro:mode=2")
    for device in blinksticks(usb_double):
        device.ctrl_transfer(*SET_REPORT, 6, 0, grb_report(6, 0, RAINBOW, 8))
    assert rgb_mode.leds() == [(0, 0, 0)] and rgb_mode.ignored
    assert ws2812_mode.leds() == [RAINBOW[0]]


def test_transfers_and_wire_bytes_are_counted(usb_double):
    (square,) = usb_double.core.configure("square")
    (device,) = blinksticks(usb_double)
    for _ in range(3):
        device.ctrl_transfer(*SET_REPORT, 6, 0, grb_report(6, 0, RAINBOW, 8))
    assert square.transfers == 3
    assert square.wire_bytes == 3 * (8 + 26)  # SETUP packet + data stage
    assert [report_id for report_id, _ in square.reports] == [6, 6, 6]


def test_without_permission_the_serial_is_a_langid_error_and_transfers_eacces(usb_double):
    usb_double.core.configure("nano:denied")
    (device,) = blinksticks(usb_double)
    with pytest.raises(ValueError, match="permission issue"):
        device.serial_number  # noqa: B018
    with pytest.raises(usb_double.core.USBError) as raised:
        device.ctrl_transfer(*SET_REPORT, 6, 0, bytes(26))
    assert raised.value.errno == 13
    assert str(raised.value) == "[Errno 13] Access denied (insufficient permissions)"


def test_an_unplugged_device_is_enodev_and_no_longer_found(usb_double):
    (nano,) = usb_double.core.configure("nano:unplug_after=2")
    (device,) = blinksticks(usb_double)
    device.ctrl_transfer(*SET_REPORT, 1, 0, bytes(4))
    device.ctrl_transfer(*SET_REPORT, 1, 0, bytes(4))
    with pytest.raises(usb_double.core.USBError) as raised:
        device.ctrl_transfer(*SET_REPORT, 1, 0, bytes(4))
    assert raised.value.errno == 19 and nano.transfers == 2
    assert blinksticks(usb_double) == []


def test_a_replugged_device_is_found_again_at_a_new_address_and_dark(usb_double):
    (nano,) = usb_double.core.configure("nano")
    old = blinksticks(usb_double)[0]
    nano.unplug()
    again = usb_double.core.plug("BS000001-3.0:0x0202")
    (new,) = blinksticks(usb_double)
    assert new.serial_number == "BS000001-3.0" and new.address != old.address
    assert again.leds() == [(0, 0, 0)] * 2


def test_a_class_request_to_the_interface_is_busy_while_usbhid_holds_it(usb_double):
    usb_double.core.configure("nano")
    (device,) = blinksticks(usb_double)
    with pytest.raises(usb_double.core.USBError) as raised:
        device.ctrl_transfer(0x21, 0x09, 6, 0, bytes(26))
    assert raised.value.errno == 16


def test_other_requests_are_ignored_by_the_firmware(usb_double):
    (nano,) = usb_double.core.configure("nano")
    blinksticks(usb_double)[0].ctrl_transfer(0x40, 0x09, 6, 0, grb_report(6, 0, RAINBOW, 8))
    assert nano.leds() == [(0, 0, 0)] * 2
    assert nano.ignored == ["request type 0x40 0x09"]


def test_dispose_resources_closes_and_the_next_transfer_reopens(usb_double):
    (nano,) = usb_double.core.configure("nano")
    (device,) = blinksticks(usb_double)
    assert device.serial_number == "BS000001-3.0"  # opens it
    usb_double.util.dispose_resources(device)
    device.ctrl_transfer(*SET_REPORT, 1, 0, bytes(4))
    assert nano.disposals == 1 and nano.opens == 2


def test_strings_as_pyusb_reads_them(usb_double):
    usb_double.core.configure("flex")
    (device,) = blinksticks(usb_double)
    assert usb_double.util.get_string(device, 3) == "BS000001-3.0"
    assert usb_double.util.get_string(device, 0) is None
    assert (device.manufacturer, device.product) == ("Agile Innovative Ltd", "BlinkStick Flex")


def test_without_a_backend_find_raises_no_backend_error(usb_double):
    usb_double.core.configure("nano")
    usb_double.core.no_backend()
    with pytest.raises(usb_double.core.NoBackendError, match="No backend available"):
        blinksticks(usb_double)


def test_state_file_holds_the_decoded_leds(usb_double, tmp_path, monkeypatch):
    state = tmp_path / "usb.json"
    monkeypatch.setenv("BLINKT_USB_DOUBLE_STATE", str(state))
    usb_double.core.configure("nano")
    blinksticks(usb_double)[0].ctrl_transfer(*SET_REPORT, 6, 0, grb_report(6, 0, RAINBOW, 8))
    (device,) = json.loads(state.read_text())["devices"]
    assert device["leds"] == [list(RAINBOW[0]), list(RAINBOW[1])]
    assert (device["model"], device["wire_bytes"]) == ("BlinkStick Nano", 34)
    assert [p.name for p in tmp_path.iterdir()] == ["usb.json"]  # no temporary file left


def test_devices_come_from_the_environment_when_imported_as_usb():
    env = os.environ | {"BLINKT_USB_DOUBLE_DEVICES": "BS000007-3.0:0x0203,pro:denied"}
    env["PYTHONPATH"] = str(USB_DOUBLE_DIR)
    code = "import usb.core; print([repr(g) for g in usb.core.gadgets()])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "BS000007-3.0 BlinkStick Flex bcdDevice 0x0203" in out.stdout
    assert "BS000002-2.0 BlinkStick Pro" in out.stdout


def test_an_unknown_flag_in_a_device_spec_is_refused(usb_double):
    with pytest.raises(ValueError, match="unknown flag 'sparkly'"):
        usb_double.core.configure("nano:sparkly")

"""The spidev double itself: py-spidev's API and errors, and the boards it decodes."""

import errno
import json

import pytest


def hd_frame():  # a new list each time: xfer2 writes what it reads back into its list
    return [0x72] + [7, 8, 9] * 256


def opened(spidev, bus=0, device=0):
    spi = spidev.SpiDev()
    spi.open(bus, device)
    return spi


def mini_send(spidev, device, *commands):
    spi = opened(spidev, 0, device)
    for command in commands:
        spi.xfer2(list(command))
    return spi


LIBRARY_INIT = (
    [0xCC],
    [0x37, 1],
    [0x20, 0],
    [0x35, 0],
    [0x41, 0xFF],
    [0x42] + [0xFF] * 4,
    [0x35, 3],
)


def test_open_of_an_absent_device_is_file_not_found_like_py_spidev(spi_double):
    spi_double.configure(devices="0.0")
    with pytest.raises(FileNotFoundError) as caught:
        spi_double.SpiDev(0, 1)
    assert caught.value.errno == errno.ENOENT and caught.value.filename is None


def test_open_of_a_refused_device_is_permission_error(spi_double):
    spi_double.configure(refused="0.0")
    with pytest.raises(PermissionError) as caught:
        opened(spi_double)
    assert caught.value.errno == errno.EACCES
    assert not spi_double.is_open(0, 0)


def test_settings_and_transfers_need_the_device_open(spi_double):
    spi = spi_double.SpiDev()
    with pytest.raises(OSError) as caught:
        spi.max_speed_hz = 9_000_000
    assert caught.value.errno == errno.EBADF
    spi.open(0, 0)
    spi.close()
    with pytest.raises(OSError, match="Bad file descriptor"):
        spi.xfer2([1])


def test_bad_arguments_are_refused_as_py_spidev_does(spi_double):
    spi = opened(spi_double)
    with pytest.raises(TypeError, match="Empty argument list"):
        spi.xfer2([])
    with pytest.raises(OverflowError, match="exceeds 4096 bytes"):
        spi.xfer2([0] * 4097)
    with pytest.raises(TypeError, match="Non-Int/Long"):
        spi.writebytes([1.5])
    assert spi_double.transfers() == 0


def test_a_transfer_above_the_kernels_bufsiz_is_emsgsize(spi_double):
    spi_double.configure(bufsiz=512)
    with pytest.raises(OSError) as caught:
        opened(spi_double).xfer2(hd_frame())
    assert caught.value.errno == errno.EMSGSIZE


def test_xfer2_answers_zeros_in_the_list_it_was_given(spi_double):
    values = [0x72, 1, 2]
    answer = opened(spi_double).xfer2(values)
    assert answer is values and values == [0, 0, 0]
    assert spi_double.history() == [("0.0", bytes([0x72, 1, 2]))]


def test_a_full_hd_frame_latches_row_by_row(hd_double):
    frame = [0x72] + [v for i in range(256) for v in (i, 255 - i, i % 16)]
    opened(hd_double).xfer2(frame)
    assert hd_double.frames_latched() == 1 and hd_double.errors() == []
    assert hd_double.pixels()[17] == (17, 238, 1)  # x 1, y 1
    assert hd_double.wire_bytes(0, 0) == 769 and hd_double.transfers() == 1


def test_a_short_hd_frame_is_not_latched(hd_double):
    spi = opened(hd_double)
    spi.xfer2(hd_frame())
    spi.xfer2([0x72] + [255] * 767)
    assert hd_double.frames_latched() == 1
    assert hd_double.pixels() == [(7, 8, 9)] * 256
    assert hd_double.errors() == ["frame of 767 bytes, not 768: not latched"]


def test_an_hd_frame_needs_the_start_byte(hd_double):
    opened(hd_double).writebytes([0x73] + [1] * 768)
    assert hd_double.frames_latched() == 0
    assert hd_double.errors() == ["start byte 0x73 is not 0x72: not latched"]


def test_the_hd_hears_only_ce0(hd_double):
    opened(hd_double, 0, 1).xfer2(hd_frame())
    assert hd_double.frames_latched() == 0
    assert hd_double.errors() == ["0.1: nothing of the Unicorn HAT HD listens on CE1"]


def test_writebytes2_blocks_are_separate_chip_selects(hd_double):
    hd_double.configure(bufsiz=512)
    opened(hd_double).writebytes2(bytes(hd_frame()))
    assert hd_double.transfers() == 2 and hd_double.frames_latched() == 0
    opened(hd_double).xfer3(hd_frame())  # xfer3 holds CS across its blocks
    assert hd_double.frames_latched() == 1


def test_without_chip_select_the_board_hears_nothing(hd_double):
    spi = opened(hd_double)
    spi.no_cs = True
    spi.xfer2(hd_frame())
    assert hd_double.frames_latched() == 0 and hd_double.wire_bytes() == 769


def test_a_write_error_can_be_injected(hd_double):
    hd_double.configure(write_error=errno.EIO)
    with pytest.raises(OSError) as caught:
        opened(hd_double).xfer2(hd_frame())
    assert caught.value.errno == errno.EIO and hd_double.frames_latched() == 0


def test_pixels_can_be_seen_with_the_board_turned(hd_double):
    frame = [0x72] + [0] * 768
    frame[1 + 3 * 15] = 255  # the board's top right LED, red
    opened(hd_double).xfer2(frame)
    assert hd_double.pixels(rotation=90)[0] == (255, 0, 0)  # turned back: top left
    assert hd_double.pixels(rotation=180)[16 * 15] == (255, 0, 0)
    assert hd_double.pixels(rotation=270)[255] == (255, 0, 0)


def test_the_mini_shows_nothing_until_its_controllers_are_switched_on(mini_double):
    ram = [0x80, 0] + [63] * 224
    mini_send(mini_double, 0, [0xCC], ram)
    mini_send(mini_double, 1, [0xCC], ram)
    assert mini_double.pixels() == [(0, 0, 0)] * 119
    mini_send(mini_double, 0, *LIBRARY_INIT)
    mini_send(mini_double, 1, *LIBRARY_INIT)
    assert mini_double.pixels() == [(63, 63, 63)] * 119


def test_a_mini_ram_byte_lights_one_channel_of_one_pixel(mini_double):
    mini_send(mini_double, 0, *LIBRARY_INIT, [0x80, 4 * 28 + 27, 40])  # COM 4, ROW 27
    mini_send(mini_double, 1, *LIBRARY_INIT, [0x80, 2 * 28 + 17, 50])  # COM 2, ROW 17
    seen = mini_double.pixels()
    assert seen[0] == (40, 0, 0)  # top left, red
    assert seen[6 * 17 + 16] == (0, 0, 50)  # bottom right, blue
    assert sum(1 for pixel in seen if pixel != (0, 0, 0)) == 2


def test_the_mini_layout_uses_each_ram_byte_once(spi_double):
    rows, coms = spi_double.MINI_COLUMN_ROWS, spi_double.MINI_ROW_COMS
    used = {(com, row) for com in coms for column in rows for row in column}
    assert len(used) == 7 * 9 * 3 and all(1 <= row < 28 and 1 <= com < 8 for com, row in used)
    assert 0 not in coms and len(set(coms)) == 7


def test_a_malformed_ht16d35_command_changes_nothing(mini_double):
    mini_send(mini_double, 0, [0xCC], [0x37], [0x37, 65], [0x42, 0xFF], [0x99, 1])
    mini_send(mini_double, 0, [0x80, 200] + [1] * 25)
    assert mini_double.controllers()[0]["brightness"] == 64
    assert mini_double.controllers()[0]["row_pins"] == 0
    assert len(mini_double.errors()) == 5
    assert mini_double.commands(0, 0) == [0xCC]


def test_a_soft_reset_turns_the_mini_off_but_keeps_its_ram(mini_double):
    for device in (0, 1):
        mini_send(mini_double, device, *LIBRARY_INIT, [0x80, 0] + [9] * 224)
    mini_send(mini_double, 0, [0xCC])
    assert mini_double.controllers()[0]["system"] == 0
    mini_send(mini_double, 0, *LIBRARY_INIT[1:])
    assert mini_double.pixels() == [(9, 9, 9)] * 119


def test_the_state_file_holds_the_decoded_pixels(hd_double, tmp_path, monkeypatch):
    path = tmp_path / "spi.json"
    monkeypatch.setenv("BLINKT_SPI_DOUBLE_STATE", str(path))
    spi = opened(hd_double)
    spi.xfer2(hd_frame())
    spi.close()
    state = json.loads(path.read_text())
    assert state["board"] == "hd" and state["frames"] == 1 and state["open"] == []
    assert state["pixels"][0] == {"r": 7, "g": 8, "b": 9} and len(state["pixels"]) == 256
    assert [p.name for p in tmp_path.iterdir()] == ["spi.json"]


def test_the_board_and_devices_come_from_the_environment(spi_double, monkeypatch):
    monkeypatch.setenv("BLINKT_SPI_DOUBLE_BOARD", "mini")
    monkeypatch.setenv("BLINKT_SPI_DOUBLE_DEVICES", "0.0")
    spi_double.reset()
    assert spi_double.board() == "mini" and spi_double.size() == (17, 7)
    with pytest.raises(FileNotFoundError):
        opened(spi_double, 0, 1)

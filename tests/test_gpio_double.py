"""The RPi.GPIO double itself: API errors like the real module, APA102 decoding."""

import json

import pytest

DATA, CLOCK = 23, 24


def led_word(r, g, b, brightness=31, header=0b111):
    return header << 29 | brightness << 24 | b << 16 | g << 8 | r


def bits(words, start=32, end=36):
    stream = [0] * start
    for word in words:
        stream += [word >> shift & 1 for shift in range(31, -1, -1)]
    return stream + [0] * end


def clock_out(gpio, stream, data=DATA, clock=CLOCK):
    gpio.setmode(gpio.BCM)
    gpio.setup([data, clock], gpio.OUT)
    for bit in stream:
        gpio.output(data, bit)
        gpio.output(clock, gpio.HIGH)
        gpio.output(clock, gpio.LOW)


RAINBOW = [(i * 30, 255 - i * 30, i, i + 1) for i in range(8)]


def test_decodes_eight_led_words_after_start_and_end_frames(gpio_double):
    clock_out(gpio_double, bits([led_word(*pixel) for pixel in RAINBOW]))
    assert gpio_double.pixels() == RAINBOW
    assert gpio_double.frames_latched() == 1


def test_longer_start_and_end_frames_still_decode(gpio_double):
    clock_out(gpio_double, bits([led_word(1, 2, 3)] * 8, start=40, end=64) * 2)
    assert gpio_double.pixels() == [(1, 2, 3, 31)] * 8
    assert gpio_double.frames_latched() == 2


def test_frame_is_not_latched_without_the_full_end_frame(gpio_double):
    clock_out(gpio_double, bits([led_word(9, 9, 9)] * 8, end=35))
    assert gpio_double.frames_latched() == 0
    assert gpio_double.pixels() == [(0, 0, 0, 0)] * 8


def test_led_word_with_a_wrong_header_is_rejected(gpio_double):
    words = [led_word(5, 5, 5)] * 3 + [led_word(5, 5, 5, header=0b110)] + [led_word(5, 5, 5)] * 4
    clock_out(gpio_double, bits(words))
    assert gpio_double.frames_latched() == 0
    assert gpio_double.errors() == ["LED 3: header 110, expected 111"]


def test_start_frame_shorter_than_32_zeros_is_ignored(gpio_double):
    clock_out(gpio_double, bits([led_word(5, 5, 5)] * 8, start=31))
    assert gpio_double.frames_latched() == 0


def test_data_set_after_the_rising_edge_is_not_sampled(gpio_double):
    gpio_double.setmode(gpio_double.BCM)
    gpio_double.setup([DATA, CLOCK], gpio_double.OUT)
    for bit in bits([led_word(7, 7, 7)] * 8):
        gpio_double.output(CLOCK, 1)
        gpio_double.output(DATA, bit)
        gpio_double.output(CLOCK, 0)
    assert gpio_double.frames_latched() == 0


def test_configured_pins_are_decoded(gpio_double):
    gpio_double.configure(data_pin=5, clock_pin=6)
    clock_out(gpio_double, bits([led_word(1, 1, 1)] * 8), data=5, clock=6)
    assert gpio_double.frames_latched() == 1


def test_history_records_level_changes_with_time(gpio_double):
    clock_out(gpio_double, [1, 0])
    levels = [(pin, level) for _, pin, level in gpio_double.history()]
    assert levels == [(23, 0), (24, 0), (23, 1), (24, 1), (24, 0), (23, 0), (24, 1), (24, 0)]
    times = [t for t, _, _ in gpio_double.history()]
    assert times == sorted(times)


def test_setup_before_setmode_raises_like_rpi_gpio(gpio_double):
    with pytest.raises(RuntimeError, match="Please set pin numbering mode"):
        gpio_double.setup(DATA, gpio_double.OUT)


def test_output_to_a_pin_not_set_up_as_output_raises(gpio_double):
    gpio_double.setmode(gpio_double.BCM)
    gpio_double.setup(DATA, gpio_double.IN)
    with pytest.raises(RuntimeError, match="has not been set up as an OUTPUT"):
        gpio_double.output(DATA, 1)


def test_board_numbering_maps_to_bcm(gpio_double):
    gpio_double.setmode(gpio_double.BOARD)
    gpio_double.setup([16, 18], gpio_double.OUT, initial=gpio_double.HIGH)
    assert gpio_double.is_setup(23) and gpio_double.is_setup(24)
    assert gpio_double.input(16) == gpio_double.HIGH


def test_cleanup_of_some_channels_keeps_the_others(gpio_double):
    gpio_double.setmode(gpio_double.BCM)
    gpio_double.setup([DATA, CLOCK, 4], gpio_double.OUT)
    gpio_double.cleanup([DATA, CLOCK])
    assert not gpio_double.is_setup(DATA) and gpio_double.is_setup(4)
    assert gpio_double.getmode() == gpio_double.BCM


def test_state_file_holds_the_latched_leds(gpio_double, tmp_path, monkeypatch):
    state_file = tmp_path / "leds.json"
    monkeypatch.setenv("BLINKT_GPIO_DOUBLE_STATE", str(state_file))
    clock_out(gpio_double, bits([led_word(255, 0, 0, brightness=31)] * 8))
    state = json.loads(state_file.read_text())
    assert state["pixels"][0] == {"r": 255, "g": 0, "b": 0, "brightness": 1.0}
    assert (state["frames"], state["cleaned_up"]) == (1, False)


def test_state_file_records_cleanup(gpio_double, tmp_path, monkeypatch):
    state_file = tmp_path / "leds.json"
    monkeypatch.setenv("BLINKT_GPIO_DOUBLE_STATE", str(state_file))
    clock_out(gpio_double, [])
    gpio_double.cleanup([DATA, CLOCK])
    assert json.loads(state_file.read_text())["cleaned_up"] is True
    assert list(tmp_path.iterdir()) == [state_file]

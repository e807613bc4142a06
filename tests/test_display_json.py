"""JsonDisplay: one flushed JSON object per changed frame."""

import io
import json

from blinkt_agent import config
from blinkt_agent.displays import close, open_display
from blinkt_agent.frame import Pixel, make_frame

FRAME = make_frame([Pixel(1, 2, 3, 0.5)])


class FlushCounter(io.StringIO):
    flushes = 0

    def flush(self):
        self.flushes += 1


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_frame_is_one_json_object_with_eight_pixels():
    stream = io.StringIO()
    open_display(config.defaults(), "json", stream=stream).show(FRAME)
    (shown,) = lines(stream)
    assert shown["pixels"][0] == {"r": 1, "g": 2, "b": 3, "brightness": 0.5}
    assert len(shown["pixels"]) == 8 and list(shown) == ["pixels"]


def test_only_changed_frames_are_written_each_flushed():
    stream = FlushCounter()
    display = open_display(config.defaults(), "json", stream=stream)
    for frame in (FRAME, FRAME, make_frame([])):
        display.show(frame)
    assert len(lines(stream)) == 2 and stream.flushes == 2


def test_close_ends_with_a_dark_frame_once():
    stream = io.StringIO()
    display = open_display(config.defaults(), "json", stream=stream)
    display.show(FRAME)
    close(display)
    close(display)
    assert [p["brightness"] for p in lines(stream)[-1]["pixels"]] == [0.0] * 8
    assert len(lines(stream)) == 2

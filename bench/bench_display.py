"""Display cost: a Blinkt! frame write against the GPIO double, and terminal rendering."""

import io
import time

from blinkt_agent.displays import close
from blinkt_agent.displays.blinkt import BlinktDisplay
from blinkt_agent.displays.terminal import TerminalDisplay
from blinkt_agent.frame import Pixel, make_frame
from tests.fixtures_gpio import load_gpio_double

FRAMES = [make_frame(Pixel(i, 255 - i, (i * 7) % 256, 0.5) for _ in range(8)) for i in range(200)]


class CountingGpio:
    """The GPIO double with output() calls counted."""

    def __init__(self, gpio):
        self._gpio, self.outputs = gpio, 0

    def output(self, channel, value):
        self.outputs += 1
        self._gpio.output(channel, value)

    def __getattr__(self, name):
        return getattr(self._gpio, name)


def time_per_frame(display, frames):
    start = time.perf_counter()
    for frame in frames:
        display.show(frame)
    return (time.perf_counter() - start) / len(frames)


def main():
    gpio = load_gpio_double()
    gpio.reset()
    counting = CountingGpio(gpio)
    blinkt = BlinktDisplay(gpio=counting)
    seconds = time_per_frame(blinkt, FRAMES)
    outputs = counting.outputs / len(FRAMES)
    print(f"BlinktDisplay.show on the GPIO double  {seconds * 1e3:8.3f} ms/frame")
    print(f"frames latched by the double           {gpio.frames_latched():4d} of {len(FRAMES)}")
    print(f"GPIO output() calls per frame          {outputs:8.0f}")
    close(blinkt)

    terminals: tuple[tuple[str, io.StringIO, dict[str, str]], ...] = (
        ("pipe", io.StringIO(), {}),
        ("tty", _Tty(), {"TERM": "xterm-256color"}),
        ("NO_COLOR", _Tty(), {"TERM": "xterm-256color", "NO_COLOR": "1"}),
        ("dumb", _Tty(), {"TERM": "dumb"}),
    )
    for name, stream, environ in terminals:
        display = TerminalDisplay(stream, environ=environ, columns=lambda: 80, watch_resize=False)
        seconds = time_per_frame(display, FRAMES)
        print(f"TerminalDisplay.show ({name:8s})      {seconds * 1e6:8.1f} us/frame")


class _Tty(io.StringIO):
    def isatty(self):
        return True


if __name__ == "__main__":
    main()

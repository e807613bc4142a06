"""Every hardware display on its wire-protocol double: the time to write one frame
(median of changed frames) and what goes over the wire per frame.

    .venv/bin/python -m bench.bench_displays
"""

import statistics
import time

from blinkt_agent.displays.blinkstick import BlinkStickDisplay
from blinkt_agent.displays.blinkt import BlinktDisplay
from blinkt_agent.displays.traffic import TrafficDisplay
from blinkt_agent.displays.unicornhathd import UnicornHatHdDisplay
from blinkt_agent.displays.unicornhatmini import UnicornHatMiniDisplay
from blinkt_agent.frame import Pixel, Shape, make_frame
from tests.fixtures_gpio import load_gpio_double
from tests.fixtures_spi import load_spidev_double
from tests.fixtures_usb import load_usb_double

ROUNDS = 1000


def frames(shape: Shape) -> list:
    """Two frames every pixel of which differs, alternating: every show() writes (a
    traffic light: red, then green)."""
    if shape.kind == "signal":
        red, green = Pixel(255, 0, 0, 1.0), Pixel(0, 255, 0, 1.0)
        return [make_frame([red], shape), make_frame([Pixel(), Pixel(), green], shape)]
    a = make_frame((Pixel(i % 256, 255 - i % 256, 7, 0.5) for i in range(shape.size)), shape)
    b = make_frame((Pixel(7, i % 256, 255 - i % 256, 0.8) for i in range(shape.size)), shape)
    return [a, b]


def median_write(display) -> float:
    pair = frames(display.shape)
    times = []
    for n in range(ROUNDS):
        start = time.perf_counter()
        display.show(pair[n % 2])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, seconds: float, per_frame: str) -> None:
    print(f"{name:16s} {seconds * 1e6:9.1f} us/frame   {per_frame}")


def main() -> None:
    print(f"median of {ROUNDS} changed frames, on the wire-protocol doubles")
    gpio = load_gpio_double()
    gpio.reset()
    blinkt = BlinktDisplay(gpio=gpio)
    before = gpio.writes([23, 24])
    seconds = median_write(blinkt)
    writes = (gpio.writes([23, 24]) - before) / ROUNDS
    report("blinkt", seconds, f"{writes:.0f} GPIO writes (APA102: 324 bits, 3 writes each)")
    blinkt.release()

    gpio.reset()
    traffic = TrafficDisplay(gpio=gpio)
    before = gpio.writes([9, 10, 11])
    seconds = median_write(traffic)
    writes = (gpio.writes([9, 10, 11]) - before) / ROUNDS
    report("traffic", seconds, f"{writes:.1f} GPIO writes (the two lights that change)")
    traffic.release()

    usb = load_usb_double()
    for model in ("nano", "strip", "flex"):
        usb.core.reset()
        (gadget,) = usb.core.configure(model)
        stick = BlinkStickDisplay(usb=usb)
        before = gadget.wire_bytes
        seconds = median_write(stick)
        wire = (gadget.wire_bytes - before) / ROUNDS
        report(f"blinkstick {model}", seconds, f"{wire:.0f} USB bytes (SETUP + report), 1 transfer")
        stick.release()

    spidev = load_spidev_double()
    spidev.reset()
    spidev.configure(board="hd")
    hd = UnicornHatHdDisplay(spidev=spidev, frame_gap=0.0)  # the HAT's 1/120 s not waited here
    before = spidev.wire_bytes()
    seconds = median_write(hd)
    wire = (spidev.wire_bytes() - before) / ROUNDS
    report("unicornhathd", seconds, f"{wire:.0f} SPI bytes (0x72 + 768 RGB)")
    hd.release()

    spidev.reset()
    spidev.configure(board="mini")
    mini = UnicornHatMiniDisplay(spidev=spidev)
    before = spidev.wire_bytes()
    seconds = median_write(mini)
    wire = (spidev.wire_bytes() - before) / ROUNDS
    report("unicornhatmini", seconds, f"{wire:.0f} SPI bytes (2 controllers' gray RAM)")
    mini.release()


if __name__ == "__main__":
    main()

"""What a BlinkStick's firmware does with a HID SET_REPORT: the LEDs it then shows.

Modelled on arvydas/blinkstick-firmware main.cpp: branch master (the original
BlinkStick: reports 1..3, PWM) and branch pro (usbFunctionSetup, usbFunctionWrite,
channelToPin and the report descriptor there); the models and their LED counts on
arvydas/blinkstick-python blinkstick.py (get_variant: the serial's major version,
then bcdDevice for major 3).

Reports (the first data byte is the report ID; the firmware ignores it):
  1: [id, R, G, B]            the first LED (PWM LED, or LED 0 on channel 0)
  4: [id, mode]               BlinkStick Pro mode: 0 RGB, 1 RGB inverse, 2 WS2812
  5: [id, channel, index, R, G, B]
  6/7/8/9: [id, channel, (G, R, B) * 8/16/32/64]
The firmware keeps one buffer `led[]` of 64 * (G, R, B); reports 1, 5 and 6..9 fill
it and then clock its first 1, index + 1 or 8/16/32/64 LEDs out on the channel's pin
(1 = G, 2 = B, anything else = R). A report whose data is shorter than the descriptor
says never completes, so nothing is clocked out. A Pro drives WS2812 LEDs only in
mode 2; the Strip, Square, Nano and Flex always do, on channel 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Rgb = tuple[int, int, int]

MAX_LEDS = 64
CHANNELS = 3
MODE_RGB, MODE_RGB_INVERSE, MODE_WS2812 = 0, 1, 2

# Report ID → data bytes after the report ID (REPORT_COUNT in the firmware's descriptor).
REPORT_SIZES = {1: 3, 2: 32, 3: 32, 4: 1, 5: 5, 6: 25, 7: 49, 8: 97, 9: 193}
FRAME_LEDS = {6: 8, 7: 16, 8: 32, 9: 64}  # LED frame reports: LEDs clocked out
ORIGINAL_REPORTS = (1, 2, 3)  # the original BlinkStick (major 1) has no more


@dataclass(frozen=True)
class Model:
    name: str
    leds: int  # LEDs on the device (or on channel 0 of a Pro: we count its first)
    ws2812: bool  # addressable LEDs on channel 0 (else one PWM-driven RGB LED)


ORIGINAL = Model("BlinkStick", 1, ws2812=False)
PRO = Model("BlinkStick Pro", 1, ws2812=False)  # WS2812 only once set to mode 2
BY_BCD_DEVICE = {  # major version 3: told apart by bcdDevice
    0x0200: Model("BlinkStick Square", 8, ws2812=True),
    0x0201: Model("BlinkStick Strip", 8, ws2812=True),
    0x0202: Model("BlinkStick Nano", 2, ws2812=True),
    0x0203: Model("BlinkStick Flex", 32, ws2812=True),
}
UNKNOWN = Model("BlinkStick (unknown)", 8, ws2812=True)


def model_of(serial: str, bcd_device: int) -> Model:
    """As blinkstick-python's get_variant: serial[-3] is the major version."""
    major = serial[-3] if len(serial) >= 3 else ""
    if major == "1":
        return ORIGINAL
    if major == "2":
        return PRO
    if major == "3":  # one the library does not know yet: say a strip of 8
        return BY_BCD_DEVICE.get(bcd_device, UNKNOWN)
    raise ValueError(f"{serial} bcdDevice {bcd_device:#06x}: no BlinkStick model known")


@dataclass
class Firmware:
    """One BlinkStick's state: its buffer, what each channel's LEDs latched, its mode."""

    model: Model
    mode: int = MODE_RGB
    buffer: bytearray = field(default_factory=lambda: bytearray(MAX_LEDS * 3), repr=False)
    channels: list[list[Rgb]] = field(
        default_factory=lambda: [[(0, 0, 0)] * MAX_LEDS for _ in range(CHANNELS)], repr=False
    )
    pwm_led: Rgb = (0, 0, 0)  # the RGB LED of an original BlinkStick or a Pro in mode 0/1
    latched: int = 0  # reports that changed what the LEDs show (or could have)
    ignored: list[str] = field(default_factory=list)  # why reports did nothing

    def __post_init__(self) -> None:
        if self.model.ws2812:
            self.mode = MODE_WS2812

    def leds(self) -> list[Rgb]:
        """What the device's LEDs show, LED 0 first (model.leds of them)."""
        if self.model.ws2812 or self.mode == MODE_WS2812:
            return list(self.channels[0][: self.model.leds])
        return [self.pwm_led]

    def set_report(self, report_id: int, data: bytes) -> bool:
        """Apply one SET_REPORT; True when LEDs were (re)latched."""
        if self.model is ORIGINAL and report_id not in ORIGINAL_REPORTS:
            return self._ignore(f"report {report_id}: not in the original BlinkStick's")
        if report_id not in REPORT_SIZES:
            return self._ignore(f"report {report_id}: not in the report descriptor")
        if len(data) < 1 + REPORT_SIZES[report_id]:
            size = 1 + REPORT_SIZES[report_id]
            return self._ignore(f"report {report_id}: {len(data)} bytes, {size} needed")
        if report_id == 1:
            self.buffer[0:3] = bytes((data[2], data[1], data[3]))  # led[] holds G, R, B
            if self.mode == MODE_WS2812:
                self._clock_out(0, 1)
            else:
                self.pwm_led = (data[1], data[2], data[3])
            self.latched += 1
            return True
        if report_id == 4:
            if self.model is PRO:
                self.mode = data[1] if data[1] <= MODE_WS2812 else MODE_RGB
            return False
        if report_id in (2, 3):
            return False  # name and data blocks in EEPROM: no LED changes
        if self.mode != MODE_WS2812:
            return self._ignore(f"report {report_id}: the Pro is in mode {self.mode}, not 2")
        if report_id == 5:
            channel, index = data[1], data[2]
            if index >= MAX_LEDS:
                return self._ignore(f"report 5: LED index {index} past the buffer")
            self.buffer[index * 3 : index * 3 + 3] = bytes((data[4], data[3], data[5]))
            self._clock_out(channel, index + 1)
        else:
            leds = FRAME_LEDS[report_id]
            self.buffer[: leds * 3] = data[2 : 2 + leds * 3]
            self._clock_out(data[1], leds)
        self.latched += 1
        return True

    def _clock_out(self, channel: int, leds: int) -> None:
        pin = channel if channel in (1, 2) else 0  # channelToPin: anything else is R
        buffer = self.buffer
        for i in range(leds):
            g, r, b = buffer[3 * i], buffer[3 * i + 1], buffer[3 * i + 2]
            self.channels[pin][i] = (r, g, b)

    def _ignore(self, why: str) -> bool:
        self.ignored.append(why)
        return False

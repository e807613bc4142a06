"""The APA102 wire protocol as the LEDs of a Blinkt! read it: bits in, latched pixels out.

One decoder for every place a test reads LEDs from pin levels: the RPi.GPIO
double (GPIO.py, levels its caller drives) and the emulated Raspberry Pi's
trace decoder (tests/pi/gpio_trace.py, levels replayed from the GPIO
controller's registers). The caller samples the data pin on each rising edge
of the clock pin and feeds the bit to clock():

  * a start frame is at least 32 zero bits; the first 1 after it begins
    the first LED word (the LED's own way of finding the word boundary);
  * 8 LED words of 32 bits: 0b111 + 5-bit brightness, blue, green, red;
  * the frame is latched (shown) only after 36 more clock edges: the end
    frame that pushes the data down the chain (each LED delays it by half
    a clock, so n LEDs need n/2 clocks; the Blinkt! driver sends 36 and
    this decoder insists on them, so a driver that skimps is caught).
A bad header is recorded in `errors` and the frame is dropped.

Stdlib only: the container tests copy this package to .../dist-packages/RPi/.
"""

NUM_PIXELS = 8
START_FRAME_BITS = 32
END_FRAME_CLOCKS = 36


class Apa102Decoder:
    """Turns the bits sampled on rising clock edges into latched pixels."""

    def __init__(self):
        self.pixels = [(0, 0, 0, 0)] * NUM_PIXELS  # (r, g, b, brightness 0..31) per LED
        self.frames = 0
        self.errors = []
        self._seek()

    def _seek(self):
        self._mode = "start"
        self._zeros = 0
        self._words = []

    def clock(self, bit):
        """Feed one sampled bit; True when this edge latched a frame."""
        if self._mode == "start":
            if bit:
                if self._zeros >= START_FRAME_BITS:
                    self._mode, self._word, self._bits = "word", 1, 1
                self._zeros = 0
            else:
                self._zeros += 1
        elif self._mode == "word":
            self._word, self._bits = self._word << 1 | bit, self._bits + 1
            if self._bits == 32:
                return self._end_word()
        else:
            self._end_clocks += 1
            if self._end_clocks == END_FRAME_CLOCKS:
                self.pixels = [self._pixel(word) for word in self._words]
                self.frames += 1
                self._seek()
                return True
        return False

    def _end_word(self):
        if self._word >> 29 != 0b111:
            led = len(self._words)
            self.errors.append(f"LED {led}: header {self._word >> 29:03b}, expected 111")
            self._seek()
            return False
        self._words.append(self._word)
        if len(self._words) == NUM_PIXELS:
            self._mode, self._end_clocks = "end", 0
        else:
            self._word, self._bits = 0, 0
        return False

    @staticmethod
    def _pixel(word):
        return (word & 0xFF, word >> 8 & 0xFF, word >> 16 & 0xFF, word >> 24 & 0x1F)

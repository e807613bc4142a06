"""A simulated pyusb (Debian's python3-usb 1.2.1) with BlinkSticks plugged in.

Implements the part of pyusb that blinkt_agent.displays.blinkstick uses, raising
what the real module raises, and decodes every control transfer the way a
BlinkStick's firmware would (_blinkstick.py): core.gadget().leds() is what the
device's LEDs show.

Stdlib only: the container tests copy this package to .../dist-packages/usb/.
Which devices are plugged in comes from configure() (tests) or from
BLINKT_USB_DOUBLE_DEVICES (see core.configure); when BLINKT_USB_DOUBLE_STATE names
a file, the decoded LEDs are written there (atomically, as JSON) after each report.

Like the real package, `import usb` alone does not import usb.core or usb.util.
"""

version_info = (1, 2, 1)
__version__ = "1.2.1"

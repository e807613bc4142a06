"""Test double of the RPi package: only RPi.GPIO, simulated (see GPIO.py)."""

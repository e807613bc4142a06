"""blinkt-agent: show a Nomad node's allocations on a Pimoroni Blinkt!."""

__version__ = "0.1.0"

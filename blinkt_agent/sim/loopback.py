"""What every simulated server shares: a context manager around start()/stop(), and its address."""

from __future__ import annotations

from typing import Self


class StartStop:
    """Mixin: `with X() as x:` starts x and always stops it."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LoopbackServer(StartStop):
    """A simulated server; subclasses set `host` and `_port` (the real port once started)."""

    host: str
    _port: int

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        return f"{self.host}:{self._port}"

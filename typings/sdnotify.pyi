# sdnotify 0.3.2 (python3-sdnotify in bookworm) ships no type hints: its public API.
import socket

__version__: str

class SystemdNotifier:
    debug: bool
    socket: socket.socket | None
    def __init__(self, debug: bool = False) -> None: ...
    # Encodes `state` as latin-1 and drops whatever fails unless debug.
    def notify(self, state: str) -> None: ...

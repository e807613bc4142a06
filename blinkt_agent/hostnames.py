"""Host names through the system resolver (/etc/hosts, then DNS), with a time limit.

getaddrinfo() cannot be given a timeout, and with an unreachable name server it
blocks for resolv.conf's timeout times attempts; it runs in a helper thread so that
callers wait at most `timeout` seconds. Its errors are sorted into the two
cases a caller must tell apart:

- NameUnknown: the name does not exist (EAI_NONAME, EAI_NODATA). Asking again
  will not help, so a setting naming it is a configuration error.
- NameNotYet: the resolver could not answer (no network yet at boot, a name
  server down, no answer in time). Asking again later may work.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable

Resolve = Callable[[str], list[str]]

_DOES_NOT_EXIST = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


class NameUnknown(LookupError):
    """The system resolver says that the name does not exist."""


class NameNotYet(LookupError):
    """The system resolver could not answer now (try again later)."""


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def resolve(name: str, timeout: float = 3.0) -> list[str]:
    """The IPv4/IPv6 addresses of `name` in the resolver's order, without duplicates."""
    if is_ip(name):
        return [name]
    found: list[str] = []
    failed: list[socket.gaierror] = []

    def work() -> None:
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except socket.gaierror as err:
            failed.append(err)
        except (UnicodeError, ValueError) as err:  # a label too long for IDNA, a NUL byte
            failed.append(socket.gaierror(socket.EAI_NONAME, str(err)))
        else:
            # sockaddr[0] is the address; an IPv6 zone index is dropped.
            found.extend(str(sockaddr[0]).split("%", 1)[0] for *_, sockaddr in infos)

    worker = threading.Thread(target=work, name=f"resolve {name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise NameNotYet(f"the system resolver gave no answer within {timeout:g} s")
    if failed:
        error = failed[0]
        reason = error.strerror or str(error)
        if error.errno in _DOES_NOT_EXIST:
            raise NameUnknown(reason)
        raise NameNotYet(reason)
    addresses = list(dict.fromkeys(found))  # without duplicates, in the resolver's order
    if not addresses:
        raise NameUnknown("no address")
    return addresses

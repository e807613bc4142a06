"""Which locks a call takes: for signal handlers, which must take none.

A Python signal handler runs in the main thread between two bytecodes of the
code it interrupted. If that code holds a lock (it is inside Event.set() or
Event.wait(), a Condition, a logging handler) and the handler asks for the same
lock, the process deadlocks. Locks are C objects: their acquire() and
__enter__() calls show up as "c_call" events of sys.setprofile. (CPython 3.11
reports no event for a `with` statement straight on a lock object; every lock
taken through a Python-level Event, Condition, Queue or logging.Handler is seen.)
"""

import sys
import threading
from collections.abc import Callable
from types import FrameType

_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
_TAKING = {"acquire", "acquire_lock", "__enter__"}


def locks_taken(call: Callable[[], object]) -> list[str]:
    """The locks `call()` took in this thread, one line each."""
    taken: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        owner, name = getattr(arg, "__self__", None), getattr(arg, "__name__", "")
        if event == "c_call" and isinstance(owner, _LOCK_TYPES) and name in _TAKING:
            where = f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})"
            taken.append(f"{name}() of {owner!r} in {where}")

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(previous)
    return taken

"""The self-pipe that wakes the sleeping service loop: from threads and from signals."""

import os
import signal
import threading
import time

from blinkt_agent.waker import Waker


def test_a_wake_from_another_thread_ends_the_wait():
    waker = Waker()
    threading.Timer(0.2, waker.wake).start()
    started = time.monotonic()
    assert waker.wait(10) is True
    assert time.monotonic() - started < 5
    waker.close()


def test_without_a_wake_the_wait_times_out():
    waker = Waker()
    assert waker.wait(0.05) is False
    waker.close()


def test_wakes_never_block_and_one_wait_takes_them_all():
    waker = Waker()
    for _ in range(100_000):  # far beyond the socket buffer: wake() must not block
        waker.wake()
    assert waker.wait(0) is True
    assert waker.wait(0) is False
    waker.close()


def test_a_signal_wakes_the_wait_through_set_wakeup_fd():
    waker = Waker()
    handled = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: handled.append(True))
    previous_fd = signal.set_wakeup_fd(waker.signal_fd, warn_on_full_buffer=False)
    try:
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        started = time.monotonic()
        assert waker.wait(10) is True
        assert time.monotonic() - started < 5
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGUSR1, previous)
        waker.close()
    assert handled == [True]

"""The agent's signal handlers take no lock (tests/lock_probe.py says why they must not)."""

import signal

import pytest

from blinkt_agent import config
from blinkt_agent.agent import Agent, signals_for
from blinkt_agent.frame import BLINKT, Frame
from blinkt_agent.notify import Notifier
from tests.lock_probe import locks_taken


class NoDisplay:
    shape = BLINKT

    def clear(self) -> None:
        pass

    def release(self) -> None:
        pass

    def show(self, frame: Frame) -> None:
        pass


class Silent:
    def notify(self, state: str) -> None:
        pass


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_the_agents_handlers_take_no_lock(signum):
    agent = Agent(config.defaults(), NoDisplay(), Notifier(Silent(), environ={}))
    try:
        with signals_for(agent):
            handler = signal.getsignal(signum)
            assert callable(handler)
            assert locks_taken(lambda: handler(signum, None)) == []
    finally:
        agent.waker.close()

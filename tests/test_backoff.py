import random

from blinkt_agent.backoff import Backoff


def test_backoff_doubles_with_jitter_up_to_the_cap():
    backoff = Backoff(base=1, cap=8, rng=random.Random(1))
    delays = [backoff.next() for _ in range(6)]
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_backoff_reset_starts_again_at_the_base():
    backoff = Backoff(base=1, cap=60, rng=random.Random(2))
    for _ in range(10):
        backoff.next()
    backoff.reset()
    assert backoff.next() <= 1


def test_backoff_jitter_spreads_a_fleet():
    delays = {round(Backoff(cap=60, rng=random.Random(seed)).next(), 3) for seed in range(20)}
    assert len(delays) > 10

"""Shared by the tests of blinkt_agent.sim.kubernetes: requests with a token, watch reading."""

import json
import time

import requests


def get(sim, path, token=None, **params):
    """GET an API path as the admin (or with the given token)."""
    headers = {"Authorization": f"Bearer {token or sim.admin_token}"}
    return requests.get(sim.url + path, params=params, headers=headers, timeout=5)


class Watch:
    """A watch request read line by line as the events come."""

    def __init__(self, sim, path="/api/v1/pods", token=None, **params):
        params.setdefault("watch", "1")
        headers = {"Authorization": f"Bearer {token or sim.admin_token}"}
        self.response = requests.get(
            sim.url + path, params=params, headers=headers, stream=True, timeout=10
        )
        self._lines = self.response.iter_lines()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.response.close()

    def next(self):
        """The next event as (type, object)."""
        event = json.loads(next(self._lines))
        return event["type"], event["object"]

    def take(self, n):
        return [self.next() for _ in range(n)]

    def rest(self):
        """Every event until the server ends the stream, and how long that took."""
        start = time.monotonic()
        events = [(e["type"], e["object"]) for e in map(json.loads, self._lines)]
        return events, time.monotonic() - start


def rv(doc):
    return int(doc["metadata"]["resourceVersion"])

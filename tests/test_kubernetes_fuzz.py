"""Whatever an API server (or something posing as one) sends, the Kubernetes source says
so in one line or shows it: watch lines, events and objects from outside, fuzzed."""

import json
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from blinkt_agent.errors import BadResponse, SourceError
from blinkt_agent.sources.kubernetes.client import KubeClient
from blinkt_agent.sources.kubernetes.credentials import Credentials
from blinkt_agent.sources.kubernetes.watcher import Reflector

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


class Client(KubeClient):
    """The real client's parsing, fed the lines a fake server sends."""

    def __init__(self, lines):
        super().__init__(Credentials(server="http://127.0.0.1:9"))
        self.lines = lines

    def list(self, path, params=None):
        return [], "1"

    def watch(self, path, params, resource_version, timeout):
        for line in self.lines:
            yield self._event(path, line)


@given(st.binary(max_size=200))
def test_any_watch_line_is_an_event_or_a_bad_response(line):
    client = Client([])
    try:
        kind, obj = client._event("/api/v1/pods", line)
    except BadResponse as err:
        assert "\n" not in str(err)
    else:
        assert isinstance(kind, str) and isinstance(obj, dict)


events = st.fixed_dictionaries(
    {"type": st.sampled_from(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR", "x"])},
    optional={"object": json_values},
)


@settings(max_examples=200)
@given(st.lists(events | json_values, max_size=12))
def test_any_stream_of_events_changes_the_collection_or_fails_in_one_line(stream):
    lines = [json.dumps(event).encode() for event in stream]
    reflector = Reflector("pods", Client(lines), "/api/v1/pods", {}, 10.0)
    reflector.version = "1"
    try:
        reflector.step(threading.Event(), lambda: None)
    except SourceError as err:
        assert "\n" not in str(err)
    assert all(isinstance(obj, dict) for obj in reflector.objects.values())

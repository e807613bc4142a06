"""The apiserver's storage as a watcher sees it: one revision, a watch cache per resource.

What this copies from kubernetes/kubernetes (staging/src/k8s.io/apiserver/pkg/storage/):

- One global, increasing revision (etcd's): every write (create, update, delete) takes the
  next one, and it becomes the object's metadata.resourceVersion, a decimal string. A
  DELETED event carries the last state of the object with the deletion's revision
  (cacher/cacher.go setCachingObjects).
- A watch cache per resource (cacher/watch_cache.go): a sliding window of events whose
  capacity starts at 100, doubles while the whole window is younger than 75 s
  (eventFreshDuration) up to 100*1024, and halves when its newest quarter is older.
  Watching from resourceVersion N replays the window's events after N; N older than the
  window is `too old resource version: N (M)` (getAllEventsSinceLocked), where M is the
  revision the window can start after: its last re-list, or its oldest event minus one.
  N = 0 replays the current state as ADDED events instead (newCacheIntervalFromStore).
- etcd itself (etcd3/watcher.go): a watch without a resourceVersion, or any watch when the
  watch cache is off, reads the current state (RV 0) or every revision after N, until
  compaction: then `The resourceVersion for the provided watch is too old.`
- A watcher (cacher/cache_watcher.go convertToWatchEvent) sees an event only if the object
  passes its selectors before or after it: passing only after is ADDED, both MODIFIED,
  only before DELETED (the old object with the new revision). It sends nothing at or
  below the revision it started from (process()).

Readers and writers hold `lock`; `changed` wakes watchers after every write.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

RESOURCES = ("pods", "nodes")
LOWER_CAPACITY = 100  # watch_cache.go defaultLowerBoundCapacity
UPPER_CAPACITY = 100 * 1024  # defaultUpperBoundCapacity
EVENT_FRESH_S = 75.0  # eventFreshDuration
ETCD_TOO_OLD = "The resourceVersion for the provided watch is too old."  # etcd3/errors.go

Doc = dict[str, Any]
Matcher = Callable[[Doc], bool]


class Expired(Exception):
    """A watch asked for history the server no longer has (410, reason Expired)."""


@dataclass(frozen=True)
class Event:
    type: str  # ADDED, MODIFIED or DELETED
    rv: int
    obj: Doc  # the object after the write; for DELETED its last state, at the new rv
    prev: Doc | None  # the object before the write
    at: float = 0.0  # monotonic time the cache recorded it


class WatchCache:
    """One resource's window of recent events (watch_cache.go)."""

    def __init__(self, list_rv: int, bounds: tuple[int, int], monotonic: Callable[[], float]):
        self.lower, self.upper = bounds
        self.capacity = self.lower
        self.window: deque[Event] = deque()
        self.list_rv = list_rv
        self.removed_since_relist = False
        self.rv = list_rv  # the revision the cache is at (last event or last list)
        self.monotonic = monotonic

    def add(self, event: Event) -> None:
        """updateCache: resize, drop the oldest event when full, append."""
        self._resize(event.at)
        if len(self.window) == self.capacity:
            self.window.popleft()
            self.removed_since_relist = True
        self.window.append(event)
        self.rv = event.rv

    def _resize(self, now: float) -> None:
        """resizeCacheLocked: grow while a full window is fresh, shrink when it went stale."""
        if len(self.window) != self.capacity:
            return
        if now - self.window[0].at < EVENT_FRESH_S:
            self.capacity = min(self.capacity * 2, self.upper)
            return
        newest_quarter = self.window[len(self.window) - self.capacity // 4]
        if now - newest_quarter.at > EVENT_FRESH_S:
            capacity = max(self.capacity // 2, self.lower)
            while len(self.window) > capacity:
                self.window.popleft()
            self.capacity = capacity

    def relist(self, rv: int) -> None:
        """Replace: the window empties and starts after this list's revision."""
        self.window.clear()
        self.removed_since_relist = False
        self.list_rv = self.rv = rv

    def since(self, rv: int) -> list[Event]:
        """getAllEventsSinceLocked for rv > 0: the events after rv, or Expired."""
        if self.list_rv > 0 and not self.removed_since_relist:
            oldest = self.list_rv + 1
        else:
            oldest = self.window[0].rv
        if rv < oldest - 1:
            raise Expired(f"too old resource version: {rv} ({oldest - 1})")
        return [e for e in self.window if e.rv > rv]


class Watcher:
    """One open watch: its filter, where it starts, and the events waiting to be sent."""

    def __init__(
        self,
        resource: str,
        matches: Matcher,
        start_rv: int,
        *,
        bookmarks: bool,
        deadline: float,
        from_etcd: bool,
    ):
        self.resource = resource
        self.matches = matches
        self.start_rv = start_rv
        self.bookmarks = bookmarks
        self.deadline = deadline  # monotonic
        self.from_etcd = from_etcd
        self.queue: deque[tuple[str, Doc]] = deque()
        self.closed = False
        self.next_bookmark: float | None = None

    def offer(self, event: Event) -> None:
        """convertToWatchEvent + process(): queue what this watcher should see."""
        if event.rv <= self.start_rv:
            return
        now_passes = event.type != "DELETED" and self.matches(event.obj)
        before_passes = event.prev is not None and self.matches(event.prev)
        if now_passes and not before_passes:
            self.queue.append(("ADDED", event.obj))
        elif now_passes:
            self.queue.append(("MODIFIED", event.obj))
        elif before_passes:
            assert event.prev is not None
            self.queue.append(("DELETED", with_rv(event.prev, event.rv)))


def with_rv(doc: Doc, rv: int) -> Doc:
    """A copy of the object at another revision (updateResourceVersion)."""
    out = copy.copy(doc)
    out["metadata"] = {**doc["metadata"], "resourceVersion": str(rv)}
    return out


@dataclass
class Store:
    """Objects, the revision, watch caches, the etcd history since compaction, watchers."""

    cache_bounds: tuple[int, int] = (LOWER_CAPACITY, UPPER_CAPACITY)
    monotonic: Callable[[], float] = time.monotonic
    rv: int = 1
    compacted: int = 0  # etcd's compaction revision
    objects: dict[str, dict[str, Doc]] = field(default_factory=dict)
    caches: dict[str, WatchCache] = field(default_factory=dict)
    history: dict[str, list[Event]] = field(default_factory=dict)  # etcd, since compaction
    watchers: list[Watcher] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        for resource in RESOURCES:
            self.objects[resource] = {}
            self.caches[resource] = WatchCache(self.rv, self.cache_bounds, self.monotonic)
            self.history[resource] = []

    # -- writes (lock held) ----------------------------------------------------------------

    def put(self, resource: str, key: str, doc: Doc) -> Doc:
        """Create or update: the next revision becomes the object's resourceVersion."""
        self.rv += 1
        stored = with_rv(doc, self.rv)
        prev = self.objects[resource].get(key)
        self.objects[resource][key] = stored
        self._record(resource, Event("MODIFIED" if prev else "ADDED", self.rv, stored, prev))
        return stored

    def delete(self, resource: str, key: str) -> Doc:
        prev = self.objects[resource].pop(key)
        self.rv += 1
        gone = with_rv(prev, self.rv)
        self._record(resource, Event("DELETED", self.rv, gone, prev))
        return gone

    def _record(self, resource: str, event: Event) -> None:
        event = Event(event.type, event.rv, event.obj, event.prev, self.monotonic())
        self.caches[resource].add(event)
        self.history[resource].append(event)
        for watcher in self.watchers:
            if watcher.resource == resource:
                watcher.offer(event)
        self.changed.notify_all()

    def compact(self) -> None:
        """etcd compaction at the current revision; the watch caches start over from a
        list at it too (what a client meets after the apiserver re-lists)."""
        self.compacted = self.rv
        for resource in RESOURCES:
            self.history[resource].clear()
            self.caches[resource].relist(self.rv)

    def relist(self) -> None:
        """An apiserver restart: open watches end and every watch cache starts over from a
        list at the current revision (cacher.go startCaching: terminateAllWatchers, then
        the reflector's ListAndWatch replaces the cache)."""
        self.close_watches()
        for resource in RESOURCES:
            self.caches[resource].relist(self.rv)

    # -- reads (lock held) -----------------------------------------------------------------

    def current(self, resource: str, matches: Matcher) -> list[Doc]:
        """The objects that match, sorted by key (namespace/name), as the cacher lists."""
        objects = self.objects[resource]
        return [objects[key] for key in sorted(objects) if matches(objects[key])]

    def watch(
        self,
        resource: str,
        matches: Matcher,
        rv: int,
        *,
        from_etcd: bool,
        bookmarks: bool,
        deadline: float,
    ) -> tuple[Watcher, list[tuple[str, Doc]]]:
        """Start a watch at rv (0: the current state first). Returns the watcher and the
        events to send at once; raises Expired for history that is gone."""
        cache = self.caches[resource]
        if rv == 0:
            start = self.rv if from_etcd else cache.rv
            initial = [("ADDED", doc) for doc in self.current(resource, matches)]
            watcher = Watcher(
                resource,
                matches,
                start,
                bookmarks=bookmarks,
                deadline=deadline,
                from_etcd=from_etcd,
            )
        else:
            events: Iterable[Event]
            if from_etcd:
                if rv + 1 < self.compacted:  # etcd: ErrCompacted for a start before it
                    raise Expired(ETCD_TOO_OLD)
                events = [e for e in self.history[resource] if e.rv > rv]
            else:
                events = cache.since(rv)
            watcher = Watcher(
                resource, matches, rv, bookmarks=bookmarks, deadline=deadline, from_etcd=from_etcd
            )
            for event in events:
                watcher.offer(event)
            initial = list(watcher.queue)
            watcher.queue.clear()
            watcher.start_rv = max([rv, *(e.rv for e in events)])
        self.watchers.append(watcher)
        return watcher, initial

    def bookmark_rv(self, watcher: Watcher) -> int:
        """The revision a bookmark carries: the watch cache's (etcd's for etcd watches)."""
        return self.rv if watcher.from_etcd else self.caches[watcher.resource].rv

    def forget(self, watcher: Watcher) -> None:
        if watcher in self.watchers:
            self.watchers.remove(watcher)

    def close_watches(self) -> None:
        for watcher in self.watchers:
            watcher.closed = True
        self.watchers.clear()
        self.changed.notify_all()

"""Several watches side by side, merged into one picture: the frame of a Source.

A view made of more than one collection (the cluster view: nodes and their workloads;
a Kubernetes node and its pods) needs one watch per collection, each blocking on its
own stream. `Follow` runs each `Watch` in its own thread and emits the merged Snapshot
whenever one of them changes and all are current; a failing watch is a Problem, retried
with capped backoff with jitter, and starts over (its next answer comes at once). It
publishes a deadline per watch, so the service loop's watchdog can tell a long blocking
request (fine) from a hung one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from blinkt_agent.backoff import Backoff
from blinkt_agent.errors import SourceError
from blinkt_agent.snapshot import Problem, Snapshot, Update

log = logging.getLogger(__name__)


class Watch:
    """One collection, followed. Subclasses implement `step` and `read_once`."""

    name = "watch"

    def step(self, stopped: threading.Event, changed: Callable[[], None]) -> None:
        """One round: (re)read or wait for changes, calling changed() after each one.
        Raise SourceError on failure; return to be called again (unless stopped)."""
        raise NotImplementedError

    def read_once(self) -> None:
        """Read the collection once, without waiting (for `once`)."""
        raise NotImplementedError

    def start_over(self) -> None:
        """After a failure: the next step reads the whole collection again, at once."""

    def budget(self) -> float:
        """Seconds the next step may take at most (a blocking request's wait and slack)."""
        raise NotImplementedError


class Follow:
    """The Source: each watch in its own thread, one merged Snapshot.

    merge: the Snapshot of what the watches hold now (called under the lock).
    failover(err): True when another server should be tried at once (no backoff).
    """

    def __init__(
        self,
        watches: Sequence[Watch],
        merge: Callable[[], Snapshot],
        emit: Callable[[Update | Problem], None],
        backoff_max: float = 60.0,
        failover: Callable[[SourceError], bool] = lambda err: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._watches = tuple(watches)
        self._merge = merge
        self._emit = emit
        self._failover = failover
        self._clock = clock
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # the watches' data, the deadlines, the order of emits
        self._current = dict.fromkeys(range(len(self._watches)), False)
        self._deadlines: dict[int, float | None] = dict.fromkeys(range(len(self._watches)))
        self._backoffs = [Backoff(cap=backoff_max) for _ in self._watches]
        self._failure: BaseException | None = None

    # -- the Source interface ---------------------------------------------------------------

    def run(self) -> None:
        others = [
            threading.Thread(
                target=self._follow_guarded, args=(i,), name=f"follow-{w.name}", daemon=True
            )
            for i, w in enumerate(self._watches)
            if i
        ]
        for thread in others:
            thread.start()
        try:
            self._follow(0)
        finally:
            self._stopped.set()
            for thread in others:
                thread.join()
        if self._failure is not None:
            raise self._failure

    def check(self) -> None:
        """One round for `once`: each collection read once; failover, no backoff."""
        while True:
            try:
                for watch in self._watches:
                    watch.read_once()
                with self._lock:
                    snapshot = self._merge()
                self._emit(Update(snapshot))
                return
            except SourceError as err:
                if self._failover(err):
                    continue
                self._emit(Problem(err, 0.0))
                return

    def healthy(self) -> bool:
        now = self._clock()
        with self._lock:
            return all(d is None or now <= d for d in self._deadlines.values())

    def stop(self) -> None:
        self._stopped.set()

    # -- one watch's thread -----------------------------------------------------------------

    def _follow_guarded(self, index: int) -> None:
        """Another watch's thread: an unexpected exception ends them all; run() raises it."""
        try:
            self._follow(index)
        except BaseException as exc:
            self._failure = exc
            self._stopped.set()

    def _expect(self, index: int, seconds: float | None) -> None:
        with self._lock:
            self._deadlines[index] = None if seconds is None else self._clock() + seconds

    def _follow(self, index: int) -> None:
        watch = self._watches[index]
        fresh = False  # the last step succeeded: its backoff may be reset

        def changed() -> None:
            with self._lock:
                self._current[index] = True
                if all(self._current.values()):
                    self._emit(Update(self._merge()))
            self._expect(index, watch.budget())

        while not self._stopped.is_set():
            self._expect(index, watch.budget())
            try:
                watch.step(self._stopped, changed)
                if fresh:
                    self._backoffs[index].reset()
                fresh = True
            except SourceError as err:
                fresh = False
                self._failed(index, err)
        self._expect(index, None)

    def _failed(self, index: int, err: SourceError) -> None:
        with self._lock:
            self._current[index] = False
        self._watches[index].start_over()
        if self._failover(err):
            log.info("%s; trying the next server", err)
            self._emit(Problem(err, 0.0))
            return
        delay = self._backoffs[index].next()
        self._emit(Problem(err, delay))
        self._expect(index, delay + 5)
        self._stopped.wait(delay)

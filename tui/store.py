"""The events of a replayed trace file, kept as where their lines are and parsed again when wanted.

A 100,000-event trace as event objects (args, decoded details, strings) takes ~250 MB; as line
offsets and lengths it takes 1.2 MB. The list shows ~50 rows, the panes one event, a step back refolds
at most ``world.CHECKPOINT_EVERY`` events: each such event is parsed from its line (~30 us) and the
latest ones stay in an LRU cache. Only the UI thread indexes the store; an export on a worker thread
reads through :meth:`FileEvents.upto`, which bypasses the cache.
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import overload

from boxtrace.tracer.events import Event, OutputEvent
from boxtrace.tracer.trace_index import TraceIndex
from boxtrace.tracer.tracefile import TraceFormatError

CACHE_SIZE = 1024  # more than a checkpoint interval, so stepping back refolds from cached events


class FileEvents(Sequence[Event]):
    """A sequence of the events of one trace file, parsed on demand from the lines ``extend`` names."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self.source: TraceIndex | None = None
        self.offsets = array("q")
        self.lengths = array("L")
        self.seqs = array("q")  # what each line held when it was scanned: a rewritten file shows
        self.cache_size = cache_size
        self._cache: OrderedDict[int, Event] = OrderedDict()
        self.error: str | None = None
        self.on_error: Callable[[str], None] | None = None

    def attach(self, source: TraceIndex) -> None:
        self.source = source

    def extend(self, offsets: array[int], lengths: array[int], seqs: array[int]) -> None:
        self.offsets.extend(offsets)
        self.lengths.extend(lengths)
        self.seqs.extend(seqs)

    def __len__(self) -> int:
        return len(self.offsets)

    @overload
    def __getitem__(self, i: int) -> Event: ...
    @overload
    def __getitem__(self, i: slice) -> list[Event]: ...
    def __getitem__(self, i: int | slice) -> Event | list[Event]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self.offsets)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("event index out of range")
        cache = self._cache
        event = cache.get(i)
        if event is not None:
            cache.move_to_end(i)
            return event
        try:
            event = self.read(i)
        except (OSError, TraceFormatError) as exc:
            return self._unreadable(i, str(exc))
        cache[i] = event
        if len(cache) > self.cache_size:
            cache.popitem(last=False)
        return event

    def read(self, i: int) -> Event:
        """Event ``i`` parsed from its line, uncached; raises on a file that changed since the scan."""
        if self.source is None:
            raise OSError("the trace file is not open")
        event = self.source.read(self.offsets[i], self.lengths[i])
        if event.seq != self.seqs[i]:
            line = self.source.line_at(self.offsets[i])
            raise TraceFormatError(
                self.source.path, line, f"event #{event.seq} where #{self.seqs[i]} was: the file changed"
            )
        return event

    def _unreadable(self, i: int, problem: str) -> Event:
        """What the list and panes show for an event that cannot be read again (the file was changed or
        truncated while the replay ran): the reason, in place of the event; the app shows the error."""
        if self.error is None:
            self.error = problem
            if self.on_error is not None:
                self.on_error(problem)
        return OutputEvent(
            seq=self.seqs[i], time=0.0, pid=0, tid=0, comm="?", nspid=None, stream="stderr", text=problem
        )

    def upto(self, count: int) -> EventsPrefix:
        """The first ``count`` events, read strictly (a changed file raises) and without the cache."""
        return EventsPrefix(self, count)


class EventsPrefix(Sequence[Event]):
    """A fixed prefix of a :class:`FileEvents`, for a worker thread (an export) to read in order."""

    def __init__(self, events: FileEvents, size: int) -> None:
        self.events = events
        self.size = size

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, i: int) -> Event: ...
    @overload
    def __getitem__(self, i: slice) -> list[Event]: ...
    def __getitem__(self, i: int | slice) -> Event | list[Event]:
        if isinstance(i, slice):
            return [self.events.read(j) for j in range(*i.indices(self.size))]
        if i < 0:
            i += self.size
        if not 0 <= i < self.size:
            raise IndexError("event index out of range")
        return self.events.read(i)

    def __iter__(self) -> Iterator[Event]:
        read = self.events.read
        for i in range(self.size):
            yield read(i)

"""The trace as the TUI holds it: events in arrival order, their phases, and the rows the list shows.

No textual here, so everything about ordering, filtering, searching and phase jumps is tested and
benchmarked without a screen. What the list, the filter, breakpoints, phase headings and search need
of each event is kept apart from the event, in compact form (:class:`Digest`): a replayed file keeps
no event objects at all (``boxtrace.tui.store``), so 100,000 events cost a few tens of MB, not a few
hundred. Rows are ints in arrays (an event index, or a negative number for a phase heading).
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Sequence

from boxtrace.lessons.model import PHASES
from boxtrace.lessons.phases import PhaseTracker
from boxtrace.tracer.events import Event, SyscallEvent
from boxtrace.tui.render import plain_line
from boxtrace.tui.search import SearchText

PHASE_INDEX: dict[str, int] = {name: i for i, name in enumerate(PHASES)}


def heading_row(phase: int) -> int:
    """The row value of a heading for phase number ``phase`` (negative, so never an event index)."""
    return -1 - phase


def heading_phase(row: int) -> int:
    return -1 - row


def search_line(event: Event, phase: int) -> str:
    """What a search looks in: the list's line and the phase's name, in lower case."""
    return (plain_line(event) + " " + PHASES[phase]).lower()


class Digest:
    """Per event, what the list needs without the event: phase, category, syscall name (None for other
    events), and its search text (built eagerly by a replay's loader, on first search in a live trace)."""

    __slots__ = ("categories", "names", "phases", "text")

    def __init__(self) -> None:
        self.phases = array("B")
        self.categories: list[str] = []  # interned: one str per category, shared
        self.names: list[str | None] = []
        self.text = SearchText()

    def __len__(self) -> int:
        return len(self.phases)

    def append(self, event: Event, phase: int) -> None:
        self.phases.append(phase)
        self.categories.append(sys.intern(event.category))
        self.names.append(sys.intern(event.name) if isinstance(event, SyscallEvent) else None)

    def refresh(self, index: int, event: Event) -> None:
        """Event ``index`` was replaced by a newer state of the same event (a syscall that finished)."""
        self.categories[index] = sys.intern(event.category)
        self.names[index] = sys.intern(event.name) if isinstance(event, SyscallEvent) else None
        if index < len(self.text):
            self.text.set(index, search_line(event, self.phases[index]))

    def extend(self, other: Digest) -> None:
        self.phases.extend(other.phases)
        self.categories.extend(other.categories)
        self.names.extend(other.names)
        self.text.extend(other.text)


class TraceModel:
    """Events, their phases, a category filter and the visible rows (headings included).

    ``events`` is a list that ``add`` appends to (live, or a replay of events in memory), or a
    sequence that parses events on demand (a replayed file) whose digests arrive through ``take``.
    """

    def __init__(self, classifier: PhaseTracker | None = None, events: Sequence[Event] | None = None) -> None:
        self.events: Sequence[Event] = [] if events is None else events
        self.digest = Digest()
        self.phases = self.digest.phases  # phase number per event
        self.stamps = array("B")  # per event, bumped when it is replaced: views drop its cached line
        self.rows = array("q")  # what the list shows: event index >= 0, heading < 0
        self.event_row = array("q")  # row of each event, -1 when filtered out
        self.heading_rows = array("q")  # row numbers of the phase headings, ascending
        self.categories: frozenset[str] | None = None  # None: every category
        # The lessons' classifier, as the exports use: the TUI's headings are the handout's chapters.
        self._classifier = classifier or PhaseTracker()
        self._by_seq: dict[int, int] = {}  # only for events that arrive one by one
        self._last_visible_phase = -1
        self.version = 0  # bumped whenever rows change, so views drop cached lines

    def __len__(self) -> int:
        return len(self.phases)

    # ---- building ----

    def add(self, event: Event) -> int:
        """Append an event (or refresh it when its seq is known: a syscall that finished)."""
        events = self.events
        if not isinstance(events, list):
            raise TypeError(
                "add() needs a model over a list of events; a replayed file's come through take()"
            )
        known = self._by_seq.get(event.seq)
        if known is not None:
            events[known] = event
            self.stamps[known] = (self.stamps[known] + 1) & 0xFF
            self.digest.refresh(known, event)
            return known
        index = len(events)
        events.append(event)
        self._by_seq[event.seq] = index
        phase = PHASE_INDEX.get(self._classifier.phase(event), 0)
        self.digest.append(event, phase)
        self.stamps.append(0)
        self.event_row.append(-1)
        if self._visible(index):
            self._append_row(index, phase)
        return index

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)

    def take(self, digest: Digest) -> None:
        """The digests of the events just added to ``events`` (a replayed file's, from its loader)."""
        if len(self.digest.text) != len(self):
            raise ValueError("take() after add(): the search texts would not line up")
        start = len(self)
        self.digest.extend(digest)
        self._new_rows(start, len(digest))

    def _new_rows(self, start: int, count: int) -> None:
        self.stamps.extend(bytes(count))
        self.event_row.extend(array("q", [-1]) * count)
        for index in range(start, start + count):
            if self._visible(index):
                self._append_row(index, self.phases[index])

    def index_of_seq(self, seq: int) -> int | None:
        return self._by_seq.get(seq)

    def _visible(self, index: int) -> bool:
        return self.categories is None or self.digest.categories[index] in self.categories

    def _append_row(self, index: int, phase: int) -> None:
        if phase != self._last_visible_phase:
            self.heading_rows.append(len(self.rows))
            self.rows.append(heading_row(phase))
            self._last_visible_phase = phase
        self.event_row[index] = len(self.rows)
        self.rows.append(index)
        self.version += 1

    # ---- filter ----

    def set_filter(self, categories: Iterable[str] | None) -> None:
        self.categories = None if categories is None else frozenset(categories)
        self.rows = array("q")
        self.heading_rows = array("q")
        self.event_row = array("q", [-1]) * len(self)
        self._last_visible_phase = -1
        for index in range(len(self)):
            if self._visible(index):
                self._append_row(index, self.phases[index])
        self.version += 1

    def visible(self, index: int) -> bool:
        return 0 <= index < len(self) and self.event_row[index] >= 0

    def nearest_visible(self, index: int, direction: int = 1) -> int | None:
        """The first visible event at ``index`` or beyond it in ``direction`` (+1 or -1)."""
        i = index
        n = len(self)
        event_row = self.event_row
        while 0 <= i < n:
            if event_row[i] >= 0:
                return i
            i += direction
        return None

    def category_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for category in self.digest.categories:
            counts[category] = counts.get(category, 0) + 1
        return counts

    # ---- phases ----

    def phase_name(self, index: int) -> str:
        return PHASES[self.phases[index]]

    def phase_starts(self) -> list[int]:
        """Event index of the first visible event under each heading, in order."""
        return [self.rows[r + 1] for r in self.heading_rows if r + 1 < len(self.rows)]

    def next_phase(self, index: int, direction: int) -> int | None:
        """The first event of the next (+1) or previous (-1) phase run from ``index``."""
        headings = self.heading_rows
        row = self.event_row[index] if 0 <= index < len(self.event_row) else -1
        if row < 0:  # no current event (or filtered out): from the top
            row = -1 if direction > 0 else len(self.rows)
        # headings[k] is the k-th heading's row; the run holding ``row`` starts at headings[k].
        k = bisect_right(headings, row) - 1
        target = k + 1 if direction > 0 else k - 1
        if target < 0 or target >= len(headings) or headings[target] + 1 >= len(self.rows):
            return None
        return self.rows[headings[target] + 1]

    # ---- search ----

    def _build_text(self, count: int) -> None:
        text = self.digest.text
        for index in range(len(text), count):
            text.append(search_line(self.events[index], self.phases[index]))

    def text_of(self, index: int) -> str:
        self._build_text(index + 1)
        return self.digest.text.get(index)

    def search(self, needle: str, start: int, direction: int = 1) -> int | None:
        """The next visible event after ``start`` (wrapping around) whose line contains ``needle``."""
        needle = needle.lower()
        n = len(self)
        if not needle or n == 0:
            return None
        self._build_text(n)
        s = start % n
        text, visible = self.digest.text, self.visible
        if direction > 0:
            found = text.find(needle, s + 1, n - 1, visible, backward=False)
            return found if found is not None else text.find(needle, 0, s, visible, backward=False)
        found = text.find(needle, 0, s - 1, visible, backward=True)
        return found if found is not None else text.find(needle, s, n - 1, visible, backward=True)

    # ---- breakpoints ----

    def matches_at(self, index: int, names: frozenset[str], categories: frozenset[str]) -> bool:
        """``matches_breakpoint`` for event ``index``, from its digest (no parsing)."""
        name = self.digest.names[index]
        return name is not None and (name in names or self.digest.categories[index] in categories)

    def is_syscall(self, index: int) -> bool:
        return 0 <= index < len(self) and self.digest.names[index] is not None

    @staticmethod
    def matches_breakpoint(event: Event, names: frozenset[str], categories: frozenset[str]) -> bool:
        return isinstance(event, SyscallEvent) and (event.name in names or event.category_name in categories)

"""The trace as the TUI holds it: events in arrival order, their phases, and the rows the list shows.

No textual here, so everything about ordering, filtering, searching and phase jumps is tested and
benchmarked without a screen. Rows are plain ints (an event index, or a negative number for a phase
heading) so that 100,000 events cost a few MB, not a few hundred.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from boxtrace.lessons.model import PHASES
from boxtrace.lessons.phases import PhaseTracker
from boxtrace.tracer.events import Event, SyscallEvent
from boxtrace.tui.render import plain_line

PHASE_INDEX: dict[str, int] = {name: i for i, name in enumerate(PHASES)}


def heading_row(phase: int) -> int:
    """The row value of a heading for phase number ``phase`` (negative, so never an event index)."""
    return -1 - phase


def heading_phase(row: int) -> int:
    return -1 - row


class TraceModel:
    """Events, their phases, a category filter and the visible rows (headings included)."""

    def __init__(self, classifier: PhaseTracker | None = None) -> None:
        self.events: list[Event] = []
        self.phases: list[int] = []  # phase number per event
        self.rows: list[int] = []  # what the list shows: event index >= 0, heading < 0
        self.event_row: list[int] = []  # row of each event, -1 when filtered out
        self.heading_rows: list[int] = []  # row numbers of the phase headings, ascending
        self.categories: frozenset[str] | None = None  # None: every category
        # The lessons' classifier, as the exports use: the TUI's headings are the handout's chapters.
        self._classifier = classifier or PhaseTracker()
        self._by_seq: dict[int, int] = {}
        self._search_text: list[str | None] = []
        self._last_visible_phase = -1
        self.version = 0  # bumped whenever rows change, so views drop cached lines

    def __len__(self) -> int:
        return len(self.events)

    # ---- building ----

    def add(self, event: Event) -> int:
        """Append an event (or refresh it when its seq is known: a syscall that finished)."""
        known = self._by_seq.get(event.seq)
        if known is not None:
            self.events[known] = event
            self._search_text[known] = None
            return known
        index = len(self.events)
        self.events.append(event)
        self._by_seq[event.seq] = index
        phase = PHASE_INDEX.get(self._classifier.phase(event), 0)
        self.phases.append(phase)
        self._search_text.append(None)
        self.event_row.append(-1)
        if self._visible(event):
            self._append_row(index, phase)
        return index

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)

    def index_of_seq(self, seq: int) -> int | None:
        return self._by_seq.get(seq)

    def _visible(self, event: Event) -> bool:
        return self.categories is None or event.category in self.categories

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
        self.rows = []
        self.heading_rows = []
        self.event_row = [-1] * len(self.events)
        self._last_visible_phase = -1
        for index, event in enumerate(self.events):
            if self._visible(event):
                self._append_row(index, self.phases[index])
        self.version += 1

    def visible(self, index: int) -> bool:
        return 0 <= index < len(self.events) and self.event_row[index] >= 0

    def nearest_visible(self, index: int, direction: int = 1) -> int | None:
        """The first visible event at ``index`` or beyond it in ``direction`` (+1 or -1)."""
        i = index
        while 0 <= i < len(self.events):
            if self.event_row[i] >= 0:
                return i
            i += direction
        return None

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

    def text_of(self, index: int) -> str:
        text = self._search_text[index]
        if text is None:
            event = self.events[index]
            text = (plain_line(event) + " " + self.phase_name(index)).lower()
            self._search_text[index] = text
        return text

    def search(self, needle: str, start: int, direction: int = 1) -> int | None:
        """The next visible event after ``start`` (wrapping around) whose line contains ``needle``."""
        needle = needle.lower()
        n = len(self.events)
        if not needle or n == 0:
            return None
        for step in range(1, n + 1):
            i = (start + direction * step) % n
            if self.event_row[i] >= 0 and needle in self.text_of(i):
                return i
        return None

    # ---- breakpoints ----

    @staticmethod
    def matches_breakpoint(event: Event, names: frozenset[str], categories: frozenset[str]) -> bool:
        return isinstance(event, SyscallEvent) and (event.name in names or event.category_name in categories)

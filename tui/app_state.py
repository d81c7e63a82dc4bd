"""What every part of the app reads and writes: the model, the cursor, the live session's state.

:class:`AppState` is the base of the app's parts (``feeding``, ``stepping``, ``painting``,
``presenter``, ``finding``, ``exporting``, ``keys``), which ``app.BoxtraceApp`` puts together. It
holds the state and the few moves they all make (go to a step, the next shown step); the three
calls one part makes into another (repaint, the status line, auto-advance) are declared here so that
each part type-checks on its own.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from textual.app import App
from textual.timer import Timer

from boxtrace.lessons.model import Explanation
from boxtrace.tracer.events import Event, TraceHeader
from boxtrace.tracer.messages import Message, TraceResult
from boxtrace.tui import panes
from boxtrace.tui.event_list import EventList
from boxtrace.tui.options import TuiOptions
from boxtrace.tui.store import FileEvents
from boxtrace.tui.timeline import TraceModel
from boxtrace.tui.world import WorldTimeline

Mode = Literal["live", "replay"]


class Steering(Protocol):
    """What the app asks of a live trace (``TraceSession`` has exactly these)."""

    def step(self) -> None: ...
    def resume(self) -> None: ...
    def pause(self) -> None: ...
    def set_breakpoints(self, names: set[str], categories: set[str]) -> None: ...
    def stop(self, force: bool = False) -> None: ...


@dataclass(slots=True)
class ReplaySource:
    """Where a replay's events come from: a file read on a thread, or events already in memory."""

    path: str | None = None
    header: TraceHeader | None = None
    events: list[Event] | None = None


class AppState(App[int]):
    """The app's state; its parts (mixins) inherit it, ``BoxtraceApp`` inherits them all."""

    def __init__(
        self,
        mode: Mode,
        options: TuiOptions | None = None,
        *,
        steering: Steering | None = None,
        replay: ReplaySource | None = None,
    ) -> None:
        super().__init__()
        self.mode: Mode = mode
        self.options = options or TuiOptions()
        self.steering = steering
        self.replay = replay
        # A replayed file's events stay in the file, parsed again when shown (boxtrace.tui.store).
        self.store: FileEvents | None = None
        if mode == "replay" and replay is not None and replay.events is None and replay.path is not None:
            self.store = FileEvents()
            self.store.on_error = self._store_error
        self.model = TraceModel(events=self.store)
        self.timeline = WorldTimeline(self.model.events)
        self.header: TraceHeader | None = None
        self.result: TraceResult | None = None
        self.cursor = -1
        self.held = -1
        self.follow = True  # live: the cursor follows the newest (or held) event
        self.ended = mode == "replay"  # nothing runs in a replay
        self.loaded = mode == "live"
        self.running = False  # live: the tracee runs (not held, not ended)
        self.auto = False  # presenter: auto-advance every `pace` seconds
        self.pace = self.options.pace
        self.search_text = ""
        self.break_names = set(self.options.break_names)
        self.break_categories = set(self.options.break_categories)
        self.quitting = False
        self.error: str | None = None
        self.next_replay: str | None = None  # chosen in the open dialog: the launcher replays it next
        self.notices: list[str] = []
        self.output_indices: list[int] = []
        self.first_paint: float | None = None  # monotonic time of the first paint with events
        self._auto_timer: Timer | None = None
        self._auto_run = 0  # which _set_auto(True) the running timer belongs to
        self._prepare_due = False
        self._prepare_run = 0  # which _prepare_neighbours the queued renders ahead belong to
        self._prepare_queue: list[int] = []  # events to render ahead, most likely next first
        self._prepare_first = False  # the next of them is the likeliest
        # The kind ("step", "page", "phase", "search") and direction of the last move: what the
        # app renders ahead once a step is painted.
        self.last_move: tuple[str, int] = ("step", 1)
        self._gc_threshold: tuple[int, ...] | None = None  # the collector's, while the app froze it
        self._host_mounts: set[tuple[str, str, str]] | None = None
        self.explainer: Callable[[Event], Explanation | None] = panes.explain_event
        self._pane_text: dict[str, str] = {}
        # Pane -> the step (cursor) it shows, written when the pane is brought up to date (changed or
        # not): tests and bench/tui.py wait on it, and time the panes by it.
        self.shown: dict[str, int] = {}
        self._chunk_taken = threading.Event()
        self._feed_lock = threading.Lock()
        self._accepting = False
        self._early: list[list[Message]] = []
        self._bindings_state: tuple[bool | None, ...] = ()
        self.title = self.options.title
        self.sub_title = "live" if mode == "live" else "replay"

    @property
    def event_list(self) -> EventList:
        return self.query_one("#events", EventList)

    def current_event(self) -> Event | None:
        if 0 <= self.cursor < len(self.model):
            return self.model.events[self.cursor]
        return None

    def _next_visible(self, direction: int) -> int | None:
        if not len(self.model):
            return None
        start = self.cursor + direction
        if start < 0 or start >= len(self.model):
            return None
        return self.model.nearest_visible(start, direction)

    def _go(self, index: int | None) -> bool:
        if index is None:
            self.bell()
            return False
        self.cursor = index
        self._refresh_all()
        return True

    # ---- what one part asks of another ----

    @abstractmethod
    def _refresh_all(self, scroll: bool = True) -> None:
        """Bring the event list, status line, footer and panes up to date (painting.Painting)."""

    @abstractmethod
    def _update_status(self) -> None:
        """Redraw the status line (painting.Painting)."""

    @abstractmethod
    def _set_auto(self, on: bool) -> None:
        """Start or stop the presenter's auto-advance (stepping.Stepping)."""

    @abstractmethod
    def _store_error(self, problem: str) -> None:
        """An event of the replayed file cannot be read again (feeding.Feeding)."""

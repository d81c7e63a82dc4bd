"""The boxtrace app: one UI over a live trace session or a recorded trace.

Threads (REFERENCE.md §8): the session's tracer thread owns every ptrace call; its delivery thread
hands batches of messages (at most every 20 ms) to :meth:`BoxtraceApp.feed`, which only posts them
as one textual message. Everything else runs on the UI thread. A replay reads its file on a worker
thread and posts chunks the same way, so both modes build the same model through the same code.

Steering goes the other way through a :class:`Steering` (a ``TraceSession`` in real use): step,
resume, pause, breakpoints, stop. A replay has no steering; its steps move a cursor through the
recorded events, backward too.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

from rich.markdown import Markdown as RichMarkdown
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message as TMessage
from textual.timer import Timer
from textual.widgets import Header, Static

from boxtrace.lessons.model import Explanation
from boxtrace.tracer.events import Event, OutputEvent, SyscallEvent, TraceHeader
from boxtrace.tracer.messages import (
    Ended,
    Held,
    Message,
    Notice,
    ProcessEvent,
    Resumed,
    Started,
    SyscallEntered,
    SyscallFinished,
    TraceResult,
)
from boxtrace.tui import panes
from boxtrace.tui.event_list import EventList
from boxtrace.tui.explanation_view import ExplanationView
from boxtrace.tui.footer import TraceFooter
from boxtrace.tui.loader import FileChunk, ReplayDigester
from boxtrace.tui.mountinfo import read_mountinfo
from boxtrace.tui.options import TuiOptions
from boxtrace.tui.screens import (
    BreakpointScreen,
    ExportScreen,
    FilterScreen,
    HelpScreen,
    OpenScreen,
    SearchScreen,
)
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


class TraceBatch(TMessage):
    """Messages the session's delivery thread handed over, in order."""

    def __init__(self, messages: list[Message]) -> None:
        super().__init__()
        self.messages = messages


class ReplayChunk(TMessage):
    """Events of a replay, ``done`` on the last chunk: in memory (``events``), or the digest of the
    next lines of a trace file read by the loader thread (``file``)."""

    def __init__(
        self,
        header: TraceHeader | None,
        events: list[Event],
        done: bool,
        error: str | None = None,
        file: FileChunk | None = None,
        warning: str | None = None,
    ):
        super().__init__()
        self.header = header
        self.events = events
        self.done = done
        self.error = error
        self.file = file
        self.warning = warning  # the file's last line was cut off (tracefile.CutOff)


@dataclass(slots=True)
class ReplaySource:
    """Where a replay's events come from: a file read on a thread, or events already in memory."""

    path: str | None = None
    header: TraceHeader | None = None
    events: list[Event] | None = None


CHUNK = 5000  # events per replay chunk: the first screen shows after one chunk, not the whole file
FIRST_CHUNK = 1000  # a smaller first one: the first screen needs only a screenful
EXPORT_BATCH = 5000  # events encoded at a time when the app writes a trace file
GC_YOUNG_THRESHOLD = 3000  # allocations between collections of the youngest generation (Python's: 700)
SIDE_PANES = ("explanation", "processes", "mounts", "cgroups", "output")  # their widgets' ids


# The actions whose availability check_action decides (it looks at the action's name only).
BINDING_ACTIONS = (
    "step",
    "step_back",
    "resume",
    "pause",
    "breakpoint",
    "phase",
    "search",
    "filter",
    "export",
    "pace",
)


class BoxtraceApp(App[int]):
    CSS_PATH = os.path.join(os.path.dirname(__file__), "app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "boxtrace"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n,space", "step", "Step", id="step"),
        Binding("backspace", "step_back", "Back", id="step_back"),
        Binding("c", "resume", "Continue", id="continue"),
        Binding("p", "pause", "Pause", id="pause"),
        Binding("b", "breakpoint", "Break", id="breakpoint"),
        Binding("N", "phase(1)", "Next phase", id="next_phase"),
        Binding("P", "phase(-1)", "Prev phase", id="prev_phase"),
        Binding("slash", "search", "Search", id="search"),
        Binding("f", "filter", "Filter", id="filter"),
        Binding("e", "export", "Export", id="export"),
        Binding("o", "open", "Open", show=False, id="open"),
        Binding("plus", "pace(-0.5)", "Faster", id="faster"),
        Binding("minus", "pace(0.5)", "Slower", id="slower"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit_ctrl_c"),
    ]

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

    # ---- layout ----

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="▣")
        yield Static(id="status")
        if self.options.present:
            with Vertical(id="presenter"):
                yield Static(id="present-step")
                yield Static(id="present-title")
                with Horizontal(id="present-body"):
                    with VerticalScroll(id="present-explanation-box"):
                        yield Static(id="present-explanation")
                    with Vertical(id="present-diagram"):
                        yield Static(id="present-ns")
                        yield Static(id="present-mounts")
            yield EventList(self.model, id="events")  # kept for state; hidden by CSS in presenter mode
        else:
            with Horizontal(id="main"):
                with Vertical(id="left"):
                    yield EventList(self.model, id="events")
                    yield Static(id="output", classes="pane")
                with Vertical(id="right"):
                    yield ExplanationView(id="explanation")
                    yield Static(id="processes", classes="pane")
                    with Horizontal(id="state"):
                        yield Static(id="mounts", classes="pane")
                        yield Static(id="cgroups", classes="pane")
        yield TraceFooter()

    def on_mount(self) -> None:
        if self.options.present:
            self.add_class("presenter")
        for box, title in (
            ("#events", "Events"),
            ("#output", "Container output"),
            ("#explanation", "Explanation"),
            ("#processes", "Processes and namespaces"),
            ("#mounts", "Mounts"),
            ("#cgroups", "Cgroups and limits"),
        ):
            for widget in self.query(box):
                widget.border_title = title
        if self.options.keymap:
            self.set_keymap(self.options.keymap)
        if self.steering is not None and (self.break_names or self.break_categories):
            self.steering.set_breakpoints(self.break_names, self.break_categories)
        self.event_list.set_breakpoints(frozenset(self.break_names), frozenset(self.break_categories))
        if self.mode == "replay" and self.replay is not None:
            if self.replay.events is not None:
                self.post_message(ReplayChunk(self.replay.header, self.replay.events, True))
            elif self.replay.path is not None:
                self._load(self.replay.path)
        self.event_list.on_select = self.select_event
        self.event_list.focus()
        self._refresh_all()
        self._accept_feed()

    @property
    def event_list(self) -> EventList:
        return self.query_one("#events", EventList)

    # ---- feeding (called on the session's delivery thread) ----

    def feed(self, batch: list[Message]) -> None:
        """The session's consumer: one post per batch, never a call per event (thread-safe).

        Batches that come before the app is mounted (the session starts first) are kept and
        posted from ``on_mount``, in order.
        """
        with self._feed_lock:
            if not self._accepting:
                self._early.append(batch)
                return
        self.post_message(TraceBatch(batch))

    def _accept_feed(self) -> None:
        with self._feed_lock:
            self._accepting = True
            early, self._early = self._early, []
        for batch in early:
            self.post_message(TraceBatch(batch))

    @work(thread=True, exclusive=True, group="replay-load")
    def _load(self, path: str) -> None:
        """Read the file once: each event is digested and folded here, then dropped (only its line's
        place is kept); the UI thread takes the digests chunk by chunk."""
        from boxtrace.tracer.trace_index import TraceIndex
        from boxtrace.tracer.tracefile import TraceFormatError

        assert self.store is not None
        try:
            index = TraceIndex(path)
        except (OSError, TraceFormatError) as exc:
            self.post_message(ReplayChunk(None, [], True, error=str(exc)))
            return
        self.store.attach(index)
        digester = ReplayDigester(self.timeline.every)
        size = FIRST_CHUNK
        try:
            for offset, length, event in index.scan():
                digester.add(offset, length, event)
                if len(digester) >= size:
                    # Back-pressure: wait until the app has taken the chunk and repainted, so
                    # the first screen shows after one chunk, not after the whole file.
                    self._chunk_taken.clear()
                    self.post_message(ReplayChunk(index.header, [], False, file=digester.take()))
                    size = CHUNK
                    while not self._chunk_taken.wait(0.5):
                        if not self.is_running:
                            return
            warning = None if index.cut_off is None else index.cut_off.warning()
            self.post_message(ReplayChunk(index.header, [], True, file=digester.take(), warning=warning))
        except (OSError, TraceFormatError) as exc:
            self.post_message(ReplayChunk(None, [], True, error=str(exc)))
        finally:
            if not self.is_running:
                index.close()  # the app is gone; otherwise on_unmount closes it

    def on_unmount(self) -> None:
        if self.store is not None and self.store.source is not None and self.loaded:
            self.store.source.close()
        if self._gc_threshold is not None:
            gc.unfreeze()  # what the app kept is garbage now, or soon: let the collector see it again
            gc.set_threshold(*self._gc_threshold)

    def _freeze(self) -> None:
        """The trace is all here (loaded, or the traced command ended): move every object the app has
        made so far out of the cyclic collector's reach, and collect the youngest objects less often.

        A full collection otherwise walks them all (textual's widgets and styles, the model, the world
        checkpoints): 50-90 ms of CPU every 10-15 keys in a 100,000-event replay, the slowest keys.
        And a paint makes thousands of short-lived objects (strips, segments): collected every 700
        allocations, many are still alive mid-paint and get promoted, so the old generations grow
        and full collections come sooner; every 3,000, most die first. Objects are still freed by
        refcount. Both are undone when the app ends (``on_unmount``)."""
        if self._gc_threshold is None:
            self._gc_threshold = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(GC_YOUNG_THRESHOLD, *self._gc_threshold[1:])

    def _store_error(self, problem: str) -> None:
        """An event of the replayed file cannot be read again (the file changed): say so, go on."""
        self.error = problem
        self.call_later(self.notify, problem, severity="error", timeout=10)
        self.call_later(self._update_status)

    def on_replay_chunk(self, chunk: ReplayChunk) -> None:
        if chunk.header is not None:
            self.header = chunk.header
        if chunk.error:
            self.error = chunk.error
            self.notify(chunk.error, severity="error", timeout=10)
        if chunk.warning:
            self.notify(chunk.warning, severity="warning", timeout=10)
        first = len(self.model) == 0
        if chunk.file is not None and self.store is not None:
            part = chunk.file
            self.store.extend(part.offsets, part.lengths, part.seqs)
            self.model.take(part.digest)
            self.timeline.add_checkpoints(part.checkpoints)
            self.output_indices.extend(part.outputs)
        for event in chunk.events:
            _intern(event)
            self._add(event)
        self.loaded = chunk.done
        if chunk.done:
            self._freeze()
        if first and len(self.model):
            self.cursor = self.model.nearest_visible(0) or 0
        self._refresh_all()
        self.call_after_refresh(self._chunk_taken.set)

    def on_trace_batch(self, batch: TraceBatch) -> None:
        for msg in batch.messages:
            self._handle(msg)
        self._refresh_all()

    def _add(self, event: Event) -> int:
        known = self.model.index_of_seq(event.seq)
        index = self.model.add(event)
        if known is not None:
            self.timeline.invalidate_from(index)
        elif isinstance(event, OutputEvent):
            self.output_indices.append(index)
        return index

    def _handle(self, msg: Message) -> None:
        kind = type(msg)
        if kind is SyscallEntered or kind is SyscallFinished or kind is ProcessEvent:
            index = self._add(msg.event)  # type: ignore[union-attr]
            if self.follow and self.held < 0:
                self.cursor = index
        elif kind is Held:
            assert isinstance(msg, Held)
            known = self.model.index_of_seq(msg.event.seq)
            index = known if known is not None else self._add(msg.event)
            self.held = index
            self.running = False
            self.follow = True
            self.cursor = index
            if (self.auto and msg.reason == "breakpoint") or self._is_lesson_break(msg.event):
                self._set_auto(False)
        elif kind is Resumed:
            self.held = -1
            self.running = not self.ended
        elif kind is Started:
            assert isinstance(msg, Started)
            self.header = msg.header
            self.running = True
        elif kind is Notice:
            assert isinstance(msg, Notice)
            self.notices.append(msg.text)
            severity = {"error": "error", "warning": "warning"}.get(msg.level, "information")
            self.notify(msg.text, severity=severity, timeout=8)  # type: ignore[arg-type]
            if msg.level == "error":
                self.error = msg.text
        elif kind is Ended:
            assert isinstance(msg, Ended)
            self.result = msg.result
            self.ended = True
            self._freeze()
            self.running = False
            self.held = -1
            self._set_auto(False)
            if msg.result.error:
                self.error = f"tracer error: {msg.result.error}"
            if self.quitting:
                self.exit(msg.result.exit_code)

    def _is_lesson_break(self, event: Event) -> bool:
        return TraceModel.matches_breakpoint(
            event, frozenset(self.options.break_names), frozenset(self.options.break_categories)
        )

    # ---- refreshing ----

    def _refresh_all(self, scroll: bool = True) -> None:
        future = self.cursor + 1 if self.mode == "replay" and self.cursor >= 0 else -1
        self.event_list.sync(cursor=self.cursor, held=self.held, future_from=future, scroll=scroll)
        self.shown["events"] = self.cursor
        self._update_status()
        self._refresh_bindings_if_changed()
        self._update_panes()
        if self.first_paint is None and len(self.model):
            self.call_after_refresh(self._mark_first_paint)

    def _refresh_bindings_if_changed(self) -> None:
        """Tell the footer about bindings only when one turned on, off or grey: each refresh makes
        textual's Footer recompose its keys, tens of ms (and, without TraceFooter, ~250 KB for good)."""
        state = tuple(self.check_action(action, ()) for action in BINDING_ACTIONS)
        if state != self._bindings_state:
            self._bindings_state = state
            self.refresh_bindings()

    def _mark_first_paint(self) -> None:
        if self.first_paint is None:
            self.first_paint = time.monotonic()

    def current_event(self) -> Event | None:
        if 0 <= self.cursor < len(self.model):
            return self.model.events[self.cursor]
        return None

    def _update_status(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        n = len(self.model)
        if self.mode == "live":
            if self.quitting:
                text.append(" STOPPING ", "bold white on red")
            elif self.ended:
                text.append(" ENDED ", "bold white on blue")
            elif self.held >= 0:
                text.append(" HELD ", "bold black on yellow")
                # A newcomer's first screen: what to press, before anything else on the line.
                text.append("  n: next step · c: run to the end · ?: help", "yellow")
            elif self.running:
                text.append(" RUNNING ", "bold black on green")
            else:
                text.append(" STARTING ", "bold black on cyan")
        else:
            text.append(" REPLAY ", "bold white on blue")
            if not self.loaded:
                text.append(" loading… ", "yellow")
        if self.cursor >= 0:
            text.append(f"  step {self.cursor + 1}/{n}  ", "bold")
            text.append(f"phase: {self.model.phase_name(self.cursor)}", "magenta")
        else:
            text.append(f"  {n} events")
        if self.auto:
            text.append(f"  auto every {self.pace:.1f}s", "green")
        if self.model.categories is not None:
            text.append("  filter: " + ",".join(sorted(self.model.categories)), "cyan")
        if self.search_text:
            text.append(f"  search: {self.search_text}", "cyan")
        marks = sorted(self.break_names) + [f"{c}/*" for c in sorted(self.break_categories)]
        if marks:
            text.append("  ● " + ", ".join(marks), "yellow")
        if self.result is not None:
            r = self.result
            text.append(f"  done: {r.outcome()}", "bold")
        if self.error:
            text.append(f"  {self.error}", "bold red")
        self.query_one("#status", Static).update(text, layout=False)

    def _update_panes(self) -> None:
        event = self.current_event()
        world = self.timeline.at(self.cursor)
        phase = self.model.phase_name(self.cursor) if event is not None else ""
        held = self.cursor >= 0 and self.cursor == self.held
        markdown = panes.explanation_markdown(
            event, phase, held=held, intro=self.options.intro, explainer=self.explainer
        )
        if self.options.present:
            self._update_presenter(event, world, markdown)
            return
        if self._pane_text.get("#explanation") != markdown:
            self._pane_text["#explanation"] = markdown
            self.query_one("#explanation", ExplanationView).show(markdown)
            if not self._prepare_due:
                self._prepare_due = True
                self.call_after_refresh(self._prepare_neighbours)
        self._set("#processes", panes.process_tree(world, event.pid if event is not None else None))
        self._set("#mounts", self._mounts_text(event, world))
        self._set("#cgroups", panes.cgroups(world))
        upto = bisect_right(self.output_indices, self.cursor) if self.mode == "replay" else None
        shown = self.output_indices[:upto] if upto is not None else self.output_indices
        self._set("#output", panes.output_text(self.model.events, shown, limit=8))
        for pane in SIDE_PANES:
            self.shown[pane] = self.cursor

    def _prepare_neighbours(self) -> None:
        """Once the step is painted: render the explanations of the steps after and before it, so
        that a step forward or back shows its explanation without rendering Markdown. One at a
        time, so that a key pressed meanwhile is handled between them."""
        self._prepare_due = False
        self._prepare(1)
        self.call_later(self._prepare, -1)

    def _prepare(self, direction: int) -> None:
        index = self._next_visible(direction)
        if index is None:
            return
        markdown = panes.explanation_markdown(
            self.model.events[index],
            self.model.phase_name(index),
            held=index == self.held,
            intro=self.options.intro,
            explainer=self.explainer,
        )
        self.query_one("#explanation", ExplanationView).prepare(markdown)

    def _set(self, selector: str, content: Text | str, layout: bool = False) -> None:
        """Update a pane only when its text changed. Markdown (str) scrolls and needs a layout pass;
        the fixed-size panes only repaint, which keeps a key press well under a frame."""
        key = content if isinstance(content, str) else content.plain
        if self._pane_text.get(selector) == key:
            return
        self._pane_text[selector] = key
        widget = self.query_one(selector, Static)
        if isinstance(content, str):
            widget.update(RichMarkdown(content), layout=layout)
        else:
            widget.update(content, layout=layout)

    def _mounts_text(self, event: Event | None, world: panes.World) -> Text:
        # Live, while the process exists: what the kernel says now, at this step.
        if self.mode == "live" and not self.ended and event is not None and event.pid in self._traced_pids():
            entries = read_mountinfo(event.pid)
            if entries is not None:
                if self._host_mounts is None:
                    own = read_mountinfo("self") or []
                    self._host_mounts = {e.key for e in own}
                return panes.live_mounts(entries, self._host_mounts, event.pid)
        return panes.derived_mounts(world)

    def _traced_pids(self) -> set[int]:
        """Pids the session traces now: only their /proc is this trace's (a pid may be reused)."""
        engine = getattr(self.steering, "engine", None)
        live_pids = getattr(engine, "live_pids", None)
        return set(live_pids()) if callable(live_pids) else set()

    def _update_presenter(self, event: Event | None, world: panes.World, markdown: str) -> None:
        n = len(self.model)
        step = Text()
        if event is not None:
            step.append(f"Step {self.cursor + 1} of {n}", "bold")
            step.append(f"   ·   chapter {self.model.phases[self.cursor] + 1}: ", "")
            step.append(self.model.phase_name(self.cursor), "bold magenta")
        else:
            step.append("Waiting for the first step…", "dim")
        if self.held >= 0 and self.held == self.cursor:
            step.append("   ⏸ about to run", "yellow")
        step.append(f"   {'▶ auto' if self.auto else '■ paused'} ({self.pace:.1f}s per step)", "green")
        self._set("#present-step", step)
        exp = self.explainer(event) if event is not None else None
        title = exp.title if exp is not None else (self.options.title if event is None else "")
        self._set("#present-title", Text(title, "bold"))
        self._set("#present-explanation", markdown, layout=True)
        self._set("#present-ns", panes.namespace_diagram(world), layout=True)
        self._set("#present-mounts", panes.mount_diagram(world))
        self.shown["presenter"] = self.cursor

    # ---- bindings ----

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        live = self.mode == "live"
        n = len(self.model)
        if action == "step":
            if live:
                return None if self.ended else True
            return True if self._next_visible(1) is not None else None
        if action == "step_back":
            return True if self._next_visible(-1) is not None else None
        if action == "resume":
            if self.options.present:
                return None if self.auto or (live and self.ended) else True
            if live:
                return True if self.held >= 0 and not self.ended else None
            return True if self._next_visible(1) is not None else None
        if action == "pause":
            if self.options.present:
                return True if self.auto else None
            return True if live and self.running and not self.ended else None
        if action in ("pace",):
            return bool(self.options.present)
        if action == "breakpoint":
            return True if self.model.is_syscall(self.cursor) else None
        if action in ("phase", "search", "filter", "export"):
            return True if n else None
        if action == "open":
            return None if live else True  # a live trace is not left for another file
        return True

    # ---- actions ----

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

    def action_step(self) -> None:
        if self.mode == "live":
            if self.steering is None or self.ended:
                return
            self.follow = True
            if self.held >= 0:
                self.steering.step()  # let the held call run; hold again at the next one
            else:
                self.steering.pause()  # running: hold at the next traced call
            return
        self._go(self._next_visible(1))

    def action_step_back(self) -> None:
        if self.mode == "live":
            self.follow = False
        self._go(self._next_visible(-1))

    def action_resume(self) -> None:
        if self.options.present:
            self._set_auto(True)
            return
        if self.mode == "live":
            if self.steering is not None and not self.ended:
                self.follow = True
                self.steering.resume()
            return
        # Replay: run to the next breakpoint, like a live trace does, or to the end.
        names, cats = frozenset(self.break_names), frozenset(self.break_categories)
        i = self._next_visible(1)
        while i is not None:
            if (names or cats) and self.model.matches_at(i, names, cats):
                break
            nxt = self.model.nearest_visible(i + 1, 1) if i + 1 < len(self.model) else None
            if nxt is None:
                break
            i = nxt
        self._go(i)

    def action_pause(self) -> None:
        if self.options.present:
            self._set_auto(False)
            return
        if self.mode == "live" and self.steering is not None and not self.ended:
            self.steering.pause()

    def action_pace(self, delta: float) -> None:
        self.pace = max(0.5, min(30.0, self.pace + delta))
        if self.auto:
            self._set_auto(True)
        self._refresh_all(scroll=False)

    def _set_auto(self, on: bool) -> None:
        if self._auto_timer is not None:
            self._auto_timer.stop()
            self._auto_timer = None
        self.auto = on
        self._auto_run += 1
        if on:
            run = self._auto_run
            self._auto_timer = self.set_interval(self.pace, lambda: self._auto_tick(run))
        self._refresh_all(scroll=False)

    def _auto_tick(self, run: int) -> None:
        # A stopped timer can still tick once: Timer.stop() only cancels the timer's task, and when
        # the timer runs late (a busy machine) textual's sleep returns without yielding, so the
        # task calls its callback again before it sees the cancel. Such a tick, after a breakpoint
        # stopped auto-advance (or after a pace change made a new timer), must not step.
        if run != self._auto_run or not self.auto:
            return
        if self.mode == "live":
            if self.ended:
                self._set_auto(False)
            elif self.held >= 0 and self.steering is not None:
                self.steering.step()
            return
        nxt = self._next_visible(1)
        if nxt is None:
            self._set_auto(False)
            return
        self._go(nxt)
        lesson = frozenset(self.options.break_names), frozenset(self.options.break_categories)
        if self.model.matches_at(nxt, *lesson) or self.model.matches_at(
            nxt, frozenset(self.break_names), frozenset(self.break_categories)
        ):
            self._set_auto(False)

    def action_phase(self, direction: int) -> None:
        if self.mode == "live":
            self.follow = False
        start = self.cursor if self.cursor >= 0 else -1
        self._go(self.model.next_phase(start, direction))

    def on_event_list_moved(self, message: EventList.Moved) -> None:
        self.select_event(message.index, message.to_end)

    def select_event(self, index: int, to_end: bool = False) -> None:
        """The user browsed to event ``index`` (arrows, page keys, a click)."""
        if self.mode == "live":
            self.follow = to_end
            if to_end and self.held >= 0:
                index = self.held
        self.cursor = index
        self._refresh_all()

    def action_search(self) -> None:
        def found(text: str | None) -> None:
            if text is None:
                return
            self.search_text = text
            self.event_list.set_search(text)
            if text:
                if self.mode == "live":
                    self.follow = False
                hit = self.model.search(text, self.cursor, 1)
                if hit is None:
                    self.notify(f"no event matches {text!r}", severity="warning")
                self._go(hit)
            else:
                self._refresh_all()

        self.push_screen(SearchScreen(self.search_text), found)

    def action_filter(self) -> None:
        counts = self.model.category_counts()

        def chosen(categories: frozenset[str] | None) -> None:
            if categories is None:
                return
            self.model.set_filter(categories or None)
            if self.cursor >= 0 and not self.model.visible(self.cursor):
                found = self.model.nearest_visible(self.cursor, 1)
                if found is None:
                    found = self.model.nearest_visible(self.cursor, -1)
                if found is not None:
                    self.cursor = found
            self._refresh_all()

        self.push_screen(FilterScreen(self.model.categories, counts), chosen)

    def action_breakpoint(self) -> None:
        event = self.current_event()
        if not isinstance(event, SyscallEvent):
            return
        active = sorted(self.break_names) + [f"{c}/*" for c in sorted(self.break_categories)]

        def chosen(choice: str | None) -> None:
            if choice is None:
                return
            if choice == "clear":
                self.break_names.clear()
                self.break_categories.clear()
            elif choice.startswith("name:"):
                self.break_names ^= {choice[5:]}
            elif choice.startswith("category:"):
                self.break_categories ^= {choice[9:]}
            self.apply_breakpoints()

        self.push_screen(BreakpointScreen(event.name, event.category_name, active), chosen)

    def apply_breakpoints(self) -> None:
        if self.steering is not None and not self.ended:
            self.steering.set_breakpoints(set(self.break_names), set(self.break_categories))
        self.event_list.set_breakpoints(frozenset(self.break_names), frozenset(self.break_categories))
        self._refresh_all(scroll=False)

    def export_formats(self) -> list[str]:
        return [*self.options.export_formats, "trace"]

    def action_export(self) -> None:
        formats = self.export_formats()
        stamp = time.strftime("%Y%m%d-%H%M%S")

        def chosen(choice: tuple[str, str] | None) -> None:
            if choice is not None and choice[1]:
                self.export_to(*choice)

        self.push_screen(ExportScreen(formats, f"boxtrace-{stamp}.{formats[0]}"), chosen)

    @work(thread=True, group="export")
    def export_to(self, fmt: str, path: str) -> None:
        """Write the events so far on a worker thread: a copy of the live list (it keeps growing), or
        the replayed file's events so far, read again line by line (never all in memory at once)."""
        events: Sequence[Event] = (
            self.store.upto(len(self.model)) if self.store is not None else list(self.model.events)
        )
        header = self.header or _placeholder_header()
        try:
            if fmt == "trace" or self.options.exporter is None:
                from boxtrace.tracer.tracefile import TraceWriter

                with TraceWriter(path, header) as writer:
                    for start in range(0, len(events), EXPORT_BATCH):
                        writer.write_events(events[start : start + EXPORT_BATCH])
            else:
                self.options.exporter(fmt, header, events, path)
        except (OSError, ValueError, KeyError) as exc:
            self.call_from_thread(self.notify, f"export failed: {exc}", severity="error")
            return
        self.call_from_thread(self.notify, f"exported {len(events)} events to {os.path.abspath(path)}")

    def action_open(self) -> None:
        from boxtrace.tracer.spool import list_traces, spool_dir

        def chosen(path: str | None) -> None:
            if path:
                self.next_replay = path
                self.exit()

        self.push_screen(OpenScreen(list_traces(), spool_dir()), chosen)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(list(self.key_map()), self.mode == "live"))

    def key_map(self) -> Iterator[tuple[str, str]]:
        """(keys, description) of the bindings in force, with the user's remapping applied."""
        keys: dict[str, list[str]] = {}
        described: dict[str, str] = {}
        for key, active in self.screen.active_bindings.items():
            b = active.binding
            if not b.description or not b.show:
                continue
            name = b.id or b.action
            described.setdefault(name, b.description)
            keys.setdefault(name, []).append(self.get_key_display(b.with_key(key)))
        for name, shown in keys.items():
            yield " ".join(dict.fromkeys(shown)), described[name]
        yield "↑ ↓ PgUp PgDn Home End", "browse the event list"

    async def action_quit(self) -> None:
        if self.mode == "live" and self.steering is not None and not self.ended:
            if self.quitting:
                self.steering.stop(force=True)  # asked twice: kill every traced process now
                return
            self.quitting = True
            self._set_auto(False)
            self.steering.stop()  # SIGTERM to the root: the runtime removes its container
            self.set_timer(self.options.grace + 3.0, self._give_up)
            self._refresh_all(scroll=False)
            return
        self.exit(self.result.exit_code if self.result is not None else 0)

    def _give_up(self) -> None:
        if self.steering is not None:
            self.steering.stop(force=True)
        self.exit(130)


def _intern(event: Event) -> None:
    """Share equal strings between events: a long trace repeats the same paths, flags and names,
    and each parsed JSON line would otherwise hold its own copies (most of a replay's memory)."""
    event.comm = sys.intern(event.comm)
    if isinstance(event, SyscallEvent):
        event.name = sys.intern(event.name)
        event.category_name = sys.intern(event.category_name)
        for arg in event.args:
            arg.name = sys.intern(arg.name)
            arg.text = sys.intern(arg.text)
            if arg.flags:
                arg.flags = [sys.intern(f) for f in arg.flags]
        detail = event.detail
        for key, value in detail.items():
            if isinstance(value, str):
                detail[key] = sys.intern(value)
        if event.result_text is not None:
            event.result_text = sys.intern(event.result_text)


def _placeholder_header() -> TraceHeader:
    return TraceHeader(
        version="1.0",
        boxtrace_version="",
        kernel=os.uname().release,
        arch=os.uname().machine,
        command=[],
        start_time="",
    )

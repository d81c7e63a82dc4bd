"""Painting: the status line, the event list's marks, the footer's keys and the side panes, brought
up to date with the cursor after every change, each only when its text changed."""

from __future__ import annotations

import gc
import time
from abc import abstractmethod
from bisect import bisect_right

from rich.markdown import Markdown as RichMarkdown
from rich.text import Text
from textual.widgets import Static

from boxtrace.tracer.events import Event
from boxtrace.tui import panes
from boxtrace.tui.app_state import AppState
from boxtrace.tui.explanation_view import ExplanationView
from boxtrace.tui.keys import BINDING_ACTIONS
from boxtrace.tui.mountinfo import read_mountinfo
from boxtrace.tui.text_pane import TextPane

SIDE_PANES = ("explanation", "processes", "mounts", "cgroups", "output")  # their widgets' ids
# Collections of the youngest generation a key and what it renders ahead start, at most, most often
# (paging through a large trace: 2-3 at the app's threshold of 3,000 allocations).
YOUNG_COLLECTIONS_PER_KEY = 3


class Painting(AppState):
    def _refresh_all(self, scroll: bool = True) -> None:
        future = self._future_from(self.cursor)
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
        self._set("#output", self._output_text(self.cursor))
        for pane in SIDE_PANES:
            self.shown[pane] = self.cursor

    def _future_from(self, cursor: int) -> int:
        """Replay: the first event that has not happened yet at step ``cursor`` (the list dims it)."""
        return cursor + 1 if self.mode == "replay" and cursor >= 0 else -1

    def _prepare_neighbours(self) -> None:
        """Once the step is painted: render ahead what the likely next keys show, the explanation and
        the list's rows: repeating the last move first (a page, a phase, a search: keys are pressed
        again and again), then a step forward and back. One at a time, each as its own callback, so
        that a key pressed meanwhile waits for one at most; a key makes the rest stale."""
        self._prepare_due = False
        self._prepare_run += 1
        self._prepare_queue = self._likely_targets()
        self._prepare_first = True  # the side panes too, for the likeliest step only
        self._prepare_next(self._prepare_run)

    def _likely_targets(self) -> list[int]:
        kind, direction = self.last_move
        first: int | None = None
        if kind == "page":
            first = self.event_list.page_target(direction)
        elif kind == "phase" and self.cursor >= 0:
            first = self.model.next_phase(self.cursor, direction)
        elif kind == "search" and self.search_text:
            first = self.model.search(self.search_text, self.cursor, 1)
        steps = (1, -1) if direction > 0 or kind != "step" else (-1, 1)
        targets = [first] + [self._next_visible(d) for d in steps]
        return [t for t in dict.fromkeys(targets) if t is not None and t != self.cursor]

    def _prepare_next(self, run: int) -> None:
        if run != self._prepare_run or not self._prepare_queue:
            return
        self._prepare(self._prepare_queue.pop(0), panes_too=self._prepare_first)
        self._prepare_first = False
        self.call_later(self._prepare_next if self._prepare_queue else self._collect_ahead, run)

    def _collect_ahead(self, run: int) -> None:
        """Last, while the app waits for a key: a collection of the two young generations if the
        next key's own allocations would likely start one (2-4 ms with the caches' strips in them,
        in one key in four or five paging through a large trace)."""
        if run != self._prepare_run or not gc.isenabled():
            return
        _, count1, _ = gc.get_count()
        if count1 >= gc.get_threshold()[1] - YOUNG_COLLECTIONS_PER_KEY:
            gc.collect(1)

    def _prepare(self, index: int, panes_too: bool) -> None:
        event = self.model.events[index]
        markdown = panes.explanation_markdown(
            event,
            self.model.phase_name(index),
            held=index == self.held,
            intro=self.options.intro,
            explainer=self.explainer,
        )
        self.query_one("#explanation", ExplanationView).prepare(markdown)
        self.event_list.prefetch(index, self._future_from(index))
        if not panes_too or (self.mode == "live" and not self.ended):
            return  # live, the mounts come from /proc at the step itself
        # The world is one object that moves to the step asked for: this leaves it at ``index``,
        # where the next key most likely wants it.
        world = self.timeline.at(index)
        self.query_one("#processes", TextPane).prepare(panes.process_tree(world, event.pid))
        self.query_one("#mounts", TextPane).prepare(panes.derived_mounts(world))
        self.query_one("#cgroups", TextPane).prepare(panes.cgroups(world))
        self.query_one("#output", TextPane).prepare(self._output_text(index))

    def _output_text(self, cursor: int) -> Text:
        """The container's output up to step ``cursor`` (a replay), or all of it (live)."""
        upto = bisect_right(self.output_indices, cursor) if self.mode == "replay" else None
        shown = self.output_indices[:upto] if upto is not None else self.output_indices
        return panes.output_text(self.model.events, shown, limit=8)

    def _set(self, selector: str, content: Text | str, layout: bool = False) -> None:
        """Update a pane only when its text changed. Markdown (str) scrolls and needs a layout pass;
        the fixed-size panes only repaint, which keeps a key press well under a frame."""
        key = content if isinstance(content, str) else content.plain
        if self._pane_text.get(selector) == key:
            return
        self._pane_text[selector] = key
        widget = self.query_one(selector, Static)
        if isinstance(widget, TextPane) and isinstance(content, Text):
            widget.show(content)
        elif isinstance(content, str):
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

    @abstractmethod
    def _update_presenter(self, event: Event | None, world: panes.World, markdown: str) -> None:
        """Presenter mode's screen instead of the side panes (presenter.Presenter)."""

"""The boxtrace app: one UI over a live trace session or a recorded trace.

The app is put together from parts with one job each, all over the same state (``app_state``):
``feeding`` takes the session's messages or the replay file's chunks into the model, ``stepping``
moves through them (and steers a live trace), ``painting`` brings the status line and panes up to
date, ``presenter`` draws presenter mode instead, ``finding`` searches, filters and sets
breakpoints, ``exporting`` writes the trace or opens another, ``keys`` decides which keys are
available and lists them for help. This module holds the keys, the layout and the start.

Steering goes the other way through a :class:`Steering` (a ``TraceSession`` in real use): step,
resume, pause, breakpoints, stop. A replay has no steering; its steps move a cursor through the
recorded events, backward too.
"""

from __future__ import annotations

import os
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Header, Static

from boxtrace.tui.app_state import AppState, Mode, ReplaySource, Steering
from boxtrace.tui.event_list import EventList
from boxtrace.tui.explanation_view import ExplanationView
from boxtrace.tui.exporting import EXPORT_BATCH, Exporting
from boxtrace.tui.feeding import CHUNK, FIRST_CHUNK, GC_YOUNG_THRESHOLD, Feeding, ReplayChunk, TraceBatch
from boxtrace.tui.finding import Finding
from boxtrace.tui.footer import TraceFooter
from boxtrace.tui.keys import BINDING_ACTIONS, Keys
from boxtrace.tui.painting import SIDE_PANES, Painting
from boxtrace.tui.presenter import Presenter
from boxtrace.tui.stepping import Stepping
from boxtrace.tui.text_pane import TextPane

__all__ = [  # what other modules and the tests import from here
    "BINDING_ACTIONS",
    "CHUNK",
    "EXPORT_BATCH",
    "FIRST_CHUNK",
    "GC_YOUNG_THRESHOLD",
    "SIDE_PANES",
    "AppState",
    "BoxtraceApp",
    "Mode",
    "ReplayChunk",
    "ReplaySource",
    "Steering",
    "TraceBatch",
]


class BoxtraceApp(Feeding, Stepping, Presenter, Painting, Finding, Exporting, Keys):
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
                    yield TextPane(id="output", classes="pane")
                with Vertical(id="right"):
                    yield ExplanationView(id="explanation")
                    yield TextPane(id="processes", classes="pane")
                    with Horizontal(id="state"):
                        yield TextPane(id="mounts", classes="pane")
                        yield TextPane(id="cgroups", classes="pane")
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

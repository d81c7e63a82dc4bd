"""The modal screens: help, search, category filter, breakpoint choice, export, open."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, OptionList, Select, SelectionList
from textual.widgets.option_list import Option

from boxtrace.tracer.events import CATEGORIES
from boxtrace.tracer.spool import SpoolEntry

SHOWN_CATEGORIES: tuple[str, ...] = (*CATEGORIES, "output")


class HelpScreen(ModalScreen[None]):
    """The key map (from the app's live bindings, so remapped keys show as remapped) and a legend."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]  # noqa: RUF012

    def __init__(self, keys: list[tuple[str, str]], live: bool) -> None:
        super().__init__()
        self.keys = keys
        self.live = live

    def compose(self) -> ComposeResult:
        rows = "\n".join(f"| `{key}` | {what} |" for key, what in self.keys)
        mode = (
            "**Live**: a step holds the traced process at the entry of its next container syscall; "
            "the explanation shows before the call runs and its result after."
            if self.live
            else "**Replay**: stepping moves through the recorded events, backward too. No privileges needed."
        )
        text = f"""# boxtrace keys

{mode}

| key | what it does |
| --- | --- |
{rows}

**Marks in the list:** `▶` current step · `⏸` held at syscall entry (not run yet) · `●` breakpoint ·
dim lines (replay) have not happened yet at the current step.

Press `escape` to close.
"""
        with VerticalScroll(id="help-body"):
            yield Markdown(text)


class SearchScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="search.cancel")]  # noqa: RUF012

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Search events (syscall, path, flag, process…), enter to find the next match")
            yield Input(value=self.current, placeholder="e.g. pivot_root or /proc", id="search-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class FilterScreen(ModalScreen[frozenset[str] | None]):
    """Choose the categories the list shows; every category when all are ticked."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="filter.cancel")]  # noqa: RUF012

    def __init__(self, shown: frozenset[str] | None, counts: dict[str, int]) -> None:
        super().__init__()
        self.shown = shown
        self.counts = counts

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Show these categories (space toggles, enter applies)")
            yield SelectionList[str](
                *[
                    (f"{c} ({self.counts.get(c, 0)})", c, self.shown is None or c in self.shown)
                    for c in SHOWN_CATEGORIES
                ],
                id="filter-list",
            )
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("All", id="all")

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        if key == "enter":
            self._apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "all":
            self.dismiss(frozenset())
        else:
            self._apply()

    def _apply(self) -> None:
        chosen = frozenset(self.query_one(SelectionList).selected)
        # An empty result means "everything" to the app: showing nothing helps nobody.
        self.dismiss(frozenset() if chosen == frozenset(SHOWN_CATEGORIES) else chosen)

    def action_cancel(self) -> None:
        self.dismiss(None)


class BreakpointScreen(ModalScreen[str | None]):
    """Break on this syscall, on its whole category, or clear every breakpoint."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="breakpoint.cancel")]  # noqa: RUF012

    def __init__(self, syscall: str, category: str, active: list[str]) -> None:
        super().__init__()
        self.syscall = syscall
        self.category = category
        self.active = active

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Breakpoint: stop before the call runs")
            yield OptionList(
                Option(f"on every {self.syscall}() call", id=f"name:{self.syscall}"),
                Option(f"on every call of category {self.category}", id=f"category:{self.category}"),
                Option("clear all breakpoints", id="clear"),
                id="breakpoint-options",
            )
            if self.active:
                yield Label("active: " + ", ".join(self.active), classes="dim")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportScreen(ModalScreen[tuple[str, str] | None]):
    """Export the events so far: a format and a file name."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="export.cancel")]  # noqa: RUF012

    def __init__(self, formats: list[str], default_path: str) -> None:
        super().__init__()
        self.formats = formats
        self.default_path = default_path

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Export the trace so far")
            yield Select(
                [(f, f) for f in self.formats], value=self.formats[0], allow_blank=False, id="format"
            )
            yield Input(value=self.default_path, id="export-path")
            with Horizontal(classes="buttons"):
                yield Button("Export", variant="primary", id="export")
                yield Button("Cancel", id="cancel")

    def on_select_changed(self, event: Select.Changed) -> None:
        path = self.query_one("#export-path", Input)
        stem = path.value.rsplit(".", 1)[0] if "." in path.value else path.value
        path.value = f"{stem}.{_suffix(str(event.value))}"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._done()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "export":
            self._done()
        else:
            self.dismiss(None)

    def _done(self) -> None:
        fmt = str(self.query_one("#format", Select).value)
        self.dismiss((fmt, self.query_one("#export-path", Input).value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)


SUFFIXES = {"md": "md", "html": "html", "json": "json", "perfetto": "perfetto.json", "strace": "strace"}


def _suffix(fmt: str) -> str:
    return SUFFIXES.get(fmt, "jsonl" if fmt == "trace" else fmt)


class OpenScreen(ModalScreen[str | None]):
    """Open a trace recorded in the spool (boxtrace-runc, boxtrace-runtime --record), newest first."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="open.cancel")]  # noqa: RUF012

    def __init__(self, entries: list[SpoolEntry], where: str) -> None:
        super().__init__()
        self.entries = entries
        self.where = where

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Open a recorded trace ({self.where})")
            if not self.entries:
                yield Label("nothing recorded yet: see 'boxtrace traces --help'", classes="dim")
                return
            yield OptionList(
                *(Option(_entry_line(e), id=e.path) for e in reversed(self.entries)), id="open-options"
            )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _entry_line(entry: SpoolEntry) -> str:
    """'2026-11-28 06:55:58  runc-create-df4a8…  172 kB  recording'."""
    stamp, _, rest = entry.name.partition(".")
    when = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}"
    label = rest.partition("-")[2].rsplit("-", 1)[0] or entry.name  # drop the microseconds and the pid
    if len(label) > 48:
        label = label[:47] + "…"
    state = "  recording" if entry.in_progress else ""
    return f"{when}  {label}  {entry.size // 1000} kB{state}"

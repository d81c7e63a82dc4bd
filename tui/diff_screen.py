"""``boxtrace diff --tui``: two traces side by side, aligned step by step, with the explanations of
the selected pair below.

One virtualised list draws both sides on each line (A's event, the difference mark, B's event), so
the two columns can never scroll apart; a step only one trace makes leaves the other column blank.
The lines are the event list's own (``render.styled_line``) and the explanations the replay's
(``panes.explanation_markdown``), so a step reads here as it does in a replay.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.geometry import Size
from textual.screen import ModalScreen, Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Label, Markdown

from boxtrace.lessons.diff import CHANGED, MARK, ONLY_A, ONLY_B, SAME, Row, TraceDiff, change_text
from boxtrace.lessons.model import PHASES, Explanation
from boxtrace.tracer.events import Event
from boxtrace.tui.panes import explain_event, explanation_markdown
from boxtrace.tui.render import styled_line

LINE_STYLE = {"only_a": "red", "only_b": "green", "changed": "yellow", "same": ""}
Line = Row | str  # a pair of steps, or a phase heading


class DiffList(ScrollView, can_focus=True):
    """The aligned pairs, headings between phases; the cursor is on a pair."""

    BINDINGS = [  # noqa: RUF012 - textual's own class attribute
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "move(-20)", "Page up", show=False),
        Binding("pagedown", "move(20)", "Page down", show=False),
        Binding("home", "move(-1000000)", "First", show=False),
        Binding("end", "move(1000000)", "Last", show=False),
        Binding("n", "next_difference(1)", "Next difference"),
        Binding("p", "next_difference(-1)", "Previous difference"),
    ]

    def __init__(self, diff: TraceDiff, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[Line] = []
        for phase in diff.phases:
            self.lines.append(phase.phase)
            self.lines.extend(phase.rows)
        self.cursor = next((i for i, line in enumerate(self.lines) if isinstance(line, Row)), 0)
        self.virtual_size = Size(0, len(self.lines))

    def row(self) -> Row | None:
        line = self.lines[self.cursor] if self.lines else None
        return line if isinstance(line, Row) else None

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        if not 0 <= index < len(self.lines):
            return Strip.blank(width, self.rich_style)
        line = self.lines[index]
        if isinstance(line, str):
            label = f"── {PHASES.index(line) + 1}. {line} "
            text = Text(label + "─" * max(0, width - len(label)), style="bold", no_wrap=True, end="")
        else:
            half = max(10, (width - 4) // 2)
            text = Text(no_wrap=True, end="")
            for side, step in enumerate((line.a, line.b)):
                cell = styled_line(step.event, 12) if step is not None else Text("")
                cell.truncate(half, pad=True)
                text.append_text(cell)
                if side == 0:
                    mark = MARK[line.kind] + ("↕" if line.moved else " ")
                    text.append(f" {mark} ", f"bold {LINE_STYLE[line.kind]}".strip())
            if line.kind != SAME:
                text.stylize(LINE_STYLE[line.kind], 0, half)
            if index == self.cursor:
                text.stylize("reverse")
        segments = list(text.render(self.app.console))
        return Strip(segments, text.cell_len).crop_extend(0, width, self.rich_style + Style())

    def _go(self, index: int) -> None:
        index = max(0, min(len(self.lines) - 1, index))
        step = 1 if index >= self.cursor else -1
        while 0 <= index < len(self.lines) and not isinstance(self.lines[index], Row):
            index += step
        if not 0 <= index < len(self.lines):
            return
        self.cursor = index
        height = max(1, self.scrollable_content_region.height)
        top = self.scroll_offset.y
        if index < top + 1 or index >= top + height - 1:
            self.scroll_to(y=max(0, index - height // 3), animate=False, immediate=True)
        self.refresh()
        screen = self.screen
        if isinstance(screen, DiffScreen):
            screen.show_selected()

    def action_move(self, delta: int) -> None:
        self._go(self.cursor + delta)

    def action_next_difference(self, direction: int) -> None:
        index = self.cursor + direction
        while 0 <= index < len(self.lines):
            line = self.lines[index]
            if isinstance(line, Row) and (line.kind != SAME or line.moved):
                self._go(index)
                return
            index += direction

    def on_click(self, event: events.Click) -> None:
        self._go(self.scroll_offset.y + event.y)


class DiffScreen(Screen[None]):
    """The side-by-side view of one TraceDiff."""

    DEFAULT_CSS = """
    DiffScreen #diff-names { height: 1; padding: 0 1; background: $boost; }
    DiffScreen DiffList { height: 1fr; }
    DiffScreen #diff-change { height: auto; max-height: 3; padding: 0 1; color: $warning; }
    DiffScreen #diff-explanations { height: 45%; }
    DiffScreen #diff-explanations VerticalScroll { width: 1fr; border: round $primary; }
    """
    BINDINGS = [  # noqa: RUF012
        Binding("question_mark", "help", "Help"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(
        self,
        diff: TraceDiff,
        sources: tuple[str, str],
        explainer: Callable[[Event], Explanation | None] = explain_event,
    ) -> None:
        super().__init__()
        self.diff = diff
        self.sources = sources
        self.explainer = explainer  # the catalogue; snapshot tests put a fixed stand-in here

    def compose(self) -> ComposeResult:
        d = self.diff
        yield Label(
            f"A: {d.name_a} ({self.sources[0]})   ·   B: {d.name_b} ({self.sources[1]})", id="diff-names"
        )
        yield DiffList(d, id="diff-list")
        yield Label("", id="diff-change")
        with Horizontal(id="diff-explanations"):
            with VerticalScroll(id="diff-pane-a"):
                yield Markdown("", id="diff-explain-a")
            with VerticalScroll(id="diff-pane-b"):
                yield Markdown("", id="diff-explain-b")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#diff-pane-a").border_title = f"A: {self.diff.name_a}"
        self.query_one("#diff-pane-b").border_title = f"B: {self.diff.name_b}"
        self.query_one(DiffList).focus()
        self.show_selected()

    def action_help(self) -> None:
        shown: dict[str, list[str]] = {}
        for key, active in self.active_bindings.items():
            b = active.binding
            if b.description and b.show:
                shown.setdefault(b.description, []).append(self.app.get_key_display(b.with_key(key)))
        keys = [(" ".join(dict.fromkeys(k)), what) for what, k in shown.items()]
        keys.append(("↑ ↓ PgUp PgDn Home End", "move through the pairs"))
        self.app.push_screen(DiffHelpScreen(keys, self.diff.name_a, self.diff.name_b))

    def show_selected(self) -> None:
        row = self.query_one(DiffList).row()
        if row is None:
            return
        kind = {
            "same": "the same in both",
            "only_a": f"only in {self.diff.name_a}",
            "only_b": f"only in {self.diff.name_b}",
            "changed": "the same step with other arguments",
        }[row.kind] + (", in another order" if row.moved else "")
        if row.left_out is not None:  # boxtrace run --without: the step's marker, or a call in its place
            kind = f"left out: {row.left_out}" + ("" if row.step.left_out is not None else f" ({kind})")
        changes = "; ".join(change_text(*c) for c in row.changes()) if row.kind == CHANGED else ""
        self.query_one("#diff-change", Label).update(f"{kind}{': ' + changes if changes else ''}")
        for side, step in (("a", row.a), ("b", row.b)):
            text = (
                explanation_markdown(step.event, step.phase, held=False, explainer=self.explainer)
                if step is not None
                else "*This trace has no such step.*"
            )
            self.query_one(f"#diff-explain-{side}", Markdown).update(text)


class DiffHelpScreen(ModalScreen[None]):
    """The diff view's keys and what its marks mean (``?``)."""

    DEFAULT_CSS = """
    DiffHelpScreen { align: center middle; }
    DiffHelpScreen #diff-help-body {
        width: 90; height: 80%; background: $surface; border: thick $accent; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]  # noqa: RUF012

    def __init__(self, keys: list[tuple[str, str]], name_a: str, name_b: str) -> None:
        super().__init__()
        self.keys = keys
        self.names = name_a, name_b

    def compose(self) -> ComposeResult:
        a, b = self.names
        rows = "\n".join(f"| `{key}` | {what} |" for key, what in self.keys)
        text = f"""# boxtrace diff: keys

Each line pairs a step of A ({a}) with the same step of B ({b}); the panes below explain the
selected pair.

| key | what it does |
| --- | --- |
{rows}

| mark | meaning |
| --- | --- |
| `{MARK[SAME]}` | the same in both |
| `{MARK[ONLY_A]}` | only in A ({a}) |
| `{MARK[ONLY_B]}` | only in B ({b}) |
| `{MARK[CHANGED]}` | the same step with other arguments (the line under the list says which) |
| `↕` | done in another order |

Press `escape` to close.
"""
        with VerticalScroll(id="diff-help-body"):
            yield Markdown(text)


class DiffApp(App[None]):
    """The diff view as an app of its own (``boxtrace diff``); the replay app could push DiffScreen too."""

    TITLE = "boxtrace diff"
    ENABLE_COMMAND_PALETTE = False  # as the replay app: every command is a key (see ?)

    def __init__(
        self,
        diff: TraceDiff,
        sources: tuple[str, str],
        explainer: Callable[[Event], Explanation | None] = explain_event,
    ) -> None:
        super().__init__()
        self.diff = diff
        self.sources = sources
        self.explainer = explainer

    def on_mount(self) -> None:
        self.push_screen(DiffScreen(self.diff, self.sources, self.explainer))


def run_diff(diff: TraceDiff, sources: tuple[str, str]) -> None:
    DiffApp(diff, sources).run()

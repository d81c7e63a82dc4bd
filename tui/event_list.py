"""The event list: a virtualised ScrollView that renders only the lines on screen.

Like toolong's log view: ``render_line(y)`` turns the row at ``scroll_y + y`` into a Strip, and an
LRU cache keeps the Strips of recently shown rows, so scrolling through 100,000 events costs the
same as scrolling through 100. A DataTable would build every row up front (seconds for 100k).
The widget owns no state about the trace: it reads the model's rows and the app's cursor, and an
event itself only to render a row that is not cached.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip

from boxtrace.lessons.model import PHASES
from boxtrace.tui.paint_style import StyledLines
from boxtrace.tui.render import styled_line
from boxtrace.tui.timeline import TraceModel, heading_phase

LINE_WIDTH = 400  # virtual width: lines are cut here, the explanation pane shows everything
# Rendered rows kept: ten screens. Each Strip carries its own caches (~8 objects the cyclic GC walks).
STRIP_CACHE = 500


class EventList(StyledLines, can_focus=True):
    """Rows of the model; the cursor row is highlighted, a held call is marked, future rows dim."""

    COMPONENT_CLASSES = {  # noqa: RUF012 - textual's own class attribute
        "event-list--cursor",
        "event-list--heading",
        "event-list--future",
        "event-list--match",
    }
    BINDINGS = [  # noqa: RUF012 - textual's own class attribute
        Binding("up,k", "move(-1)", "Up", show=False, id="list.up"),
        Binding("down,j", "move(1)", "Down", show=False, id="list.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="list.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="list.page_down"),
        Binding("home", "jump(0)", "First", show=False, id="list.home"),
        Binding("end", "jump(-1)", "Last", show=False, id="list.end"),
    ]

    class Moved(Message):
        """The user moved the selection to event ``index`` (browsing, not stepping)."""

        def __init__(self, index: int, to_end: bool = False) -> None:
            super().__init__()
            self.index = index
            self.to_end = to_end

    def __init__(self, model: TraceModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.cursor = -1  # event index of the current step
        self.held = -1  # event index held at syscall entry (live), -1 if none
        self.future_from = -1  # replay: events at or after this index have not "happened" yet
        self.search = ""
        self.breakpoints: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
        self._cache: LRUCache[tuple[object, ...], Strip] = LRUCache(maxsize=STRIP_CACHE)
        # The app's handler, called synchronously so a key's move is in the very next paint.
        self.on_select: Callable[[int, bool], None] | None = None
        self._version = -1
        # Row -> the cache key of the line last painted there: a move repaints only the rows whose
        # key changed (two for a step), not the whole list.
        self._painted: dict[int, tuple[object, ...]] = {}
        # The kind and direction of the last move made here ("step" or "page", 1 or -1): the app
        # renders ahead what repeating it would show.
        self.move: tuple[str, int] = ("step", 1)

    # ---- state from the app ----

    def sync(self, *, cursor: int, held: int, future_from: int, scroll: bool = True) -> None:
        """Take the app's state; repaint only the rows that changed and keep the cursor in view."""
        changed = (cursor, held, future_from) != (self.cursor, self.held, self.future_from)
        self.cursor, self.held, self.future_from = cursor, held, future_from
        grown = self.model.version != self._version
        top = self.scroll_offset.y
        if grown:
            self._version = self.model.version
            self.virtual_size = Size(LINE_WIDTH, len(self.model.rows))
        if scroll:
            self.scroll_to_cursor()
            if grown:
                # A scroll past the old virtual height is clamped until the next layout: redo it then.
                self.call_after_refresh(self.scroll_to_cursor)
        if grown or self.scroll_offset.y != top or len(self._painted) > STRIP_CACHE:
            self._painted.clear()  # forget rows scrolled away (a wheel scroll does not come here)
            self.refresh()  # rows moved: every line is new
        elif changed:
            self._refresh_changed_rows()

    def _refresh_changed_rows(self) -> None:
        """Repaint the rows on screen whose line differs from the one painted there."""
        top = self.scroll_offset.y
        rows = self.model.rows
        width = self.scrollable_content_region.width
        painted = self._painted
        state = (self.cursor, self.held, self.future_from)
        for row_index in range(top, min(len(rows), top + self.scrollable_content_region.height)):
            if painted.get(row_index) != self._row_key(rows[row_index], width, state):
                # Not refresh_lines: its region is LINE_WIDTH wide, past the list on the screen.
                self.refresh(Region(0, row_index - top, self.size.width, 1))

    def set_search(self, text: str) -> None:
        if text.lower() == self.search:
            return  # searching again for the same text: the lines are highlighted already
        self.search = text.lower()
        self._cache.clear()
        self._painted.clear()
        self.refresh()

    def set_breakpoints(self, names: frozenset[str], categories: frozenset[str]) -> None:
        self.breakpoints = (names, categories)
        self._cache.clear()
        self._painted.clear()
        self.refresh()

    def cursor_row(self) -> int:
        if 0 <= self.cursor < len(self.model.event_row):
            return self.model.event_row[self.cursor]
        return -1

    def scroll_to_cursor(self) -> None:
        row = self.cursor_row()
        if row < 0:
            return
        height = max(1, self.scrollable_content_region.height)
        top = self.scroll_offset.y
        if row < top + 1 or row >= top + height - 1:
            # Keep a heading above the first event visible, and a little context below the cursor.
            target = max(0, row - height // 3)
            self.scroll_to(y=target, animate=False, immediate=True)

    def prefetch(self, cursor: int, future_from: int) -> None:
        """Render ahead the rows a move to event ``cursor`` would show (``future_from`` as ``sync``
        would get it), scrolled as ``scroll_to_cursor`` would scroll: a page down then paints rows
        from the cache. Rows cached already cost a look-up."""
        if not 0 <= cursor < len(self.model.event_row):
            return
        row = self.model.event_row[cursor]
        region = self.scrollable_content_region
        height, width = max(1, region.height), region.width
        rows = self.model.rows
        top = self.scroll_offset.y
        if row < 0 or width <= 0:
            return
        if row < top + 1 or row >= top + height - 1:
            top = max(0, min(row - height // 3, self.max_scroll_y))  # as scroll_to clamps it
        state = (cursor, self.held, future_from)
        cache = self._cache
        # Every line of the widget is painted, the one under the horizontal scrollbar too.
        for row_index in range(top, min(len(rows), top + max(height, self.size.height))):
            key = self._row_key(rows[row_index], width, state)
            if key not in cache:
                cache[key] = self._render_row(rows[row_index], width, state)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(LINE_WIDTH, len(self.model.rows))
        self.scroll_to_cursor()

    # ---- rendering ----

    def _row_key(self, row: int, width: int, state: tuple[int, int, int]) -> tuple[object, ...]:
        """What a row's line depends on (besides search and breakpoints, which clear the cache), with
        the cursor, held call and first future event of ``state``."""
        if row < 0:
            return ("h", row, width)
        cursor, held, future_from = state
        # From the model's arrays, not the event: a replayed file's events are parsed only on a miss.
        return (
            row,
            self.model.stamps[row],
            row == cursor,
            row == held,
            future_from >= 0 and row >= future_from,
        )

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row_index = scroll_y + y
        width = self.scrollable_content_region.width
        rows = self.model.rows
        base = self.line_style
        if row_index >= len(rows) or row_index < 0:
            return Strip.blank(width, base)
        row = rows[row_index]
        state = (self.cursor, self.held, self.future_from)
        key = self._row_key(row, width, state)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render_row(row, width, state)
            self._cache[key] = strip
        self._painted[row_index] = key
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _render_row(self, row: int, width: int, state: tuple[int, int, int]) -> Strip:
        base = self.line_style
        cursor, held, future_from = state
        if row < 0:
            phase = heading_phase(row)
            label = f"── {phase + 1}. {PHASES[phase]} "
            style = self.get_component_rich_style("event-list--heading")
            text = Text(label + "─" * max(0, width - len(label)), style=style, no_wrap=True, end="")
            return Strip(list(text.render(self.app.console)), text.cell_len).apply_style(base)
        event = self.model.events[row]
        text = styled_line(event)
        if self.search and self.search in self.model.text_of(row):
            text.highlight_words(
                [self.search], self.get_component_rich_style("event-list--match"), case_sensitive=False
            )
        names, cats = self.breakpoints
        mark = "  "
        if row == held:
            mark = "⏸ "
        elif row == cursor:
            mark = "▶ "
        elif (names or cats) and self.model.matches_at(row, names, cats):
            mark = "● "
        line = Text(mark, style="bold yellow", no_wrap=True, end="")
        line.append_text(text)
        if row == cursor:
            line.stylize(self.get_component_rich_style("event-list--cursor"))
        elif future_from >= 0 and row >= future_from:
            line.stylize(self.get_component_rich_style("event-list--future"))
        segments = [
            Segment(s.text, base + s.style if s.style else base) for s in line.render(self.app.console)
        ]
        strip = Strip(segments, line.cell_len)
        if row == cursor:
            # The highlight spans the whole width, not just the text.
            cursor_style = self.get_component_rich_style("event-list--cursor")
            strip = strip.extend_cell_length(LINE_WIDTH, base + Style(bgcolor=cursor_style.bgcolor))
        return strip

    # ---- browsing (the app decides what a move means in live or replay mode) ----

    def _select(self, index: int, to_end: bool = False) -> None:
        if self.on_select is not None:
            self.on_select(index, to_end)
        else:
            self.post_message(self.Moved(index, to_end))

    def _row_event(self, row: int, direction: int) -> int | None:
        rows = self.model.rows
        while 0 <= row < len(rows):
            if rows[row] >= 0:
                return rows[row]
            row += direction
        return None

    def action_move(self, delta: int) -> None:
        row = self.cursor_row()
        start = row + delta if row >= 0 else 0
        found = self._row_event(start, 1 if delta > 0 else -1)
        if found is not None:
            self.move = ("step", 1 if delta > 0 else -1)
            self._select(found)

    def page_target(self, direction: int) -> int | None:
        """The event a page down (1) or up (-1) moves to."""
        height = max(1, self.scrollable_content_region.height - 1)
        row = max(0, min(len(self.model.rows) - 1, self.cursor_row() + direction * height))
        return self._row_event(row, direction) or self._row_event(row, -direction)

    def action_page(self, direction: int) -> None:
        found = self.page_target(direction)
        if found is not None:
            self.move = ("page", direction)
            self._select(found)

    def action_jump(self, where: int) -> None:
        rows = self.model.rows
        if not rows:
            return
        found = self._row_event(0, 1) if where == 0 else self._row_event(len(rows) - 1, -1)
        if found is not None:
            self.move = ("step", 1 if where == 0 else -1)  # from either end, the next key steps inwards
            self._select(found, where != 0)

    def on_click(self, event: events.Click) -> None:
        row = self.scroll_offset.y + event.y
        if 0 <= row < len(self.model.rows) and self.model.rows[row] >= 0:
            self.move = ("step", 1)
            self._select(self.model.rows[row])

"""The explanation pane: Markdown rendered once per text and width, then shown line by line.

The pane used to be a Static of ``height: auto`` in a VerticalScroll. Each step changed the Static's
height, so each step cost a layout of the whole screen, and two more paints as the scroll container
and then its scrollbars caught up with the new height (three paints per key, the explanation's
Markdown rendered again in each). Here the pane is a ScrollView of fixed size: a step renders the
Markdown once into strips, and only this pane (and its scrollbar) repaints.

The strips are made as textual makes a Static's (``Visual.to_strips`` of the same rich Markdown, with
this widget's style), at the width the Static had: the box's inner width less a margin of one column
on each side, less the scrollbar when the text is taller than the box. So the pane looks the same.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from rich.markdown import Markdown
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.visual import Visual, visualize

from boxtrace.tui.paint_style import StyledLines

MARGIN = 1  # columns left blank on each side of the text
CACHE_SIZE = 16  # rendered texts kept: few, each is ~20 Strips of ~9 objects the cyclic GC walks
# Rendered paragraphs kept. An explanation is the catalogue's paragraphs (the same for every call of
# a kind) around a few of the event's own (its seq, call and result): those are rendered once.
BLOCK_CACHE_SIZE = 256
# Lines that make Markdown blocks span a blank line (indented continuations, fences, tables, HTML) or
# that end the block above (setext underlines, rules): a text with one is rendered whole.
_JOINED_BLOCK_STARTS = (" ", "\t", "```", "~~~", "|", "<", "---", "===", "***", "___")
# Blocks that rich renders without a blank line above them (lists, quotes): rendered with the block above.
_NO_BLANK_BEFORE = ("-", "*", "+", ">", *"0123456789")


class _Markdown(Markdown):
    """rich's Markdown, parsed by one parser for all texts: rich makes a parser per text, which
    costs more than parsing a paragraph. Sets what rich's ``__init__`` sets (a test compares them)."""

    _parser = MarkdownIt().enable("strikethrough").enable("table")  # rich's parser, as rich makes it

    def __init__(self, markup: str) -> None:  # not rich's __init__: it would make a parser
        self.markup = markup
        self.parsed = self._parser.parse(markup)
        self.code_theme = "monokai"
        self.justify = None
        self.style = "none"
        self.hyperlinks = True
        self.inline_code_lexer = None
        self.inline_code_theme = self.code_theme


class ExplanationView(StyledLines, can_focus=True):
    """Shows one Markdown text; scrolls when it is taller than the pane."""

    DEFAULT_CSS = """
    ExplanationView {
        overflow-x: hidden;
        overflow-y: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.markdown = ""
        self._strips: list[Strip] = []
        self._rendered: tuple[str, int, int] | None = None  # (text, box width, box height) of _strips
        self._narrow = True  # the last text needed the scrollbar
        # Rendered texts by (text, width): stepping back and forth renders each step's text once.
        self._cache: LRUCache[tuple[str, int], list[Strip]] = LRUCache(maxsize=CACHE_SIZE)
        self._blocks: LRUCache[tuple[str, int], list[Strip]] = LRUCache(maxsize=BLOCK_CACHE_SIZE)

    def show(self, markdown: str) -> None:
        """Show ``markdown`` from its first line (a new step's text starts at its title)."""
        if markdown == self.markdown:
            return
        self.markdown = markdown
        self._render_text()
        self.scroll_to(y=0, animate=False, immediate=True)

    def on_resize(self, event: events.Resize) -> None:
        self._render_text()

    def prepare(self, markdown: str) -> None:
        """Render ``markdown`` ahead, at this pane's size, so that showing it later costs no rendering
        (the app prepares the steps next to the current one while it waits for a key)."""
        if self.size.width > 0 and self.size.height > 0:
            self._fit(markdown)

    def prepared(self, markdown: str) -> bool:
        """Whether ``markdown`` is rendered already, at one of the widths this pane shows."""
        wide = self.size.width - 2 * MARGIN
        return (markdown, wide) in self._cache or (
            (markdown, wide - self.styles.scrollbar_size_vertical) in self._cache
        )

    def _render_text(self) -> None:
        box = self.size  # inside the border and padding, the scrollbar included
        if box.width <= 0 or box.height <= 0:
            return
        key = (self.markdown, box.width, box.height)
        if key == self._rendered:
            return
        same_box = self._rendered is not None and self._rendered[1:] == key[1:]
        self._rendered = key
        strips = self._fit(self.markdown)
        self._narrow = len(strips) > box.height
        old, self._strips = self._strips, strips
        if same_box and self.scroll_offset.y == 0:
            self._refresh_changed_lines(old, strips, box.width, box.height)
        else:
            self.refresh()
        size = Size(box.width, len(strips))
        if size != self.virtual_size:
            # The pane's own size is fixed by the CSS: only its scrollbar depends on the text's height.
            # Setting virtual_size would lay out the whole screen, and then paint the scrollbars in a
            # frame of their own; this updates the scrollbar for the same paint (textual is pinned:
            # _scroll_update is what ScrollView's _size_updated calls after a layout). A scrollbar
            # that appears or goes still lays the screen out (show_vertical_scrollbar does).
            self.set_reactive(ExplanationView.virtual_size, size)
            self._scroll_update(size)

    def _refresh_changed_lines(self, old: list[Strip], new: list[Strip], width: int, height: int) -> None:
        """Repaint only the lines on screen that differ: texts of the same kind share paragraphs and
        blank lines (about a third of the lines, stepping through a container's start)."""
        for y in range(min(height, max(len(old), len(new)))):
            before = old[y] if y < len(old) else None
            after = new[y] if y < len(new) else None
            if before is not after and before != after:
                self.refresh(Region(0, y, width, 1))

    def _fit(self, markdown: str) -> list[Strip]:
        """``markdown`` rendered at the width a Static in a VerticalScroll of this size would have."""
        box = self.size
        wide = box.width - 2 * MARGIN
        narrow = wide - (self.styles.scrollbar_size_vertical if self.styles.overflow_y == "auto" else 0)
        # Render first at the width the text most likely gets: beside the scrollbar if a rough count
        # of its lines says it is taller than the box, the full width if shorter, else as the last
        # text (most explanations are taller). The lines rendered decide; the guess saves a render.
        guess = sum(len(line) // max(1, wide) + 1 for line in markdown.split("\n"))
        tall = guess > box.height * 5 // 4 or (guess >= box.height * 3 // 4 and self._narrow)
        first = narrow if tall else wide
        strips = self._strips_at(markdown, first)
        if first == wide and len(strips) > box.height:
            strips = self._strips_at(markdown, narrow)  # taller than the box: the scrollbar takes its columns
        elif first == narrow and narrow != wide and len(strips) <= box.height:
            wide_strips = self._strips_at(markdown, wide)
            if len(wide_strips) <= box.height:  # fits without a scrollbar: the full width
                strips = wide_strips
        return strips

    def _strips_at(self, markdown: str, width: int) -> list[Strip]:
        if width <= 0 or not markdown:
            return []
        key = (markdown, width)
        strips = self._cache.get(key)
        if strips is None:
            strips = self._render_blocks(markdown, width)
            self._cache[key] = strips
        return strips

    def _render_blocks(self, markdown: str, width: int) -> list[Strip]:
        """``markdown`` rendered paragraph by paragraph: rich renders top-level blocks one after
        another with a blank line between, so the lines are those of the whole text rendered at once
        (tests/tui/test_explanation_view.py compares them), but only new paragraphs cost a render."""
        lines = markdown.split("\n")
        if any(line.startswith(_JOINED_BLOCK_STARTS) for line in lines):
            return self._render_markdown(markdown, width)
        blocks: list[str] = []
        for block in markdown.split("\n\n"):
            block = block.strip("\n")
            if blocks and block.startswith(_NO_BLANK_BEFORE):
                blocks[-1] += "\n\n" + block  # rich puts no blank line before these: kept together
            elif block:
                blocks.append(block)
        strips: list[Strip] = []
        for block in blocks:
            if strips:
                strips.append(self._separator(width))
            cached = self._blocks.get((block, width))
            if cached is None:
                cached = self._render_markdown(block, width)
                self._blocks[(block, width)] = cached
            strips.extend(cached)
        return strips

    def _separator(self, width: int) -> Strip:
        """The blank line rich puts between two blocks, as this pane shows it."""
        key = ("\n\n", width)
        strips = self._blocks.get(key)
        if strips is None:
            strips = self._render_markdown("a\n\nb", width)[1:2]
            self._blocks[key] = strips
        return strips[0]

    def _render_markdown(self, markdown: str, width: int) -> list[Strip]:
        visual = visualize(self, _Markdown(markdown))
        # As the compositor fills a Static's short lines and its margins: the background alone.
        blank = Style(bgcolor=self.rich_style.bgcolor)
        margin = Segment(" " * MARGIN, blank)
        return [
            Strip([margin, *strip.extend_cell_length(width, blank), margin], width + 2 * MARGIN)
            for strip in Visual.to_strips(self, visual, width, None, self.visual_style)
        ]

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        style = self.line_style
        if 0 <= index < len(self._strips):
            return self._strips[index].crop_extend(scroll_x, scroll_x + width, style)
        return Strip.blank(width, style)

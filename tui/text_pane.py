"""A side pane (processes, mounts, cgroups, output) whose rendered lines are kept by text and size.

A Static renders its text again at every update: ~1.5 ms for the mounts pane, on every key that
changes it (a page down, a phase jump). Here the lines rendered for a text stay in a small cache, so
a text shown before (stepping back and forth) or rendered ahead (``prepare``: the app renders the
panes of the step the next key likely moves to while it waits for that key) paints from the cache.
The lines are the Static's own: the same visual, made by textual's ``_render_content`` or, ahead,
by the same calls.
"""

from __future__ import annotations

from rich.text import Text
from textual.cache import LRUCache
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import _RenderCache  # textual is pinned: what _render_content fills
from textual.widgets import Static

CACHE_SIZE = 8  # texts kept per pane: the current one, its neighbours and the ones rendered ahead


def text_key(text: Text) -> tuple[object, ...]:
    """What a Text's look depends on: its characters, spans and base style (none is mutated once
    the app has made it)."""
    return (text.plain, tuple(text.spans), text.style, text.justify, text.overflow, text.no_wrap)


class TextPane(Static):
    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._text_key: tuple[object, ...] | None = None
        self._lines: LRUCache[tuple[object, ...], list[Strip]] = LRUCache(maxsize=CACHE_SIZE)

    def show(self, text: Text) -> None:
        """Show ``text``; the pane's size does not depend on it (no layout)."""
        self._text_key = text_key(text)
        self.update(text, layout=False)

    def prepare(self, text: Text) -> None:
        """Render ``text`` ahead at this pane's size, so that showing it later costs no rendering."""
        width, height = self.size
        if width <= 0 or height <= 0:
            return
        key = (text_key(text), width, height, self.visual_style)
        if key not in self._lines:  # as textual's _render_content makes them
            visual = visualize(self, text, markup=self._render_markup)
            self._lines[key] = Visual.to_strips(self, visual, width, height, self.visual_style)

    def prepared(self, text: Text) -> list[Strip] | None:
        """The lines rendered for ``text`` at this pane's size, if they are in the cache."""
        return self._lines.get((text_key(text), *self.size, self.visual_style))

    def _render_content(self) -> None:
        # Textual's Widget._render_content (pinned), from the cache when the text was rendered before.
        if self._text_key is None:
            super()._render_content()
            return
        key = (self._text_key, *self.size, self.visual_style)
        lines = self._lines.get(key)
        if lines is None:
            super()._render_content()
            self._lines[key] = self._render_cache.lines
        else:
            self._render_cache = _RenderCache(self.size, lines)
            self._dirty_regions.clear()

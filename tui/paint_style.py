"""A scroll view whose lines are styled from one look-up of its style per paint."""

from __future__ import annotations

from rich.style import Style
from textual.geometry import Region
from textual.scroll_view import ScrollView
from textual.strip import Strip


class StyledLines(ScrollView):
    """``rich_style`` walks the widget's ancestors' styles each time it is asked for; a paint asks
    once here, and every ``render_line`` of that paint reads ``line_style``."""

    _line_style: Style | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        self._line_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._line_style = None

    @property
    def line_style(self) -> Style:
        """The widget's style: this paint's, or looked up (a line rendered outside a paint)."""
        return self._line_style if self._line_style is not None else self.rich_style

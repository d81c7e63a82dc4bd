"""textual's Footer, greying keys in place, and without its leak.

Stepping through a trace greys and ungreys "Break" at every event that is not a syscall. textual's
Footer recomposes for each such change: ~25 new FooterKeys, a layout of the whole screen and a full
repaint, the costliest part of a key press. When the keys shown are the same and only some turned
on or off, TraceFooter toggles their ``-disabled`` class instead (what compose would give them), so
only those keys repaint, in the same frame as the rest of the key's changes.

The leak: each recompose makes new FooterKeys bound to the footer's ``compact`` reactive, and
textual 8.2 drops the bindings of removed keys only when ``compact`` changes, which it never does
here; ~250 KB of dead keys per recompose stayed reachable for good.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# A shown binding as the footer shows it, its availability apart: (key, display, label, action, tooltip).
KeyShape = tuple[str, str, str, str, str]


class TraceFooter(Footer):
    def __init__(self) -> None:
        super().__init__()
        self._shapes: tuple[KeyShape, ...] | None = None  # the keys the last compose made

    def _current(self, screen: Screen[object]) -> tuple[tuple[KeyShape, ...], tuple[bool, ...]] | None:
        """The keys compose would make now and whether each is enabled; None when they are grouped
        (compose nests grouped keys: left to it)."""
        first: dict[str, tuple[KeyShape, bool]] = {}
        for _node, binding, enabled, tooltip in screen.active_bindings.values():
            if not binding.show:
                continue
            if binding.group is not None:
                return None
            if binding.action not in first:  # compose shows the first binding of each action
                display = self.app.get_key_display(binding)
                shape = (binding.key, display, binding.description, binding.action, tooltip)
                first[binding.action] = (shape, enabled)
        return tuple(s for s, _ in first.values()), tuple(e for _, e in first.values())

    async def recompose(self) -> None:
        await super().recompose()
        current = self._current(self.screen) if self.is_attached else None
        self._shapes = current[0] if current is not None else None
        # textual keeps a reactive's watchers as (node, callback) in the private "__watchers" dict;
        # if a later textual keeps them elsewhere this finds nothing and changes nothing.
        watchers = getattr(self, "__watchers", {}).get("compact")
        if watchers:
            watchers[:] = [(node, callback) for node, callback in watchers if node.is_attached]

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self._shapes is not None and self.is_attached and screen is self.screen and screen.app.app_focus:
            current = self._current(screen)
            keys = list(self.query_children(FooterKey))
            if current is not None and current[0] == self._shapes and len(keys) == len(current[1]):
                for key, enabled in zip(keys, current[1], strict=True):
                    key._disabled = not enabled  # what on_mouse_down reads
                    key.set_class(not enabled, "-disabled")
                return
        super().bindings_changed(screen)

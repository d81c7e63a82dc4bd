"""Keys: which bindings are available at each moment (greyed or hidden otherwise), and the help
screen's list of the keys in force."""

from __future__ import annotations

from collections.abc import Iterator

from boxtrace.tui.app_state import AppState
from boxtrace.tui.screens import HelpScreen

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


class Keys(AppState):
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

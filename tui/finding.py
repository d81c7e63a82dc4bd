"""Finding steps: search the events, filter them by category, set and clear breakpoints."""

from __future__ import annotations

from boxtrace.tracer.events import SyscallEvent
from boxtrace.tui.app_state import AppState
from boxtrace.tui.screens import BreakpointScreen, FilterScreen, SearchScreen


class Finding(AppState):
    def action_search(self) -> None:
        def found(text: str | None) -> None:
            if text is None:
                return
            self.search_text = text
            self.event_list.set_search(text)
            if text:
                if self.mode == "live":
                    self.follow = False
                hit = self.model.search(text, self.cursor, 1)
                self.last_move = ("search", 1)
                if hit is None:
                    self.notify(f"no event matches {text!r}", severity="warning")
                self._go(hit)
            else:
                self._refresh_all()

        self.push_screen(SearchScreen(self.search_text), found)

    def action_filter(self) -> None:
        counts = self.model.category_counts()

        def chosen(categories: frozenset[str] | None) -> None:
            if categories is None:
                return
            self.model.set_filter(categories or None)
            if self.cursor >= 0 and not self.model.visible(self.cursor):
                found = self.model.nearest_visible(self.cursor, 1)
                if found is None:
                    found = self.model.nearest_visible(self.cursor, -1)
                if found is not None:
                    self.cursor = found
            self._refresh_all()

        self.push_screen(FilterScreen(self.model.categories, counts), chosen)

    def action_breakpoint(self) -> None:
        event = self.current_event()
        if not isinstance(event, SyscallEvent):
            return
        active = sorted(self.break_names) + [f"{c}/*" for c in sorted(self.break_categories)]

        def chosen(choice: str | None) -> None:
            if choice is None:
                return
            if choice == "clear":
                self.break_names.clear()
                self.break_categories.clear()
            elif choice.startswith("name:"):
                self.break_names ^= {choice[5:]}
            elif choice.startswith("category:"):
                self.break_categories ^= {choice[9:]}
            self.apply_breakpoints()

        self.push_screen(BreakpointScreen(event.name, event.category_name, active), chosen)

    def apply_breakpoints(self) -> None:
        if self.steering is not None and not self.ended:
            self.steering.set_breakpoints(set(self.break_names), set(self.break_categories))
        self.event_list.set_breakpoints(frozenset(self.break_names), frozenset(self.break_categories))
        self._refresh_all(scroll=False)

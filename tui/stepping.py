"""Stepping: one step forward or back, run to a breakpoint, pause, the presenter's auto-advance,
phase jumps, browsing, and quitting (which stops a live trace first).

Live, a step lets the held call run and holds the next one (the session steers the tracee); in a
replay, steps move a cursor through the recorded events, backward too.
"""

from __future__ import annotations

from boxtrace.tui.app_state import AppState
from boxtrace.tui.event_list import EventList


class Stepping(AppState):
    def action_step(self) -> None:
        if self.mode == "live":
            if self.steering is None or self.ended:
                return
            self.follow = True
            if self.held >= 0:
                self.steering.step()  # let the held call run; hold again at the next one
            else:
                self.steering.pause()  # running: hold at the next traced call
            return
        self.last_move = ("step", 1)
        self._go(self._next_visible(1))

    def action_step_back(self) -> None:
        if self.mode == "live":
            self.follow = False
        self.last_move = ("step", -1)
        self._go(self._next_visible(-1))

    def action_resume(self) -> None:
        if self.options.present:
            self._set_auto(True)
            return
        if self.mode == "live":
            if self.steering is not None and not self.ended:
                self.follow = True
                self.steering.resume()
            return
        # Replay: run to the next breakpoint, like a live trace does, or to the end.
        names, cats = frozenset(self.break_names), frozenset(self.break_categories)
        i = self._next_visible(1)
        while i is not None:
            if (names or cats) and self.model.matches_at(i, names, cats):
                break
            nxt = self.model.nearest_visible(i + 1, 1) if i + 1 < len(self.model) else None
            if nxt is None:
                break
            i = nxt
        self._go(i)

    def action_pause(self) -> None:
        if self.options.present:
            self._set_auto(False)
            return
        if self.mode == "live" and self.steering is not None and not self.ended:
            self.steering.pause()

    def action_pace(self, delta: float) -> None:
        self.pace = max(0.5, min(30.0, self.pace + delta))
        if self.auto:
            self._set_auto(True)
        self._refresh_all(scroll=False)

    def _set_auto(self, on: bool) -> None:
        if self._auto_timer is not None:
            self._auto_timer.stop()
            self._auto_timer = None
        self.auto = on
        self._auto_run += 1
        if on:
            run = self._auto_run
            self._auto_timer = self.set_interval(self.pace, lambda: self._auto_tick(run))
        self._refresh_all(scroll=False)

    def _auto_tick(self, run: int) -> None:
        # A stopped timer can still tick once: Timer.stop() only cancels the timer's task, and when
        # the timer runs late (a busy machine) textual's sleep returns without yielding, so the
        # task calls its callback again before it sees the cancel. Such a tick, after a breakpoint
        # stopped auto-advance (or after a pace change made a new timer), must not step.
        if run != self._auto_run or not self.auto:
            return
        if self.mode == "live":
            if self.ended:
                self._set_auto(False)
            elif self.held >= 0 and self.steering is not None:
                self.steering.step()
            return
        nxt = self._next_visible(1)
        if nxt is None:
            self._set_auto(False)
            return
        self._go(nxt)
        lesson = frozenset(self.options.break_names), frozenset(self.options.break_categories)
        if self.model.matches_at(nxt, *lesson) or self.model.matches_at(
            nxt, frozenset(self.break_names), frozenset(self.break_categories)
        ):
            self._set_auto(False)

    def action_phase(self, direction: int) -> None:
        if self.mode == "live":
            self.follow = False
        start = self.cursor if self.cursor >= 0 else -1
        self.last_move = ("phase", direction)
        self._go(self.model.next_phase(start, direction))

    def on_event_list_moved(self, message: EventList.Moved) -> None:
        self.select_event(message.index, message.to_end)

    def select_event(self, index: int, to_end: bool = False) -> None:
        """The user browsed to event ``index`` (arrows, page keys, a click)."""
        if self.mode == "live":
            self.follow = to_end
            if to_end and self.held >= 0:
                index = self.held
        self.last_move = self.event_list.move
        self.cursor = index
        self._refresh_all()

    async def action_quit(self) -> None:
        if self.mode == "live" and self.steering is not None and not self.ended:
            if self.quitting:
                self.steering.stop(force=True)  # asked twice: kill every traced process now
                return
            self.quitting = True
            self._set_auto(False)
            self.steering.stop()  # SIGTERM to the root: the runtime removes its container
            self.set_timer(self.options.grace + 3.0, self._give_up)
            self._refresh_all(scroll=False)
            return
        self.exit(self.result.exit_code if self.result is not None else 0)

    def _give_up(self) -> None:
        if self.steering is not None:
            self.steering.stop(force=True)
        self.exit(130)

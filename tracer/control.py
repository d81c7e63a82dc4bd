"""Steering state shared by the engine thread and the consumers: pause, step, breakpoints, stop.

The engine asks :meth:`Control.hold_reason` at each reported syscall entry; that is a few attribute
reads when nothing is asked, so consumers never slow the loop down. Only when a hold is due does the
engine block in :meth:`Control.wait_release`, with the tracee stopped at syscall entry.
"""

from __future__ import annotations

import _thread

from boxtrace.tracer.events import SyscallEvent
from boxtrace.tracer.lean import Event


class Control:
    def __init__(self) -> None:
        # A lock and an event, not threading.Condition: threading costs ~10 M instructions of every
        # start (tracer/lean.py). Waking is: change the state under the lock, then set the event.
        self._lock = _thread.allocate_lock()
        self._changed = Event()
        self._pause_next = False  # hold at the next reported syscall entry (pause or step)
        self._pause_reason = "pause"
        self._held = False
        self._release_gen = 0
        self.stopping = False
        self.break_names: frozenset[str] = frozenset()
        self.break_categories: frozenset[str] = frozenset()
        self._any_breakpoint = False

    # ---- engine side ----

    def hold_reason(self, event: SyscallEvent) -> str | None:
        if self.stopping:
            return None
        if self._pause_next:
            return self._pause_reason
        if self._any_breakpoint and (
            event.name in self.break_names or event.category_name in self.break_categories
        ):
            return "breakpoint"
        return None

    def wait_release(self) -> None:
        """Block the engine until a consumer steps, continues or stops."""
        with self._lock:
            self._pause_next = False
            self._held = True
            gen = self._release_gen
        while True:
            with self._lock:
                if self._release_gen != gen or self.stopping:
                    self._held = False
                    return
                self._changed.clear()  # under the lock: a change made after this check sets it again
            self._changed.wait()

    # ---- consumer side (any thread) ----

    @property
    def held(self) -> bool:
        return self._held

    def pause(self) -> None:
        """Hold at the next reported syscall entry."""
        with self._lock:
            self._pause_next = True
            self._pause_reason = "pause"

    def step(self) -> None:
        """Let the held call run and hold again at the next reported syscall entry."""
        with self._lock:
            self._pause_next = True
            self._pause_reason = "step"
            self._release_gen += 1
            self._changed.set()

    def resume(self) -> None:
        """Let the held call run and go on until a breakpoint or pause."""
        with self._lock:
            self._pause_next = False
            self._release_gen += 1
            self._changed.set()

    def set_breakpoints(
        self, names: set[str] | frozenset[str], categories: set[str] | frozenset[str]
    ) -> None:
        with self._lock:
            self.break_names = frozenset(names)
            self.break_categories = frozenset(categories)
            self._any_breakpoint = bool(self.break_names or self.break_categories)

    def request_stop(self) -> None:
        with self._lock:
            self.stopping = True
            self._pause_next = False
            self._changed.set()

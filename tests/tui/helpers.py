"""What the TUI tests share: the recorded trace, the messages a tracer thread sends for it, and a
steering double that records what the app asks of the session (memray's reporter tests feed their
app the worker thread's messages the same way)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from boxtrace.lessons.diff import TraceDiff, diff_traces
from boxtrace.lessons.model import Explanation
from boxtrace.tracer.events import Event, SyscallEvent, TraceHeader
from boxtrace.tracer.messages import (
    Ended,
    Held,
    Message,
    ProcessEvent,
    Resumed,
    Started,
    SyscallEntered,
    SyscallFinished,
    TraceResult,
)
from boxtrace.tracer.tracefile import read_trace

TRACE = Path(__file__).parent / "data" / "container-start.jsonl"


def recorded() -> tuple[TraceHeader, list[Event]]:
    """A real `boxtrace run -- sh -c 'echo CONTAINER-RAN'` trace, recorded as root."""
    return read_trace(str(TRACE))


def messages_for(event: Event, hold: str | None = None) -> list[Message]:
    """The messages the engine emits for one event: entry (and a hold), then the finish."""
    if not isinstance(event, SyscallEvent):
        return [ProcessEvent(event)]
    entry = copy.copy(event)
    entry.result = entry.result_text = entry.errno = None
    out: list[Message] = [SyscallEntered(entry)]
    if hold is not None:
        out += [Held(entry, hold), Resumed()]
    out.append(SyscallFinished(event))
    return out


def result(code: int = 0, events: int = 0, error: str | None = None) -> TraceResult:
    return TraceResult(
        exit_status=code, signal=None, exit_code=code, mode="filtered", events=events, stops=0, error=error
    )


def started(header: TraceHeader, pid: int = 7130) -> Started:
    return Started(header, pid)


def ended(code: int = 0, events: int = 0, error: str | None = None) -> Ended:
    return Ended(result(code, events, error))


class FakeSteering:
    """Stands in for TraceSession: records calls; no process, no ptrace."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.breakpoints: tuple[set[str], set[str]] = (set(), set())

    def step(self) -> None:
        self.calls.append("step")

    def resume(self) -> None:
        self.calls.append("resume")

    def pause(self) -> None:
        self.calls.append("pause")

    def set_breakpoints(self, names: set[str], categories: set[str]) -> None:
        self.calls.append("breakpoints")
        self.breakpoints = (set(names), set(categories))

    def stop(self, force: bool = False) -> None:
        self.calls.append("stop!" if force else "stop")


def fixed_explanation(event: Event) -> Explanation:
    """A stand-in for the catalogue in snapshot tests: catalogue edits must not change them."""
    name = getattr(event, "name", event.kind)
    return Explanation(
        title=f"About {name}",
        what=f"What `{name}` does.",
        why="Why a runtime does it.",
        without="What would break.",
        man=(f"{name}(2)",),
        runtimes="What runc does here.",
    )


def recorded_syscalls() -> tuple[TraceHeader, list[SyscallEvent]]:
    header, events = recorded()
    return header, [e for e in events if isinstance(e, SyscallEvent)]


# The diff view's pictures: boxtrace's runtime (the recorded container start) against `runc run`,
# shown under the paths the repository has (not this checkout's absolute ones).
DIFF_SOURCES = ("tests/tui/data/container-start.jsonl", "tests/lessons/data/runc-run.jsonl")


def recorded_diff() -> TraceDiff:
    root = Path(__file__).resolve().parents[2]
    a, b = (read_trace(str(root / source)) for source in DIFF_SOURCES)
    return diff_traces(a, b)


async def to_first_change_of(pilot: Pilot[Any], a: str, b: str) -> None:
    """Press `n` (next difference) until the selected pair is syscall ``a`` beside syscall ``b``."""
    from boxtrace.tui.diff_screen import DiffList

    listing = pilot.app.screen.query_one(DiffList)
    for _ in range(len(listing.lines)):
        row = listing.row()
        names = (
            (getattr(row.a.event, "name", ""), getattr(row.b.event, "name", ""))
            if row and row.a and row.b
            else ()
        )
        if names == (a, b):
            return
        await pilot.press("n")
    raise AssertionError(f"no pair {a} / {b} in the diff")

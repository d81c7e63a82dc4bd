"""What a caller (``boxtrace run``, ``replay``, ``serve``, ``lessons run``) can tell the TUI. No textual."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from boxtrace.tracer.events import Event, TraceHeader

# (format, header, events, path) -> None; raises OSError/ValueError with a message for the user. The
# events of a replayed file are read from it again as the exporter iterates (a Sequence, not a list).
Exporter = Callable[[str, TraceHeader, Sequence[Event], str], None]


@dataclass(slots=True)
class TuiOptions:
    title: str = "boxtrace"
    step: bool = False  # live: start held before the first traced syscall
    present: bool = False  # presenter mode: larger, calmer, auto-advancing
    pace: float = 3.0  # presenter auto-advance: seconds per step
    break_names: frozenset[str] = frozenset()  # breakpoints (a lesson's syscalls)
    break_categories: frozenset[str] = frozenset()
    intro: str = ""  # Markdown shown before the first event (a lesson's text)
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys, e.g. {"step": "j"}
    exporter: Exporter | None = None  # the CLI's exporters; None: only the trace file format
    export_formats: tuple[str, ...] = ()
    grace: float = 5.0  # live: seconds a stopped runtime gets to clean up before SIGKILL

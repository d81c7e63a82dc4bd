"""What the annotated exports (md, html, json, perfetto) share: each event with its explanation and phase.

The catalogue (``boxtrace.lessons.explain``) and the phase classifier (``boxtrace.lessons.phases``) are
looked up when an export starts. If either is missing (an install without the catalogue, or while it is
being written) events still export, with a generic explanation marked ``fallback`` and phases guessed
from the event's category, so that an export never fails for want of prose.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from boxtrace.lessons.model import PHASES, Explanation
from boxtrace.tracer.events import Event, ExecEvent, ExitEvent, OutputEvent, SpawnEvent, SyscallEvent

Explain = Callable[[Event], Explanation]
Classify = Callable[[Event], str]


@dataclass(slots=True)
class Annotated:
    """One event of an export with what the lessons package says about it."""

    event: Event
    explanation: Explanation
    phase: str


# Used only when the phase classifier is not installed: a rough chapter from the event's category.
_CATEGORY_PHASE: dict[str, str] = {
    "cgroup": "cgroups",
    "namespace": "namespaces",
    "idmap": "user mapping",
    "mount": "filesystem",
    "device": "filesystem",
    "identity": "identity and hardening",
    "security": "identity and hardening",
    "exec": "exec",
}


def _generic(event: Event) -> Explanation:
    kind = event.name if isinstance(event, SyscallEvent) else event.kind
    return Explanation(
        title=kind,
        what=f"`{kind}`: no catalogue entry is available for this event.",
        why="",
        without="",
        man=(f"{kind}(2)",) if isinstance(event, SyscallEvent) else (),
        runtimes="",
        fallback=True,
    )


def load_explain() -> Explain:
    """``boxtrace.lessons.explain.explain``, or a generic fallback when the catalogue is not there."""
    try:
        module = importlib.import_module("boxtrace.lessons.explain")
    except ImportError:
        return _generic
    func: Explain | None = getattr(module, "explain", None)
    return func if func is not None else _generic


class _CategoryPhases:
    """Fallback classifier: the category's chapter; after the exec, process events are "run"."""

    def __init__(self) -> None:
        self.current = "prepare"

    def __call__(self, event: Event) -> str:
        if isinstance(event, SyscallEvent):
            phase = _CATEGORY_PHASE.get(event.category_name)
            if phase is not None:
                self.current = "run" if phase == "exec" else phase
                return phase
        return self.current


def load_classifier() -> Classify:
    """A fresh per-trace phase classifier, fed the events in order (``PhaseTracker.phase``).

    One object per export: the phase of an event depends on what came before it (a mount is
    "prepare" on the host and "filesystem" inside the new mount namespace).
    """
    try:
        module = importlib.import_module("boxtrace.lessons.phases")
    except ImportError:
        return _CategoryPhases()
    tracker = module.PhaseTracker()
    classify: Classify = tracker.phase
    return classify


def annotate(
    events: Iterable[Event],
    explain: Explain | None = None,
    classify: Classify | None = None,
) -> Iterator[Annotated]:
    """Each event with its explanation and phase, lazily (exports stream, a trace can be large)."""
    explain = explain if explain is not None else load_explain()
    classify = classify if classify is not None else load_classifier()
    for event in events:
        phase = classify(event)
        if phase not in PHASES:
            phase = "run"
        yield Annotated(event, explain(event), phase)


_describer: Callable[[Event], str] | None = None


def describe(event: Event) -> str:
    """The event as one plain line, as ``boxtrace trace`` prints it (``mount("proc", ...) = 0``)."""
    global _describer
    if _describer is None:
        from boxtrace.console import PlainPrinter

        _describer = PlainPrinter(out=io.StringIO(), err=io.StringIO(), color=False).describe
    return _describer(event)


def process_label(event: Event) -> str:
    """``comm[pid]``, with the pid inside its namespace when it differs: ``sh[24363] (pid 1 inside)``."""
    inner = f" (pid {event.nspid[-1]} inside)" if event.nspid and len(event.nspid) > 1 else ""
    return f"{event.comm}[{event.pid}]{inner}"


def explanation_json(ex: Explanation) -> dict[str, Any]:
    """The ``explanation`` object of the json export (docs/trace-format.md, "Annotated export")."""
    return {
        "title": ex.title,
        "text": explanation_text(ex),
        "what": ex.what,
        "why": ex.why,
        "without": ex.without,
        "man": list(ex.man),
        "runtimes": ex.runtimes,
        "flags": [{"name": f.name, "meaning": f.meaning, "entry": f.entry} for f in ex.flags],
        "result": ex.result,
        "entries": list(ex.entries),
        "fallback": ex.fallback,
    }


def explanation_text(ex: Explanation) -> str:
    """The explanation's prose as one Markdown text: what, why, without it, the result."""
    parts = [ex.what]
    if ex.why:
        parts.append(f"**Why:** {ex.why}")
    if ex.without:
        parts.append(f"**Without it:** {ex.without}")
    if ex.result:
        parts.append(f"**Result:** {ex.result}")
    return "\n\n".join(p for p in parts if p)


def event_kind_name(event: Event) -> str:
    """The name a slice or heading shows: the syscall's name, or the process event's kind."""
    if isinstance(event, SyscallEvent):
        return event.name
    if isinstance(event, ExecEvent):
        return "exec"
    if isinstance(event, SpawnEvent):
        return event.how
    if isinstance(event, ExitEvent):
        return "exit"
    if isinstance(event, OutputEvent):
        return event.stream
    return event.kind

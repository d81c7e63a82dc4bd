"""Each event of a trace with its chapter (phase) and its explanation from the lessons catalogue.

One Annotator per trace, fed the events in order: used by the plain console printer, the annotated
exports and the lessons runner alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from boxtrace.lessons.explain import explain as catalogue_explain
from boxtrace.lessons.model import PHASES, Explanation
from boxtrace.lessons.phases import PhaseTracker
from boxtrace.tracer.events import Event, SyscallEvent

Explain = Callable[[Event], Explanation]
Classify = Callable[[Event], str]


@dataclass(slots=True)
class Annotated:
    """One event of an export with what the lessons package says about it."""

    event: Event
    explanation: Explanation
    phase: str


class Annotator:
    """Phase and explanation of each event of one trace, fed in trace order.

    The phase depends on the events before it, so there is one Annotator per trace. Explanations
    are memoised per call signature for the life of the annotator: a container start repeats the
    same calls (30 PR_CAPBSET_DROPs, a mount per masked path), and a 100,000-event export would
    otherwise spend most of its time building the same Explanation again.
    """

    def __init__(self, explain: Explain | None = None, classify: Classify | None = None) -> None:
        self._explain = explain if explain is not None else catalogue_explain
        self._classify = classify if classify is not None else PhaseTracker().phase
        self._memo: dict[tuple[object, ...], Explanation] = {}

    def phase(self, event: Event) -> str:
        phase = self._classify(event)
        return phase if phase in PHASES else "run"

    def explain(self, event: Event) -> Explanation:
        if not isinstance(event, SyscallEvent):
            return self._explain(event)
        key = _signature(event)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._explain(event)
        return found


def _signature(ev: SyscallEvent) -> tuple[object, ...]:
    """Everything of a syscall event that its explanation can depend on (not its time or pid)."""
    return (
        ev.name,
        tuple(a.text for a in ev.args),
        ev.result_text,
        ev.errno,
        # str, not a sorted repr: a decoder fills detail in a fixed order, and this runs per event
        str(ev.detail) if ev.detail else "",
        tuple(ev.ns_changed),
    )


def annotate(
    events: Iterable[Event],
    explain: Explain | None = None,
    classify: Classify | None = None,
) -> Iterator[Annotated]:
    """Each event with its explanation and phase, lazily (exports stream, a trace can be large)."""
    annotator = Annotator(explain, classify)
    for event in events:
        phase = annotator.phase(event)
        yield Annotated(event, annotator.explain(event), phase)

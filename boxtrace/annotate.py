"""Each event of a trace with its chapter (phase) and its explanation from the lessons catalogue.

One Annotator per trace, fed the events in order: used by the plain console printer, the annotated
exports and the lessons runner alike.
"""

from __future__ import annotations

from marshal import dumps as _marshal

from boxtrace.lessons.explain import explain as catalogue_explain
from boxtrace.lessons.model import PHASES, Explanation
from boxtrace.lessons.phases import PhaseTracker
from boxtrace.tracer.events import Event, SyscallEvent
from boxtrace.tracer.plain import Plain

# The console printer loads this module at a trace's first event, on the session's delivery thread:
# no dataclasses or typing here (docs/benchmarks.md, "Start-up"). The two aliases exist for type
# checkers only: import them under TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    Explain = Callable[[Event], Explanation]
    Classify = Callable[[Event], str]


class Annotated(Plain):
    """One event of an export with what the lessons package says about it."""

    __slots__ = ("event", "explanation", "phase", "source")
    event: Event
    explanation: Explanation
    phase: str
    # The event's JSON text as the trace file has it, where it was kept (the json export copies it).
    source: str | None

    def __init__(self, event: Event, explanation: Explanation, phase: str, source: str | None = None) -> None:
        self.event = event
        self.explanation = explanation
        self.phase = phase
        self.source = source


class Annotator:
    """Phase and explanation of each event of one trace, fed in trace order.

    The phase depends on the events before it, so there is one Annotator per trace. Explanations
    are memoised per call signature for the life of the annotator: a container start repeats the
    same calls (30 PR_CAPBSET_DROPs, a mount per masked path), and a 100,000-event export would
    otherwise spend most of its time building the same Explanation again. Equal explanations are
    handed out as one object: what an exporter renders from one it can cache by ``id``.
    """

    def __init__(self, explain: Explain | None = None, classify: Classify | None = None) -> None:
        self._explain = explain if explain is not None else catalogue_explain
        self._classify = classify if classify is not None else PhaseTracker().phase
        self._memo: dict[tuple[object, ...], Explanation] = {}
        # One object per distinct explanation, so that consumers can cache what they make of an
        # explanation by its identity (hashing a frozen Explanation walks all its fields).
        self._interned: dict[Explanation, Explanation] = {}

    def phase(self, event: Event) -> str:
        phase = self._classify(event)
        return phase if phase in _PHASES else "run"

    def explain(self, event: Event) -> Explanation:
        if not isinstance(event, SyscallEvent):
            # Process events are explained with their facts (the child's pid...), so they are not
            # memoised; equal explanations (every "exited with 0") still come out as one object.
            ex = self._explain(event)
            return self._interned.setdefault(ex, ex)
        key = _signature(event)
        found = self._memo.get(key)
        if found is None:
            ex = self._explain(event)
            found = self._memo[key] = self._interned.setdefault(ex, ex)
        return found


_PHASES = frozenset(PHASES)


def _signature(ev: SyscallEvent) -> tuple[object, ...]:
    """Everything of a syscall event that its explanation can depend on (not its time or pid).

    One flat tuple, the argument texts last: it is built for every event of an export. The new
    namespaces' inode numbers are in it because the explanation quotes them.
    """
    detail = ev.detail
    if detail:
        # marshal, not str: a third of the cost, and as exact (it tells 1 from True and 1.0, keeps
        # the order a decoder filled the dict in). It may tell apart more than str would (a string
        # shared with another object is written as a reference): that only costs a memo miss.
        try:
            facts: bytes | str = _marshal(detail)
        except ValueError:  # something marshal cannot write (an event built by hand)
            facts = str(detail)
    else:
        facts = ""
    ns_changed = ev.ns_changed
    return (
        ev.name,
        ev.category_name,
        ev.result_text,
        ev.errno,
        facts,
        tuple(ns_changed.items()) if ns_changed else (),
        *[a.text for a in ev.args],
    )


def annotate(
    events: Iterable[Event],
    explain: Explain | None = None,
    classify: Classify | None = None,
) -> Iterator[Annotated]:
    """Each event with its explanation and phase, lazily (exports stream, a trace can be large)."""
    annotator = Annotator(explain, classify)
    phase_of = annotator.phase
    explain_one = annotator.explain
    for event in events:
        phase = phase_of(event)
        yield Annotated(event, explain_one(event), phase)

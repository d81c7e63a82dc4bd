"""Annotated JSON: ``{"header": ..., "events": [...]}``, each event as in the trace file plus its
``phase`` and ``explanation`` (docs/trace-format.md, "Annotated JSON export").

Written as a stream, one event per line inside the array, so a large trace never sits in memory as
one string and the file still diffs line by line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import TYPE_CHECKING, TextIO

from boxtrace.exporters.annotate import (
    Annotated,
    Annotator,
    explanation_json,
    json_text,
    write_parts,
)
from boxtrace.lessons.model import Explanation
from boxtrace.tracer.events import Event, TraceHeader
from boxtrace.tracer.tracefile import TraceReader

if TYPE_CHECKING:
    from boxtrace.annotate import Classify, Explain

DESCRIPTION = "JSON document: header and events, each with its phase and explanation"

FORMAT = "boxtrace-annotated"
VERSION = "1.0"

# Events gathered before one write: a few large writes instead of one per event.
_CHUNK = 32


def export(
    header: TraceHeader,
    events: Iterable[Event],
    out: TextIO,
    explain: Explain | None = None,
    classify: Classify | None = None,
) -> None:
    write_head(header, out)
    annotator = Annotator(explain, classify)
    phase_of, explain_of = annotator.phase, annotator.explain
    # Read from a trace file, each event comes with its object's text: that is the event "as in the
    # trace file", copied rather than encoded again (encoding is most of the cost of this export).
    records = events.records() if isinstance(events, TraceReader) else zip(events, repeat(None))
    _Events().write(((e, phase_of(e), explain_of(e), s) for e, s in records), out)
    write_tail(out)


def write_head(header: TraceHeader, out: TextIO) -> None:
    head = header.to_json()
    out.write(f'{{"format":"{FORMAT}","version":"{VERSION}","header":{json_text(head)},"events":[')


def write_tail(out: TextIO) -> None:
    out.write("\n]}\n")


class _Events:
    """The events' lines: each event's text with its phase and explanation added."""

    def __init__(self, sep: str = "\n") -> None:
        self.sep = sep  # what goes before the next event: a newline first, then a comma too
        # Explanations repeat (the annotator hands out one object per distinct explanation): encode
        # each once, with the phase before it. Keyed by identity, holding the object so that its id
        # cannot be reused while the export runs.
        self._tails: dict[tuple[int, str], tuple[Explanation, str]] = {}

    def write(self, annotated: Iterable[tuple[Event, str, Explanation, str | None]], out: TextIO) -> None:
        """Write ``(event, phase, explanation, its text in the file or None)`` for each event."""
        tails = self._tails
        parts: list[str] = []
        sep = self.sep
        for event, phase, ex, source in annotated:
            hit = tails.get((id(ex), phase))
            if hit is None:
                tail = f',"phase":{json_text(phase)},"explanation":{json_text(explanation_json(ex))}}}'
                hit = tails[(id(ex), phase)] = (ex, tail)
            body = source if source is not None else json_text(event.to_json())
            parts.append(f"{sep}{body[:-1]}{hit[1]}")
            sep = ",\n"
            if len(parts) >= _CHUNK:
                write_parts(out.write, parts)
                parts.clear()
        self.sep = sep
        write_parts(out.write, parts)


class Halves:
    """The document in two halves (``boxtrace.exporters.split``): each event's line depends only on
    its phase and explanation, and the second half's first line on whether the first wrote any."""

    keeps_sources = True
    max_bytes: int | None = 256 << 20  # ~450,000 events; one process streams any size

    def hand_over(self, first: list[Annotated]) -> bool:
        return bool(first)

    def render_first(self, header: TraceHeader, first: list[Annotated], out: TextIO) -> None:
        write_head(header, out)
        _Events().write(((a.event, a.phase, a.explanation, a.source) for a in first), out)

    def tally(self, second: list[Annotated]) -> None:
        return None  # the first half is written as it is rendered

    def write_first(self, header: TraceHeader, tally: None, out: TextIO) -> None:
        pass

    def render_second(self, state: bool, second: list[Annotated], out: TextIO) -> None:
        events = _Events(",\n" if state else "\n")
        events.write(((a.event, a.phase, a.explanation, a.source) for a in second), out)

    def finish(self, header: TraceHeader, second: None, out: TextIO, copy_second: Callable[[], None]) -> None:
        copy_second()
        write_tail(out)


def load(text: str) -> tuple[TraceHeader, list[Event]]:
    """Read an annotated JSON export back into the header and events (the explanations are dropped)."""
    from boxtrace.tracer.events import event_from_json
    from boxtrace.tracer.tracefile import header_from_json

    data = json.loads(text)
    return header_from_json(data["header"], "<json export>"), [event_from_json(e) for e in data["events"]]

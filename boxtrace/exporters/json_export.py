"""Annotated JSON: ``{"header": ..., "events": [...]}``, each event as in the trace file plus its
``phase`` and ``explanation`` (docs/trace-format.md, "Annotated JSON export").

Written as a stream, one event per line inside the array, so a large trace never sits in memory as
one string and the file still diffs line by line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import repeat
from typing import TextIO

from boxtrace.exporters.annotate import Annotator, Classify, Explain, explanation_json, json_text
from boxtrace.lessons.model import Explanation
from boxtrace.tracer.events import Event, TraceHeader
from boxtrace.tracer.tracefile import TraceReader

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
    head = header.to_json()
    out.write(f'{{"format":"{FORMAT}","version":"{VERSION}","header":{json_text(head)},"events":[')
    annotator = Annotator(explain, classify)
    phase_of, explain_of = annotator.phase, annotator.explain
    # Read from a trace file, each event comes with its object's text: that is the event "as in the
    # trace file", copied rather than encoded again (encoding is most of the cost of this export).
    records = events.records() if isinstance(events, TraceReader) else zip(events, repeat(None))
    # Explanations repeat (the annotator hands out one object per distinct explanation): encode each
    # once, with the phase before it. Keyed by identity, holding the object so that its id cannot be
    # reused while the export runs.
    tails: dict[tuple[int, str], tuple[Explanation, str]] = {}
    parts: list[str] = []
    sep = "\n"
    for event, source in records:
        phase = phase_of(event)
        ex = explain_of(event)
        hit = tails.get((id(ex), phase))
        if hit is None:
            tail = f',"phase":{json_text(phase)},"explanation":{json_text(explanation_json(ex))}}}'
            hit = tails[(id(ex), phase)] = (ex, tail)
        body = source if source is not None else json_text(event.to_json())
        parts.append(f"{sep}{body[:-1]}{hit[1]}")
        sep = ",\n"
        if len(parts) >= _CHUNK:
            out.write("".join(parts))
            parts.clear()
    parts.append("\n]}\n")
    out.write("".join(parts))


def load(text: str) -> tuple[TraceHeader, list[Event]]:
    """Read an annotated JSON export back into the header and events (the explanations are dropped)."""
    from boxtrace.tracer.events import event_from_json
    from boxtrace.tracer.tracefile import header_from_json

    data = json.loads(text)
    return header_from_json(data["header"], "<json export>"), [event_from_json(e) for e in data["events"]]

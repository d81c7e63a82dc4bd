"""Annotated JSON: ``{"header": ..., "events": [...]}``, each event as in the trace file plus its
``phase`` and ``explanation`` (docs/trace-format.md, "Annotated JSON export").

Written as a stream, one event per line inside the array, so a large trace never sits in memory as
one string and the file still diffs line by line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from boxtrace.exporters.annotate import Classify, Explain, annotate, explanation_json
from boxtrace.lessons.model import Explanation
from boxtrace.tracer.events import Event, TraceHeader

DESCRIPTION = "JSON document: header and events, each with its phase and explanation"

FORMAT = "boxtrace-annotated"
VERSION = "1.0"

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _text(obj: dict[str, Any]) -> str:
    # Undecodable bytes read from a tracee are surrogate escapes: write them as \udcXX, like trace files.
    text = _encode(obj)
    # Almost every line is ASCII; only others can hold surrogate escapes from undecodable tracee bytes.
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def export(
    header: TraceHeader,
    events: Iterable[Event],
    out: TextIO,
    explain: Explain | None = None,
    classify: Classify | None = None,
) -> None:
    head = header.to_json()
    out.write(f'{{"format":"{FORMAT}","version":"{VERSION}","header":{_text(head)},"events":[')
    # Explanations repeat (the annotator hands out one object per distinct call): encode each once.
    # Keyed by id, holding the object so that its id cannot be reused while the export runs.
    cache: dict[int, tuple[Explanation, str]] = {}
    sep = "\n"
    for a in annotate(events, explain, classify):
        ex = a.explanation
        hit = cache.get(id(ex))
        if hit is None:
            hit = cache[id(ex)] = (ex, _text(explanation_json(ex)))
        encoded = hit[1]
        body = _text(a.event.to_json())
        out.write(f'{sep}{body[:-1]},"phase":{_encode(a.phase)},"explanation":{encoded}}}')
        sep = ",\n"
    out.write("\n]}\n")


def load(text: str) -> tuple[TraceHeader, list[Event]]:
    """Read an annotated JSON export back into the header and events (the explanations are dropped)."""
    from boxtrace.tracer.events import event_from_json
    from boxtrace.tracer.tracefile import header_from_json

    data = json.loads(text)
    return header_from_json(data["header"], "<json export>"), [event_from_json(e) for e in data["events"]]

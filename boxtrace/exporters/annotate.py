"""What the annotated exports (md, html, json, perfetto) share: plain event lines, labels, and the
explanation as JSON or Markdown. Pairing events with explanations and phases is ``boxtrace.annotate``."""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring
from typing import Any

from boxtrace.annotate import Annotated, Annotator, annotate
from boxtrace.lessons.model import Explanation
from boxtrace.tracer.events import Event, ExecEvent, ExitEvent, OutputEvent, SpawnEvent, SyscallEvent

__all__ = [
    "Annotated",
    "Annotator",
    "annotate",
    "describe",
    "explanation_json",
    "json_text",
    "write_parts",
]


@functools.cache
def plain_describer() -> Callable[[Event], str]:
    """``describe`` itself, for loops over a whole trace (one call less per event)."""
    from boxtrace.console import PlainPrinter

    return PlainPrinter(out=io.StringIO(), err=io.StringIO(), color=False, explain=False).describe


# json's C encoder factory (typeshed does not list it); None on a Python built without _json.
c_make_encoder: Callable[..., Callable[[Any, int], Iterable[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)


def _compact_encoder() -> Callable[[Any, int], Iterable[str]]:
    """``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))`` in pieces, minus its overhead.

    json's C encoder, made once and called directly: JSONEncoder.encode builds a new one for every
    call and checks for cycles, a fifth of the cost of encoding one trace event. Same output.
    """
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
    if c_make_encoder is None:  # a Python without the _json accelerator
        return lambda obj, _level: (encoder.encode(obj),)
    return c_make_encoder(None, encoder.default, encode_basestring, None, ":", ",", False, False, True)


_encode_pieces = _compact_encoder()
_join = "".join


def json_text(obj: Any) -> str:
    """``obj`` as compact JSON, as trace files write it: non-ASCII kept, but the surrogate escapes of
    undecodable tracee bytes written as ``\\udcXX``."""
    text = _join(_encode_pieces(obj, 0))
    # Almost every line is ASCII; only others can hold surrogate escapes.
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def write_parts(write: Callable[[str], object], parts: list[str]) -> None:
    """Write ``parts`` in order: ASCII ones joined in runs, any other one alone.

    One character beyond ASCII (a spawn's "→", an output line's "│") makes a whole joined string
    one of two bytes a character, which costs several times as much to join and to encode; in a
    large export nearly every chunk has one.
    """
    start = 0
    for i, part in enumerate(parts):
        if not part.isascii():
            if i > start:
                write("".join(parts[start:i]))
            write(part)
            start = i + 1
    if start < len(parts):
        write("".join(parts[start:]) if start else "".join(parts))


def describe(event: Event) -> str:
    """The event as one plain line, as ``boxtrace trace`` prints it (``mount("proc", ...) = 0``)."""
    return plain_describer()(event)


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

"""Hypothesis strategies for trace files: arbitrary bytes, and mutations of a real recording."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import strategies as st

REAL_TRACE = Path(__file__).resolve().parent.parent / "lessons" / "data" / "runc-run.jsonl"
# A prefix of a real runc run: every kind of event, small enough to export quickly many times.
REAL_LINES: list[bytes] = REAL_TRACE.read_bytes().splitlines(keepends=True)[:60]

# JSON values of every type, including those that break a naive reader: huge integers, floats
# out of range, deep nesting, lone surrogates.
HOSTILE_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**30, -(10**30), 10**400, 2**63, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "\udcff", "syscall", "header", "mount", "1.0", "2.0", "x" * 5000]),
)
JSON_VALUES = st.recursive(
    HOSTILE_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


@st.composite
def mutated_trace(draw: st.DrawFn) -> bytes:
    """A real trace with one to four mutations: a field given a value of another type (or removed),
    lines swapped, dropped or duplicated, a byte flipped, the file cut, text inserted."""
    lines = list(REAL_LINES)
    for _ in range(draw(st.integers(1, 4))):
        how = draw(
            st.sampled_from(["field", "drop-field", "swap", "drop", "dup", "flip", "cut", "insert", "nest"])
        )
        at = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if how in ("field", "drop-field") and lines:
            try:
                obj = json.loads(lines[at])
            except (ValueError, RecursionError):
                continue
            if not isinstance(obj, dict) or not obj:
                continue
            key = draw(st.sampled_from([*sorted(obj), "args", "detail", "ns_changed", "version", "type"]))
            target = obj
            # Sometimes one level down: an argument's field, a detail's entry.
            inner = obj.get(key)
            if isinstance(inner, list) and inner and isinstance(inner[0], dict) and draw(st.booleans()):
                target = inner[draw(st.integers(0, len(inner) - 1))]
                key = draw(st.sampled_from(sorted(target) or ["name"]))
            elif isinstance(inner, dict) and inner and draw(st.booleans()):
                target = inner
                key = draw(st.sampled_from(sorted(inner)))
            if how == "field":
                target[key] = draw(JSON_VALUES)
            else:
                target.pop(key, None)
            lines[at] = (_dump(obj) + "\n").encode("utf-8", "surrogatepass")
        elif how == "swap" and len(lines) > 1:
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif how == "drop" and lines:
            del lines[at]
        elif how == "dup" and lines:
            lines.insert(at, lines[at])
        elif how in ("flip", "cut"):
            data = b"".join(lines)
            if not data:
                continue
            pos = draw(st.integers(0, len(data) - 1))
            if how == "flip":
                data = data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1 :]
            else:
                data = data[:pos]
            lines = data.splitlines(keepends=True)
        elif how == "insert":
            lines.insert(at, draw(st.binary(max_size=40)) + b"\n")
        elif how == "nest":
            depth = draw(st.sampled_from([100, 5000, 100_000]))
            lines.insert(at, b"[" * depth + b"\n")
    return b"".join(lines)


def header_line(**changes: object) -> bytes:
    header = json.loads(REAL_LINES[0])
    header.update(changes)
    return (_dump(header) + "\n").encode("utf-8", "surrogatepass")


TRACE_BYTES = st.one_of(
    mutated_trace(),
    st.binary(max_size=300),
    st.binary(max_size=300).map(lambda tail: REAL_LINES[0] + tail),
    st.builds(lambda v: header_line(version=v), JSON_VALUES).map(lambda h: h + b"".join(REAL_LINES[1:5])),
)

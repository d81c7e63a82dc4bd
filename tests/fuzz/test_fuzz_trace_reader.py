"""Fuzzing the trace reader (tracer/tracefile.py, tracer/trace_index.py): any bytes give events or a
TraceFormatError naming the file and the line, never another exception."""

from __future__ import annotations

import os
import tempfile

from hypothesis import example, given

from boxtrace.tracer.trace_index import TraceIndex
from boxtrace.tracer.tracefile import TraceFormatError, TraceReader, read_trace
from tests.fuzz.trace_inputs import REAL_LINES, TRACE_BYTES, header_line

HEADER = REAL_LINES[0]
EXIT = b'{"type":"exit","seq":1,"time":1,"pid":1,"tid":1,"comm":"x","nspid":null,"status":0,"signal":null}\n'


def _read_every_way(data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        path = os.path.join(tmp, "t.jsonl")
        with open(path, "wb") as f:
            f.write(data)
        outcomes = []
        for read in (_read_all, _read_index, _read_halves):
            try:
                outcomes.append(("ok", read(path)))
            except TraceFormatError as exc:
                assert str(exc).startswith(f"{path}:") and "\n" not in str(exc)
                assert exc.line >= 1
                outcomes.append(("error", exc.line))
        # The three ways of reading agree on whether the file is good and on the line at fault.
        assert outcomes[0] == outcomes[1] == outcomes[2], outcomes


def _read_all(path: str) -> int:
    return len(read_trace(path)[1])


def _read_index(path: str) -> int:
    with TraceIndex(path) as index:
        spots = list(index.scan())
        for offset, length, _ in spots:
            index.read(offset, length)
        return len(spots)


def _read_halves(path: str) -> int:
    with TraceReader(path) as reader:
        size = os.path.getsize(path)
        middle = reader.line_start_after(reader.events_start + (size - reader.events_start) // 2)
        count = sum(1 for _ in reader.records_between(reader.events_start, middle))
        return count + sum(1 for _ in reader.records_between(middle, None))


@given(TRACE_BYTES)
@example(HEADER + EXIT.replace(b'"time":1', b'"time":' + b"9" * 400))  # float(huge int): OverflowError
@example(HEADER + EXIT.replace(b'"seq":1', b'"seq":1e400'))  # int(inf): OverflowError
@example(HEADER + b"[" * 20_000 + b"\n")  # RecursionError in json's scanner
@example(b"[" * 20_000 + b"\n")
@example(header_line(command={"a": 1}))
@example(header_line(extra=[1, 2]))
def test_any_bytes_read_cleanly(data: bytes) -> None:
    _read_every_way(data)

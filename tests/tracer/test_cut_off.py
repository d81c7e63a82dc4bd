"""A trace whose last line a crashed recorder cut off: every reader (TraceReader, its byte ranges,
TraceIndex) gives every complete event and says where the cut line is; a bad line anywhere else
stays an error naming it. Cut at every byte of a real trace's last line and at many in its middle."""

from __future__ import annotations

from pathlib import Path

import pytest

from boxtrace.tracer.trace_index import TraceIndex
from boxtrace.tracer.tracefile import TraceFormatError, TraceReader, read_trace

TRACE = Path(__file__).parent.parent / "tui" / "data" / "container-start.jsonl"


def line_offsets(data: bytes) -> list[int]:
    """Where each line begins, and the end."""
    starts = [0]
    while (i := data.find(b"\n", starts[-1])) != -1 and i + 1 < len(data):
        starts.append(i + 1)
    return [*starts, len(data)]


DATA = TRACE.read_bytes()
STARTS = line_offsets(DATA)
LAST = STARTS[-2]  # where the last line begins
_, ALL = read_trace(str(TRACE))
COMPLETE = [e.to_json() for e in ALL[:-1]]  # the events before the last line


def cut_at(tmp_path: Path, size: int) -> str:
    path = tmp_path / "cut.jsonl"
    path.write_bytes(DATA[:size])
    return str(path)


def index_events(path: str) -> tuple[list[dict[str, object]], int | None]:
    with TraceIndex(path) as index:
        events = [e.to_json() for _, _, e in index.scan()]
        return events, None if index.cut_off is None else index.cut_off.line()


def test_every_cut_inside_the_last_line_reads_the_complete_events(tmp_path: Path) -> None:
    last_line = len(STARTS) - 1
    for size in range(LAST + 1, len(DATA) - 1):  # the last byte is the newline: a whole line without it
        path = cut_at(tmp_path, size)
        with TraceReader(path) as reader:
            assert [e.to_json() for e in reader] == COMPLETE, size
            assert reader.cut_off is not None and reader.cut_off.line() == last_line
            assert reader.cut_off.warning() == (
                f"warning: {path}:{last_line}: the last line is cut off (the recorder stopped "
                "mid-write); ignored it, used every complete line before it"
            )
            # byte ranges (the two-process export) never reach into the cut line
            assert [e.to_json() for e, _ in reader.records_between(reader.events_start, None)] == COMPLETE
            assert [e.to_json() for e, _ in reader.records_between(LAST, None)] == []
            assert list(reader.records_between(size, None)) == []
            middle = STARTS[len(STARTS) // 2]
            halves = [
                *reader.records_between(reader.events_start, middle),
                *reader.records_between(middle, size),
            ]
            assert [e.to_json() for e, _ in halves] == COMPLETE
        assert index_events(path) == (COMPLETE, last_line)


def test_whole_lines_read_as_they_are(tmp_path: Path) -> None:
    """At a line's end (with or without its newline) nothing is cut off."""
    for size, count in ((len(DATA), len(ALL)), (len(DATA) - 1, len(ALL)), (LAST, len(ALL) - 1)):
        path = cut_at(tmp_path, size)
        with TraceReader(path) as reader:
            assert [e.to_json() for e in reader] == [e.to_json() for e in ALL[:count]]
            assert reader.cut_off is None
        assert index_events(path) == ([e.to_json() for e in ALL[:count]], None)


def test_a_cut_line_in_the_middle_is_an_error_naming_it(tmp_path: Path) -> None:
    """A line cut short and followed by more lines is not what a crash leaves: an error."""
    for n in range(1, len(STARTS) - 2, 7):
        start, end = STARTS[n], STARTS[n + 1]
        for keep in (1, (end - start) // 2, end - start - 2):
            path = tmp_path / "bad.jsonl"
            path.write_bytes(DATA[: start + keep] + b"\n" + DATA[end:])
            with pytest.raises(TraceFormatError, match=rf"^{path}:{n + 1}: not valid JSON"):
                read_trace(str(path))
            with (
                pytest.raises(TraceFormatError, match=rf"^{path}:{n + 1}: not valid JSON"),
                TraceIndex(str(path)) as index,
            ):
                list(index.scan())


def test_a_complete_last_line_that_is_bad_stays_an_error(tmp_path: Path) -> None:
    """Whole JSON without a newline is an ordinary line, judged as one."""
    path = tmp_path / "bad.jsonl"
    path.write_bytes(DATA[:LAST] + b'{"type": "exit", "seq": 1}')
    with pytest.raises(
        TraceFormatError, match=rf"^{path}:{len(STARTS) - 1}: bad event: missing field 'time'"
    ):
        read_trace(str(path))


def test_a_cut_off_header_stays_an_error(tmp_path: Path) -> None:
    path = cut_at(tmp_path, STARTS[1] // 2)
    with pytest.raises(TraceFormatError, match=rf"^{path}:1: not valid JSON"):
        TraceReader(path)
    with pytest.raises(TraceFormatError, match=rf"^{path}:1: not valid JSON"):
        TraceIndex(path)

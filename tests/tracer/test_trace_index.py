"""The trace index: one scan gives each event's line; any event read again from it equals the one
``read_trace`` builds; malformed lines are named as the reader names them, also when read later."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from boxtrace.tracer.trace_index import TraceIndex
from boxtrace.tracer.tracefile import TraceFormatError, TraceWriter, make_header, read_trace
from tests.tracer.test_tracefile import _header, _write, sample_events


def written(tmp_path: Path) -> str:
    path = tmp_path / "t.jsonl"
    with TraceWriter(str(path), make_header(["x"], "filtered")) as w:
        w.write_events(sample_events())
    return str(path)


def test_scan_yields_each_event_and_where_its_line_is(tmp_path: Path) -> None:
    path = written(tmp_path)
    _, expected = read_trace(path)
    raw = Path(path).read_bytes()
    with TraceIndex(path) as index:
        scanned = list(index.scan())
        assert [e.to_json() for _, _, e in scanned] == [e.to_json() for e in expected]
        for offset, length, event in scanned:
            assert raw[offset : offset + length].endswith(b"\n")
            assert json.loads(raw[offset : offset + length]) == event.to_json()
            assert index.read(offset, length).to_json() == event.to_json()
        # positional reads: in any order, and again
        offset, length, event = scanned[2]
        assert index.read(offset, length).to_json() == event.to_json()


def test_blank_lines_are_skipped_and_line_numbers_still_count_them(tmp_path: Path) -> None:
    events = [json.dumps(e.to_json()) for e in sample_events()]
    path = _write(tmp_path / "t.jsonl", [_header(), events[0], "", events[1], "   ", "[1]"])
    with TraceIndex(path) as index:
        found = []
        with pytest.raises(TraceFormatError) as err:
            for offset, _, event in index.scan():
                found.append(event.seq)
                assert index.line_at(offset) in (2, 4)
        assert found == [1, 2]
        assert str(err.value) == f"{path}:6: expected a JSON object, got list"


BAD_LINES = [
    (["{not json"], "not valid JSON"),
    (['{"type": "syscall"}'], "not a boxtrace trace"),
    ([_header("2.0")], "format version 2.0 is not supported"),
    ([_header(), json.dumps(sample_events()[2].to_json()), "[1, 2]"], "expected a JSON object"),
    ([_header(), '{"type": "teleport", "seq": 1}'], "unknown event type"),
    ([_header(), '{"type": "exit", "seq": 1}'], "missing field 'time'"),
    ([_header(), json.dumps(sample_events()[0].to_json())[:40]], "not valid JSON"),
]


@pytest.mark.parametrize(("lines", "problem"), BAD_LINES)
def test_malformed_lines_read_as_the_reader_words_them(
    tmp_path: Path, lines: list[str], problem: str
) -> None:
    path = _write(tmp_path / "bad.jsonl", lines)
    with pytest.raises(TraceFormatError) as by_reader:
        read_trace(path)
    with pytest.raises(TraceFormatError) as by_index, TraceIndex(path) as index:
        list(index.scan())
    assert str(by_index.value) == str(by_reader.value)
    assert problem in str(by_index.value)


def test_empty_file_and_bad_utf8(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(TraceFormatError, match="empty file"):
        TraceIndex(str(empty))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes((_header() + "\n").encode() + b'{"type": "\xff"}\n')
    with pytest.raises(TraceFormatError, match=r":2: not UTF-8"), TraceIndex(str(bad)) as index:
        list(index.scan())


def test_a_line_read_again_after_the_file_changed_names_the_line(tmp_path: Path) -> None:
    path = written(tmp_path)
    with TraceIndex(path) as index:
        scanned = list(index.scan())
        offset, length, _ = scanned[3]  # line 5: the header, then events 1..3 before it
        with open(path, "r+b") as f:  # rewritten in place, same size: garbage where the event was
            f.seek(offset)
            f.write(b"#" * (length - 1))
        with pytest.raises(TraceFormatError) as err:
            index.read(offset, length)
        assert str(err.value).startswith(f"{path}:5: not valid JSON")
        os.truncate(path, offset)  # cut short
        with pytest.raises(TraceFormatError, match=r":5: the file is shorter than when it was opened"):
            index.read(offset, length)

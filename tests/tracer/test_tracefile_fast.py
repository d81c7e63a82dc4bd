"""The trace reader's fast path (json's scanner called directly, events built with positional
arguments) against the straightforward reading it replaces: json.loads of each line, then each
event built with keyword arguments. Same events, same errors, on real traces and on odd lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from boxtrace.tracer.events import (
    EVENT_BUILDERS,
    EVENT_TYPES,
    Arg,
    Event,
    ExecEvent,
    ExitEvent,
    OutputEvent,
    SpawnEvent,
    SyscallEvent,
    event_from_json,
)
from boxtrace.tracer.tracefile import (
    TraceFormatError,
    TraceReader,
    TraceWriter,
    _problem,
    encode_line,
    make_header,
    read_trace,
)
from tests.tracer.test_tracefile import sample_events

REAL_TRACE = Path(__file__).parent.parent / "tui" / "data" / "container-start.jsonl"


def reference_event(data: dict[str, Any]) -> Event:
    """The keyword-argument decoding the builders replaced, kept here as the oracle."""
    kind = data["type"]
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown event type {kind!r}")
    common: dict[str, Any] = {
        "seq": int(data["seq"]),
        "time": float(data["time"]),
        "pid": int(data["pid"]),
        "tid": int(data["tid"]),
        "comm": str(data["comm"]),
        "nspid": data.get("nspid"),
    }
    if cls is SyscallEvent:
        return SyscallEvent(
            **common,
            name=data["name"],
            nr=int(data["nr"]),
            category_name=data["category"],
            args=[
                Arg(
                    name=a["name"],
                    raw=a.get("raw"),
                    text=a["text"],
                    flags=a.get("flags"),
                    fields=a.get("fields"),
                )
                for a in data["args"]
            ],
            result=data.get("result"),
            result_text=data.get("result_text"),
            errno=data.get("errno"),
            duration=data.get("duration"),
            ns_changed=dict(data.get("ns_changed", {})),
            detail=dict(data.get("detail", {})),
        )
    if cls is SpawnEvent:
        return SpawnEvent(
            **common,
            child=int(data["child"]),
            how=data["how"],
            thread=bool(data["thread"]),
            flags=list(data.get("flags", [])),
        )
    if cls is ExecEvent:
        return ExecEvent(**common, path=data["path"], argv=list(data["argv"]))
    if cls is ExitEvent:
        return ExitEvent(**common, status=data.get("status"), signal=data.get("signal"))
    return OutputEvent(**common, stream=data["stream"], text=data["text"])


def reference_read(path: Path) -> list[Event]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [reference_event(json.loads(line)) for line in lines if line.strip()]


def write_trace(path: Path, events: list[Event]) -> Path:
    with TraceWriter(str(path), make_header(["runc", "run", "x"], "filtered")) as writer:
        writer.write_events(events)
    return path


def test_real_trace_reads_as_the_reference_does() -> None:
    _, events = read_trace(str(REAL_TRACE))
    assert len(events) > 100
    assert {type(e) for e in events} >= {SyscallEvent, SpawnEvent, ExecEvent, ExitEvent}
    assert events == reference_read(REAL_TRACE)
    # The same field types, not only equal values (1 == 1.0 == True).
    for got, want in zip(events, reference_read(REAL_TRACE), strict=True):
        assert [type(getattr(got, f)) for f in got.__slots__] == [  # type: ignore[attr-defined]
            type(getattr(want, f))
            for f in want.__slots__  # type: ignore[attr-defined]
        ]


def test_every_event_type_reads_as_the_reference_does(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl", sample_events())
    assert {type(e) for e in sample_events()} == set(EVENT_TYPES.values())
    assert read_trace(str(path))[1] == reference_read(path) == sample_events()


def test_builders_cover_every_event_type() -> None:
    assert EVENT_BUILDERS.keys() == EVENT_TYPES.keys()
    for event in sample_events():
        assert EVENT_BUILDERS[event.kind](event.to_json()) == event


def test_odd_but_valid_lines_read_the_same(tmp_path: Path) -> None:
    """Lines off the fast path (spaces, CRLF, blank lines, escapes) read as json.loads reads them."""
    events = sample_events()
    lines = [encode_line(e.to_json()).rstrip("\n") for e in events]
    odd = [
        "  " + lines[0],  # leading spaces
        lines[1] + " \t ",  # trailing whitespace
        json.dumps(events[2].to_json(), indent=1).replace("\n", " "),  # spaces everywhere
        lines[3].replace('"exec"', '"\\u0065xec"'),  # an escape in a key's value
        "",
        "   ",
        lines[4],
    ]
    header = encode_line(make_header(["x"], "filtered").to_json())
    path = tmp_path / "odd.jsonl"
    path.write_bytes((header + "\r\n".join(odd) + "\r\n" + lines[5] + "\n").encode("utf-8"))
    assert read_trace(str(path))[1] == events


def test_records_give_each_compact_line_as_it_is(tmp_path: Path) -> None:
    events = sample_events()
    path = write_trace(tmp_path / "t.jsonl", events)
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    with TraceReader(str(path)) as reader:
        records = list(reader.records())
    assert [e for e, _ in records] == events
    assert [text for _, text in records] == lines
    # A line that is not one compact object alone has no text to copy.
    header = path.read_text(encoding="utf-8").splitlines()[0]
    spaced = tmp_path / "spaced.jsonl"
    body = f"{header}\n{lines[0]}\n {lines[1]}\n{lines[2]}\r\n{lines[3]}"  # the last without \n
    spaced.write_bytes(body.encode("utf-8"))
    with TraceReader(str(spaced)) as reader:
        got = list(reader.records())
    assert [e for e, _ in got] == events[:4]
    assert [text for _, text in got] == [lines[0], None, None, lines[3]]


def reference_error(path: Path) -> tuple[int, str]:
    """(line, message) of the first problem, as json.loads and the reference builder name it."""
    raw_lines = path.read_bytes().splitlines(keepends=True)  # json.loads saw the newline too
    for number, raw in enumerate(raw_lines[1:], 2):
        if not raw.strip():
            continue
        text = raw.decode("utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return number, f"not valid JSON ({exc.msg} at column {exc.colno})"
        if not isinstance(data, dict):
            return number, f"expected a JSON object, got {type(data).__name__}"
        try:
            reference_event(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return number, f"bad event: {_problem(exc)}"
    raise AssertionError("no error in the file")


GOOD = encode_line(sample_events()[0].to_json()).rstrip("\n")


@pytest.mark.parametrize(
    "line",
    [
        GOOD + " x",  # extra data after the object
        GOOD + GOOD,  # two objects on one line
        GOOD + ",",
        "\ufeff" + GOOD,  # a byte order mark
        GOOD[:-1],  # cut short
        '{"type": "syscall", "seq": 1}',  # fields missing: the first one named
        '{"seq": "x", "time": "y"}',  # no type
        '{"type": "exit", "seq": "one", "time": 0, "pid": 1, "tid": 1, "comm": "a"}',
        '{"type": "exit", "seq": 1, "time": [], "pid": 1, "tid": 1, "comm": "a"}',
        '{"type": ["syscall"], "seq": 1}',  # an unhashable type
        '{"type": "syscall", "seq": 1, "time": 0, "pid": 1, "tid": 1, "comm": "a", "name": "x",'
        ' "nr": 1, "category": "other", "args": [["name"]]}',
        '{"type": "syscall", "seq": 1, "time": 0, "pid": 1, "tid": 1, "comm": "a", "name": "x",'
        ' "nr": 1, "category": "other", "args": [], "detail": null}',
        '{"type": "spawn", "seq": 1, "time": 0, "pid": 1, "tid": 1, "comm": "a", "child": 2, "how": "fork"}',
        '{"type": "output", "seq": 1, "time": 0, "pid": 1, "tid": 1, "comm": "a", "text": "x"}',
        "[1, 2]",
        "17",
    ],
)
def test_malformed_lines_are_named_as_before(tmp_path: Path, line: str) -> None:
    path = tmp_path / "bad.jsonl"
    header = encode_line(make_header(["x"], "filtered").to_json())
    path.write_text(header + GOOD + "\n\n" + line + "\n" + GOOD + "\n", encoding="utf-8")
    number, message = reference_error(path)
    assert number == 4
    with pytest.raises(TraceFormatError) as err:
        read_trace(str(path))
    assert (err.value.line, err.value.problem) == (number, message)


def test_event_from_json_names_the_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown event type 'teleport'"):
        event_from_json({"type": "teleport"})


def odd_trace(tmp_path: Path) -> Path:
    """The real trace with blank, spaced and CRLF lines among its own, and a last line without \\n."""
    lines = REAL_TRACE.read_text(encoding="utf-8").splitlines()
    lines[5] = "  " + lines[5]
    lines[9] = lines[9] + "\r"
    lines[12:12] = ["", "   "]
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_byte_ranges_read_as_the_whole_file(tmp_path: Path) -> None:
    path = odd_trace(tmp_path)
    with TraceReader(str(path)) as reader:
        whole = list(reader.records())
    size = path.stat().st_size
    with TraceReader(str(path)) as reader:
        start = reader.events_start
        for offset in range(0, size + 2, 97):
            cut = reader.line_start_after(max(offset, start))
            assert list(reader.records_between(start, cut)) + list(reader.records_between(cut, None)) == whole
            assert list(reader.records_between(cut, size)) == list(reader.records_between(cut, None))


def test_line_start_after_finds_where_lines_begin(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"ab\ncd\n\nef")
    with TraceReader.__new__(TraceReader) as reader:  # no header needed to find lines
        reader.path = str(path)
        reader._file = open(path, "rb")  # noqa: SIM115 - closed by the with
        assert [reader.line_start_after(n) for n in range(11)] == [0, 3, 3, 3, 6, 6, 6, 7, 9, 9, 9]


def test_errors_in_a_byte_range_name_the_line_of_the_file(tmp_path: Path) -> None:
    path = odd_trace(tmp_path)
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[60] = lines[60][:-2]
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(TraceFormatError) as whole:
        read_trace(str(path))
    assert whole.value.line == 61
    with TraceReader(str(path)) as reader:
        for line in (1, 30, 50, 60):  # cuts before the bad line, the last one right at it
            cut = len("\n".join(lines[:line]).encode("utf-8")) + 1
            assert reader.line_start_after(cut) == cut
            with pytest.raises(TraceFormatError) as part:
                list(reader.records_between(cut, None))
            assert (part.value.line, part.value.problem) == (whole.value.line, whole.value.problem)

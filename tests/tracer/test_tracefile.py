"""Trace file round trip, crash prefix, and clear errors for malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boxtrace.tracer.events import Arg, ExecEvent, ExitEvent, OutputEvent, SpawnEvent, SyscallEvent
from boxtrace.tracer.tracefile import TraceFormatError, TraceReader, TraceWriter, make_header, read_trace


def sample_events() -> list:
    common = {"time": 0.5, "pid": 10, "tid": 10, "comm": "runc:[1:CHILD]", "nspid": [10, 1]}
    return [
        SyscallEvent(
            seq=1,
            **common,
            name="unshare",
            nr=272,
            category_name="namespace",
            args=[Arg("flags", 0x20000, "CLONE_NEWNS", flags=["CLONE_NEWNS"])],
            result=0,
            result_text="0",
            duration=0.0001,
            ns_changed={"mnt": 4026532177},
        ),
        SyscallEvent(
            seq=2,
            **common,
            name="mount",
            nr=165,
            category_name="mount",
            args=[Arg("source", None, '"\\udcff"'), Arg("flags", 0, "0", fields={"x": [1, 2]})],
            result=-1,
            result_text="-1 EPERM (Operation not permitted)",
            errno="EPERM",
            detail={"target": "/proc/self/fd/6", "resolved": "/rootfs/proc"},
        ),
        SpawnEvent(seq=3, **common, child=11, how="clone3", thread=False, flags=["CLONE_NEWPID"]),
        ExecEvent(seq=4, **common, path="/bin/true", argv=["true", "caf\udce9"]),
        OutputEvent(seq=5, **common, stream="stderr", text="héllo\n"),
        ExitEvent(seq=6, **common, status=None, signal="SIGKILL"),
    ]


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    header = make_header(["runc", "run", "x"], "filtered", {"no_new_privs": True})
    events = sample_events()
    with TraceWriter(str(path), header) as w:
        w.write_events(events[:3])
        w.write(events[3])
        w.write_events(events[4:])
    got_header, got = read_trace(str(path))
    assert got_header == header
    assert [e.to_json() for e in got] == [e.to_json() for e in events]
    assert got[3].argv == ["true", "caf\udce9"]  # type: ignore[attr-defined]
    assert len(path.read_text().splitlines()) == 1 + len(events)


def test_written_as_events_arrive(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    w = TraceWriter(str(path), make_header(["x"], "all"))
    w.write(sample_events()[0])
    # not closed: what a crash would leave must already be readable
    header, events = read_trace(str(path))
    assert header.mode == "all" and len(events) == 1
    w.close()


def _write(path: Path, lines: list[str]) -> str:
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def _header(version: str = "1.0") -> str:
    h = make_header(["x"], "filtered").to_json()
    h["version"] = version
    return json.dumps(h)


@pytest.mark.parametrize(
    ("lines", "line", "problem"),
    [
        (["{not json"], 1, "not valid JSON"),
        (['{"type": "syscall"}'], 1, "not a boxtrace trace"),
        ([_header("2.0")], 1, "format version 2.0 is not supported"),
        ([_header("x")], 1, "bad format version"),
        ([_header(), json.dumps(sample_events()[2].to_json()), "[1, 2]"], 3, "expected a JSON object"),
        ([_header(), '{"type": "teleport", "seq": 1}'], 2, "unknown event type"),
        ([_header(), '{"type": "exit", "seq": 1}'], 2, "missing field 'time'"),
        (
            [
                _header(),
                '{"type": "exec", "seq": 1, "time": 0, "pid": 1, "tid": 1, "comm": "a", "path": "/x"}',
            ],
            2,
            "argv",
        ),
        ([_header(), json.dumps(sample_events()[0].to_json())[:40]], 2, "not valid JSON"),
    ],
)
def test_malformed_lines_are_named(tmp_path: Path, lines: list[str], line: int, problem: str) -> None:
    path = _write(tmp_path / "bad.jsonl", lines)
    with pytest.raises(TraceFormatError) as err:
        read_trace(path)
    assert err.value.line == line
    assert problem in str(err.value)
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_empty_file_and_bad_utf8(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(TraceFormatError, match="empty file"):
        TraceReader(str(empty))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes((_header() + "\n").encode() + b'{"type": "\xff"}\n')
    with pytest.raises(TraceFormatError, match=r":2: not UTF-8"):
        read_trace(str(bad))


def test_minor_versions_are_read(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.jsonl", [_header("1.7")])
    header, events = read_trace(path)
    assert header.version == "1.7" and events == []

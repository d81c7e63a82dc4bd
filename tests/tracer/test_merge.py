"""Merging traces into one timeline (tracer/merge.py) on crafted trace files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from boxtrace.tracer.merge import merge_traces
from boxtrace.tracer.tracefile import TraceFormatError, read_trace


def header(command: list[str], start_time: str, mode: str = "fallback", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "header",
        "format": "boxtrace-trace",
        "version": "1.0",
        "boxtrace_version": "0.1.0",
        "kernel": "6.1.0",
        "arch": "x86_64",
        "command": command,
        "start_time": start_time,
        "mode": mode,
    }
    if extra:
        out["extra"] = extra
    return out


def exit_event(seq: int, time: float, pid: int) -> dict[str, Any]:
    return {
        "type": "exit",
        "seq": seq,
        "time": time,
        "pid": pid,
        "tid": pid,
        "comm": "runc",
        "nspid": [pid],
        "status": 0,
        "signal": None,
    }


def write(path: Path, head: dict[str, Any], events: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(line) + "\n" for line in [head, *events]))
    return str(path)


def test_events_interleave_by_the_monotonic_clock_and_are_numbered_again(tmp_path: Path) -> None:
    # "start" began 0.5 s after "create" (monotonic), though its wall clock says earlier: the
    # monotonic clock wins, being one clock for every process.
    create = write(
        tmp_path / "create.jsonl",
        header(["runc", "create", "c1"], "2026-11-28T10:00:05.000000Z", monotonic_start=100.0),
        [exit_event(1, 0.1, 11), exit_event(2, 0.9, 12)],
    )
    start = write(
        tmp_path / "start.jsonl",
        header(["runc", "start", "c1"], "2026-11-28T10:00:01.000000Z", monotonic_start=100.5),
        [exit_event(1, 0.2, 21)],
    )
    out = tmp_path / "story.jsonl"
    head, count = merge_traces([start, create], str(out))
    assert count == 3 and head.mode == "fallback"
    merged_header, events = read_trace(str(out))
    assert [e.pid for e in events] == [11, 21, 12]
    assert [e.seq for e in events] == [1, 2, 3]
    assert [round(e.time, 6) for e in events] == [0.1, 0.7, 0.9]
    assert merged_header.command == ["runc", "create", "c1"]  # the trace that started first
    assert merged_header.start_time == "2026-11-28T10:00:05.000000Z"
    assert merged_header.extra["monotonic_start"] == 100.0
    assert [s["path"] for s in merged_header.extra["merged_from"]] == [start, create]
    assert merged_header.mode == "fallback"


def test_without_monotonic_starts_the_wall_clock_orders_them(tmp_path: Path) -> None:
    one = write(tmp_path / "one.jsonl", header(["a"], "2026-11-28T10:00:00.250000Z"), [exit_event(1, 0.5, 1)])
    # A monotonic start on one trace only is not comparable with the other's wall clock: unused.
    two = write(
        tmp_path / "two.jsonl",
        header(["b"], "2026-11-28T10:00:00.500000Z", "all", monotonic_start=5.0),
        [exit_event(1, 0.0, 2), exit_event(2, 0.5, 3)],
    )
    out = tmp_path / "m.jsonl"
    merge_traces([one, two], str(out))
    merged_header, events = read_trace(str(out))
    assert [(e.pid, round(e.time, 6)) for e in events] == [(2, 0.25), (1, 0.5), (3, 0.75)]
    assert merged_header.mode == "mixed" and "monotonic_start" not in merged_header.extra


def test_traces_of_another_machine_and_bad_files_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    one = write(tmp_path / "one.jsonl", header(["a"], "2026-11-28T10:00:00Z"), [exit_event(1, 0.1, 1)])
    other = header(["b"], "2026-11-28T10:00:00Z")
    other["kernel"] = "5.10.0"
    two = write(tmp_path / "two.jsonl", other, [exit_event(1, 0.1, 2)])
    out = tmp_path / "m.jsonl"
    with pytest.raises(ValueError, match="recorded on another machine"):
        merge_traces([one, two], str(out))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(header(["c"], "2026-11-28T10:00:00Z")) + "\n{not json\n")
    with pytest.raises(TraceFormatError, match=r"bad.jsonl:2: not valid JSON"):
        merge_traces([one, str(bad)], str(out))
    with pytest.raises(ValueError, match="two traces or more"):
        merge_traces([one], str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "one.jsonl", "two.jsonl"]

"""`boxtrace explain`: explanations by name, usage errors, and --coverage on a trace file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import boxtrace

HEADER = {
    "type": "header",
    "format": "boxtrace-trace",
    "version": "1.0",
    "boxtrace_version": "0.1.0",
    "kernel": "6.18",
    "arch": "x86_64",
    "command": ["true"],
    "start_time": "2026-01-01T00:00:00Z",
    "mode": "all",
}


def event(seq: int, name: str, category: str, detail: dict[str, object] | None = None) -> dict[str, object]:
    return {
        "type": "syscall",
        "seq": seq,
        "time": 0.0,
        "pid": 1,
        "tid": 1,
        "comm": "x",
        "nspid": None,
        "name": name,
        "nr": 0,
        "category": category,
        "args": [],
        "result": 0,
        "result_text": "0",
        "errno": None,
        "duration": None,
        "detail": detail or {},
    }


def write_trace(path: Path, events: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(line) for line in [HEADER, *events]) + "\n")
    return path


def test_explains_a_syscall_with_flags() -> None:
    result = boxtrace("explain", "mount", "MS_REC", "MS_PRIVATE")
    assert result.returncode == 0, result.stderr
    assert "Mount a filesystem or change a mount" in result.stdout
    assert "MS_PRIVATE" in result.stdout and "mount_namespaces(7)" in result.stdout
    assert "flag.MS_REC" in result.stdout


def test_explains_an_error_and_a_catalogue_id() -> None:
    result = boxtrace("explain", "pivot_root", "EINVAL")
    assert result.returncode == 0
    assert "not a mount point" in result.stdout
    result = boxtrace("explain", "cgroup.pids.max")
    assert result.returncode == 0 and "Limit the number of processes" in result.stdout


def test_unknown_name_or_flag_exits_1() -> None:
    for argv in (["nosuchcall"], ["mount", "MS_NOPE"]):
        result = boxtrace("explain", *argv)
        assert result.returncode == 1
        assert result.stderr.strip() == f"no entry for {argv[-1]}"


def test_usage_mistakes_are_one_line_exit_2(tmp_path: Path) -> None:
    for argv in ([], ["mount", "--coverage", "x.jsonl"], ["--coverage", str(tmp_path / "missing.jsonl")]):
        result = boxtrace("explain", *argv)
        assert result.returncode == 2, argv
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_coverage_lists_fallbacks_and_ends_with_the_count(tmp_path: Path) -> None:
    trace = write_trace(
        tmp_path / "t.jsonl",
        [
            event(1, "mount", "mount", {"operation": "new", "fstype": "proc", "target": "/proc"}),
            event(2, "frobnicate", "other"),
            event(3, "write", "cgroup", {"cgroup_file": "pids.max", "value": "5", "path": "/x/pids.max"}),
        ],
    )
    result = boxtrace("explain", "--coverage", str(trace))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "coverage: 2/3 events explained specifically"
    assert "fallback: seq 2 pid 1 frobnicate (no syscall.frobnicate)" in lines
    assert "missing entry: syscall.frobnicate (1 event)" in lines


def test_coverage_of_a_malformed_trace_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(HEADER) + "\n{not json\n")
    result = boxtrace("explain", "--coverage", str(path))
    assert result.returncode == 1
    assert "bad.jsonl:2" in result.stderr

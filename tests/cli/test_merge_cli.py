"""`boxtrace merge` from the command line: one-line usage errors, exit code 2, nothing written."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cli.test_trace_cli import one_line_error
from tests.conftest import boxtrace
from tests.tracer.test_merge import exit_event, header, write


def test_mistakes_are_one_line_usage_errors(tmp_path: Path) -> None:
    one = write(tmp_path / "one.jsonl", header(["a"], "2026-11-28T10:00:00Z"), [exit_event(1, 0.1, 1)])
    out = tmp_path / "out.jsonl"
    cases = [
        (["merge", one, "-o", str(out)], "give two traces or more"),
        (["merge", one, str(tmp_path / "nope.jsonl"), "-o", str(out)], "nope.jsonl: no such file"),
        (["merge", one, one, "-o", one], "is one of the traces to merge"),
        (["merge", one, one], "required: -o/--output"),
        (["merge", one, one, "-o", str(tmp_path / "no" / "dir.jsonl")], "no such directory"),
    ]
    for argv, message in cases:
        proc = boxtrace(*argv)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert message in one_line_error(proc.stderr), (argv, proc.stderr)
    assert not out.exists()


def test_a_container_with_no_trace_is_a_usage_error(tmp_path: Path) -> None:
    env = dict(os.environ, BOXTRACE_SPOOL=str(tmp_path / "spool"))
    proc = boxtrace("merge", "--container", "nothing-here", "-o", str(tmp_path / "o.jsonl"), env=env)
    assert proc.returncode == 2
    assert "--container nothing-here: no finished trace of it in the spool" in one_line_error(proc.stderr)


def test_a_malformed_trace_names_its_line_and_exits_1(tmp_path: Path) -> None:
    one = write(tmp_path / "one.jsonl", header(["a"], "2026-11-28T10:00:00Z"), [exit_event(1, 0.1, 1)])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(header(["b"], "2026-11-28T10:00:00Z")) + "\n[1]\n")
    proc = boxtrace("merge", one, str(bad), "-o", str(tmp_path / "out.jsonl"))
    assert proc.returncode == 1
    assert "bad.jsonl:2: expected a JSON object" in one_line_error(proc.stderr)
    assert not (tmp_path / "out.jsonl").exists()


def test_merged_trace_replays_and_exports(tmp_path: Path) -> None:
    one = write(
        tmp_path / "one.jsonl",
        header(["runc", "create", "x"], "2026-11-28T10:00:00Z", monotonic_start=1.0),
        [exit_event(1, 0.1, 1)],
    )
    two = write(
        tmp_path / "two.jsonl",
        header(["runc", "start", "x"], "2026-11-28T10:00:01Z", monotonic_start=1.05),
        [exit_event(1, 0.01, 2)],
    )
    out = tmp_path / "out.jsonl"
    proc = boxtrace("merge", one, two, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == f"{out}: 2 events from 2 traces (mode fallback)"
    exported = boxtrace("export", str(out), "--format", "strace")
    assert exported.returncode == 0, exported.stderr
    assert [line.split()[0] for line in exported.stdout.splitlines()] == ["2", "1"]

"""The commands that read a trace given one whose last line a crashed recorder cut off: export (every
format, to stdout and with -o), merge and explain --coverage use every complete line, warn in one
line on stderr and exit 0; a line cut short in the middle stays an error naming it (exit 1).

The trace is recorded here by `boxtrace trace -o F -- true` (real events of this machine)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from boxtrace.exporters import get_exporter
from boxtrace.tracer.tracefile import read_trace
from tests.conftest import boxtrace

FORMATS = ["strace", "md", "html", "json", "perfetto"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("rec") / "true.jsonl"
    proc = boxtrace("trace", "-q", "-o", str(path), "--", "true")
    assert proc.returncode == 0, proc.stderr
    data = path.read_bytes()
    assert data.count(b"\n") >= 3 and data.endswith(b"\n")
    return data


def last_line_start(data: bytes) -> int:
    return data.rindex(b"\n", 0, len(data) - 1) + 1


def cuts(data: bytes) -> list[int]:
    """Sizes that end inside the last line: after its first byte, in its middle, before its end."""
    last = last_line_start(data)
    return [last + 1, (last + len(data)) // 2, len(data) - 2]


def warning(path: Path, data: bytes) -> str:
    line = data[: last_line_start(data)].count(b"\n") + 1
    return (
        f"warning: {path}:{line}: the last line is cut off (the recorder stopped mid-write); "
        "ignored it, used every complete line before it\n"
    )


def expected_export(fmt: str, complete: Path) -> str:
    header, events = read_trace(str(complete))
    out = io.StringIO()
    get_exporter(fmt).export(header, events, out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_uses_every_complete_line(recorded: bytes, fmt: str, tmp_path: Path) -> None:
    complete = tmp_path / "complete.jsonl"
    complete.write_bytes(recorded[: last_line_start(recorded)])
    expected = expected_export(fmt, complete)
    for size in cuts(recorded):
        path = tmp_path / "cut.jsonl"
        path.write_bytes(recorded[:size])
        out = tmp_path / f"out.{fmt}"
        proc = boxtrace("export", str(path), "--format", fmt, "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == f"boxtrace export: {warning(path, recorded)}"
        # the json export copies each event's text: the file's name is in no format's body
        assert out.read_text() == expected.replace(str(complete), str(path)), size
        piped = boxtrace("export", str(path), "--format", fmt)
        assert piped.returncode == 0 and piped.stdout == out.read_text()
        assert piped.stderr == proc.stderr


def test_export_of_a_line_cut_in_the_middle_is_an_error(recorded: bytes, tmp_path: Path) -> None:
    lines = recorded.splitlines(keepends=True)
    for n in range(1, len(lines) - 1):
        for keep in (1, len(lines[n]) // 2, len(lines[n]) - 2):
            path = tmp_path / "bad.jsonl"
            path.write_bytes(b"".join(lines[:n]) + lines[n][:keep] + b"\n" + b"".join(lines[n + 1 :]))
            out = tmp_path / "out.md"
            proc = boxtrace("export", str(path), "--format", "md", "-o", str(out))
            assert proc.returncode == 1
            assert proc.stderr.startswith(f"boxtrace export: {path}:{n + 1}: not valid JSON"), proc.stderr
            assert proc.stderr.count("\n") == 1 and not out.exists()
            if n > 2:  # a few lines are enough for the command; every line is tested in tests/tracer
                break


def test_explain_coverage_counts_the_complete_events(recorded: bytes, tmp_path: Path) -> None:
    total = recorded.count(b"\n") - 1
    for size in cuts(recorded):
        path = tmp_path / "cut.jsonl"
        path.write_bytes(recorded[:size])
        proc = boxtrace("explain", "--coverage", str(path))
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == f"boxtrace explain: {warning(path, recorded)}"
        assert proc.stdout.splitlines()[-1].endswith(f"/{total - 1} events explained specifically")


def test_merge_takes_the_complete_events(recorded: bytes, tmp_path: Path) -> None:
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(recorded)
    count = recorded.count(b"\n") - 1
    for size in cuts(recorded):
        path = tmp_path / "cut.jsonl"
        path.write_bytes(recorded[:size])
        out = tmp_path / "merged.jsonl"
        proc = boxtrace("merge", str(whole), str(path), "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.splitlines(keepends=True)[0] == f"boxtrace merge: {warning(path, recorded)}"
        assert proc.stderr.count("\n") == 2  # the warning, then the summary
        _, events = read_trace(str(out))
        assert len(events) == 2 * count - 1

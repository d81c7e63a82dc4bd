"""An export in two halves (boxtrace.exporters.split) is byte for byte the export in one process:
at every cut of real traces, with and without a forked child, through the command, and with the
same errors for malformed lines, truncated and empty traces.

The traces are real: tests/tui/data/container-start.jsonl is the built-in runtime starting a
container, data/runc-run.jsonl is `boxtrace trace -- runc run` of a busybox bundle (Go threads,
spawns whose child shows up much later, every phase).
"""

from __future__ import annotations

import argparse
import io
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boxtrace.commands import export as export_command
from boxtrace.commands.export import UNDECODABLE
from boxtrace.exporters import get_exporter, split
from boxtrace.tracer.events import SyscallEvent
from boxtrace.tracer.tracefile import TraceFormatError, TraceReader, TraceWriter, read_trace
from tests.conftest import boxtrace

DATA = Path(__file__).parent / "data"
TRACES = {
    "builtin": Path(__file__).parent.parent / "tui" / "data" / "container-start.jsonl",
    "runc": DATA / "runc-run.jsonl",
}
FORMATS = ["md", "html", "json", "perfetto"]


def one_process(fmt: str, path: Path) -> str:
    """What `boxtrace export` wrote before it could split: the exporter fed by a TraceReader."""
    out = io.StringIO()
    with TraceReader(str(path)) as reader:
        get_exporter(fmt).export(reader.header, reader, out)
    return out.getvalue()


def in_halves(fmt: str, path: Path, cut: int | None, fork: bool) -> str:
    out = io.StringIO()
    with TraceReader(str(path)) as reader:
        split.export_in_halves(get_exporter(fmt).Halves(), reader, out, cut=cut, fork=fork)
    return out.getvalue()


def line_starts(path: Path) -> Iterator[int]:
    """Every offset where an event's line begins, and the file's end."""
    data = path.read_bytes()
    offset = data.index(b"\n") + 1
    while offset < len(data):
        yield offset
        offset = data.find(b"\n", offset) + 1 or len(data)
    yield len(data)


def cuts_to_try(trace: str) -> list[int]:
    """Every cut of the built-in runtime's trace; of runc's, every fourth and each one right after a
    spawn (the child shows up in the second half) or between two calls explained alike (a group the
    handout explains once)."""
    path = TRACES[trace]
    cuts = list(line_starts(path))
    if trace == "builtin":
        return cuts
    lines = path.read_text().splitlines()[1:]
    after_spawn = [i + 1 for i, line in enumerate(lines) if '"type":"spawn"' in line]
    names = [line.split('"name":', 1)[-1][:30] for line in lines]
    in_group = [i for i in range(1, len(lines)) if names[i] == names[i - 1]]
    picked = set(range(0, len(cuts), 6)) | set(after_spawn[:8]) | set(in_group[::3])
    return [cuts[i] for i in sorted(picked)]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("trace", sorted(TRACES))
def test_halves_equal_one_process_at_many_cuts(fmt: str, trace: str) -> None:
    path = TRACES[trace]
    whole = one_process(fmt, path)
    cuts = cuts_to_try(trace)
    assert len(cuts) > 100
    for cut in cuts:
        assert in_halves(fmt, path, cut, fork=False) == whole, f"cut at byte {cut}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_halves_in_two_processes(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The child's half is read by the child: this process reading it too would be the fallback for a
    # failed child, which gives the same output (test_a_failing_child_costs_time_not_the_export).
    parent, real, read_here = os.getpid(), split._read, []

    def spy(halves: split.Halves, reader: TraceReader, start: int, stop: int | None) -> object:
        if os.getpid() == parent:
            read_here.append(start)
        return real(halves, reader, start, stop)

    monkeypatch.setattr(split, "_read", spy)
    path = TRACES["runc"]
    whole = one_process(fmt, path)
    cuts = list(line_starts(path))
    for cut in (cuts[0], cuts[len(cuts) // 3], cuts[len(cuts) // 2], cuts[-1], None):
        read_here.clear()
        assert in_halves(fmt, path, cut, fork=True) == whole, f"cut at byte {cut}"
        assert len(read_here) == 1, "the child failed: this process read its half"


def test_the_child_writes_what_the_stream_would(tmp_path: Path) -> None:
    """Into a real file with the command's encoding: traced bytes that are not UTF-8 included."""
    header, events = read_trace(str(TRACES["runc"]))
    last_call = [e for e in events if isinstance(e, SyscallEvent)][-1]
    last_call.args[0].text = '"bad\udcff\udcfe"'  # a path that is not UTF-8, as the tracer keeps it
    path = tmp_path / "trace.jsonl"
    with TraceWriter(str(path), header) as writer:
        writer.write_events(events)
    cut = list(line_starts(path))[20]
    for fmt in FORMATS:
        expected, got = tmp_path / f"one.{fmt}", tmp_path / f"halves.{fmt}"
        # As the command opens OUT.
        with open(expected, "w", encoding="utf-8", errors=UNDECODABLE) as out, TraceReader(str(path)) as r:
            get_exporter(fmt).export(r.header, r, out)
        with open(got, "w", encoding="utf-8", errors=UNDECODABLE) as out, TraceReader(str(path)) as r:
            split.export_in_halves(get_exporter(fmt).Halves(), r, out, cut=cut)
        assert "\\udcff" in got.read_text()
        assert got.read_bytes() == expected.read_bytes()


def test_lines_that_are_not_copied_as_they_are(tmp_path: Path) -> None:
    """Spaced and CRLF lines (encoded again by the json export) and blank lines, in both halves."""
    lines = TRACES["builtin"].read_text().splitlines()
    for i in range(3, len(lines), 17):
        lines[i] = " " + lines[i] + "\r"
    lines[40:40] = ["", "  "]
    path = tmp_path / "odd.jsonl"
    write_lines(path, lines)
    cuts = list(line_starts(path))
    for fmt in FORMATS:
        whole = one_process(fmt, path)
        for cut in cuts[::9]:
            assert in_halves(fmt, path, cut, fork=False) == whole, f"{fmt}, cut at byte {cut}"


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def error_of(fn: object) -> tuple[str, int, str]:
    with pytest.raises(TraceFormatError) as info:
        fn()  # type: ignore[operator]
    return info.value.path, info.value.line, info.value.problem


@pytest.mark.parametrize("bad_at", ["first", "second", "both", "first, and the last line cut short"])
def test_malformed_lines_are_reported_as_by_one_process(tmp_path: Path, bad_at: str) -> None:
    lines = TRACES["runc"].read_text().splitlines()
    middle = len(lines) // 2
    if bad_at.startswith("first") or bad_at == "both":
        lines[middle - 10] = lines[middle - 10][:-3]
    if bad_at in ("second", "both"):
        lines[middle + 10] = '{"type":"syscall","seq":1}'
    path = tmp_path / "bad.jsonl"
    write_lines(path, lines)
    if bad_at.endswith("cut short"):  # what a crash leaves, behind a bad line: still an error
        path.write_bytes(path.read_bytes()[:-40])
    cut = list(line_starts(path))[middle - 1]
    for fmt in FORMATS:
        expected = error_of(lambda fmt=fmt: one_process(fmt, path))
        assert expected[1] == (middle - 9 if bad_at != "second" else middle + 11)
        assert error_of(lambda fmt=fmt: in_halves(fmt, path, cut, fork=True)) == expected
        assert error_of(lambda fmt=fmt: in_halves(fmt, path, cut, fork=False)) == expected


def test_a_last_line_cut_short_is_left_out_by_both_halves(tmp_path: Path) -> None:
    """What a crash leaves: the last line half written. Every cut, also one inside that line,
    exports the complete lines, as one process does."""
    data = TRACES["runc"].read_bytes()[:-40]
    path = tmp_path / "cut.jsonl"
    path.write_bytes(data)
    complete = tmp_path / "complete.jsonl"
    complete.write_bytes(data[: data.rindex(b"\n") + 1])
    starts = list(line_starts(path))
    for fmt in FORMATS:
        whole = one_process(fmt, complete)
        assert one_process(fmt, path) == whole
        for cut in [*starts[:: len(starts) // 5], starts[-2], len(data) - 10, len(data)]:
            assert in_halves(fmt, path, cut, fork=False) == whole, f"{fmt}, cut at byte {cut}"
        assert in_halves(fmt, path, None, fork=True) == whole


@pytest.mark.parametrize("how", ["raises", "is killed", "cannot be made"])
def test_a_failing_child_costs_time_not_the_export(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    real = split._second_half

    def failing(*args: object) -> object:
        if os.getpid() != parent:
            if how == "raises":
                raise MemoryError
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args)  # type: ignore[arg-type]

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(split, "_second_half", failing)
    if how == "cannot be made":
        monkeypatch.setattr(os, "fork", no_fork)
    path = TRACES["runc"]
    for fmt in FORMATS:
        assert in_halves(fmt, path, None, fork=True) == one_process(fmt, path)


def test_no_child_is_left_behind_after_an_error(tmp_path: Path) -> None:
    lines = TRACES["runc"].read_text().splitlines()
    lines[5] = "not json"
    path = tmp_path / "bad.jsonl"
    write_lines(path, lines)
    with pytest.raises(TraceFormatError):
        in_halves("md", path, list(line_starts(path))[200], fork=True)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child of this process, running or unreaped


def big_trace(path: Path) -> Path:
    """A trace large enough for the command to split: the runc trace repeated, fresh seq and time."""
    header, events = read_trace(str(TRACES["runc"]))
    span = events[-1].time + 0.001
    copies = split.MIN_BYTES // TRACES["runc"].stat().st_size + 2
    with TraceWriter(str(path), header) as writer:
        for n in range(copies):
            for ev in events:
                ev.seq += len(events) if n else 0
                ev.time = round(ev.time + (span if n else 0.0), 6)
            writer.write_events(events)
    return path


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return big_trace(tmp_path_factory.mktemp("big") / "big.jsonl")


def test_which_traces_are_split(big: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    with TraceReader(str(TRACES["runc"])) as small, TraceReader(str(big)) as large:
        for fmt in FORMATS:
            halves = get_exporter(fmt).Halves()
            assert not split.worth_splitting(small, halves)  # forking would cost more than it saves
            assert split.worth_splitting(large, halves)
            halves.max_bytes = big.stat().st_size - 1  # perfetto streams traces above its limit
            assert not split.worth_splitting(large, halves)
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})
        assert not split.worth_splitting(large, get_exporter("md").Halves())


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_command_splits_a_large_trace_with_the_same_output(big: Path, fmt: str, tmp_path: Path) -> None:
    with TraceReader(str(big)) as reader:
        if not split.worth_splitting(reader, get_exporter(fmt).Halves()):
            pytest.skip("one CPU: the command exports in one process")
    header, events = read_trace(str(big))
    expected = io.StringIO()
    get_exporter(fmt).export(header, events, expected)
    out = tmp_path / f"out.{fmt}"
    proc = boxtrace("export", str(big), "--format", fmt, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == expected.getvalue()
    piped = boxtrace("export", str(big), "--format", fmt)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == expected.getvalue()


def test_the_second_half_waits_beside_out(big: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the disk OUT goes to, not in a temporary directory that may be a small tmpfs."""
    spools: list[str | None] = []
    real = split.tempfile.TemporaryFile

    def spy(*args: Any, **kwargs: Any) -> Any:
        spools.append(kwargs.get("dir"))
        return real(*args, **kwargs)

    monkeypatch.setattr(split.tempfile, "TemporaryFile", spy)
    monkeypatch.setattr(split, "worth_splitting", lambda _reader, _halves: True)
    out = tmp_path / "sub" / "out.md"
    out.parent.mkdir()
    args = argparse.Namespace(file=str(big), format="md", output=str(out))
    assert export_command.main(args) == 0
    assert spools[0] == str(out.parent)
    assert out.read_text() == one_process("md", big)


def test_the_command_exports_the_complete_lines_of_a_large_trace_cut_short(big: Path, tmp_path: Path) -> None:
    """A recorder that crashed mid-line: both halves stop before the cut line, one warning."""
    data = big.read_bytes()[:-100]
    short = tmp_path / "short.jsonl"
    short.write_bytes(data)
    complete = tmp_path / "complete.jsonl"
    complete.write_bytes(data[: data.rindex(b"\n") + 1])
    line = data.count(b"\n") + 1
    for fmt in FORMATS:
        out = tmp_path / f"out.{fmt}"
        proc = boxtrace("export", str(short), "--format", fmt, "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.startswith(f"boxtrace export: warning: {short}:{line}: the last line is cut off")
        assert proc.stderr.count("\n") == 1
        assert out.read_text() == one_process(fmt, complete)
        assert not Path(f"{out}.tmp").exists()
        # the halves cut where the cut-off line begins, and after it (line_start_after of a byte in it)
        for cut in (data.rindex(b"\n") + 1, len(data)):
            with TraceReader(str(short)) as reader:
                got = io.StringIO()
                split.export_in_halves(get_exporter(fmt).Halves(), reader, got, cut=cut, fork=True)
            assert got.getvalue() == out.read_text()


@pytest.mark.parametrize("content", ["", "header only"])
def test_empty_traces_export_as_before(content: str, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(TRACES["runc"].read_text().splitlines(keepends=True)[0] if content else "")
    for fmt in FORMATS:
        out = tmp_path / f"out.{fmt}"
        proc = boxtrace("export", str(path), "--format", fmt, "-o", str(out))
        if content:
            assert proc.returncode == 0, proc.stderr
            assert out.read_text() == one_process(fmt, path)
            assert in_halves(fmt, path, None, fork=True) == one_process(fmt, path)
        else:
            assert proc.returncode == 1
            assert proc.stderr == f"boxtrace export: {path}:1: empty file, expected a header line\n"
            assert not out.exists()

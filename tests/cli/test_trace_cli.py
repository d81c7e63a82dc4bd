"""`boxtrace trace` and `boxtrace export` from the command line: exit codes, output, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import boxtrace

root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: traces namespace and mount work")


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_no_command_is_a_usage_error() -> None:
    proc = boxtrace("trace")
    assert proc.returncode == 2
    assert "no command to trace" in one_line_error(proc.stderr)


def test_unknown_option_is_a_usage_error() -> None:
    proc = boxtrace("trace", "--bogus", "--", "true")
    assert proc.returncode == 2
    one_line_error(proc.stderr)


def test_unknown_command_exits_127() -> None:
    proc = boxtrace("trace", "--", "boxtrace-no-such-command")
    assert proc.returncode == 127
    assert "command not found" in one_line_error(proc.stderr)


def test_unwritable_output_is_a_usage_error(tmp_path: Path) -> None:
    proc = boxtrace("trace", "-o", str(tmp_path / "missing" / "t.jsonl"), "--", "true")
    assert proc.returncode == 2
    assert "no such directory" in one_line_error(proc.stderr)


@root
def test_exit_status_and_signal() -> None:
    assert boxtrace("trace", "--", "sh", "-c", "exit 5").returncode == 5
    assert boxtrace("trace", "--", "sh", "-c", "kill -TERM $$").returncode == 143


@root
@pytest.mark.parametrize("quiet", [True, False], ids=["record-only", "console"])
def test_a_refused_trace_is_one_line_and_leaves_nothing(tmp_path: Path, quiet: bool) -> None:
    """Under strace -f, the kernel refuses boxtrace's seize of its own child (a process has one
    tracer): the user gets one line saying why and what to check, no traceback, no trace file."""
    if shutil.which("strace") is None:
        pytest.skip("needs strace (Debian package strace)")
    out = tmp_path / "t.jsonl"
    quiet_flag = ["-q"] if quiet else []
    argv = [sys.executable, "-m", "boxtrace", "trace", *quiet_flag, "-o", str(out), "--", "true"]
    strace = ["strace", "-f", "-qq", "-o", os.devnull]
    proc = subprocess.run([*strace, *argv], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 126, proc.stderr
    line = one_line_error(proc.stderr)
    refused = "the kernel does not let boxtrace trace it (PTRACE_SEIZE: Operation not permitted)"
    assert f"cannot start true: {refused}" in line
    assert "running under a tracer" in line
    assert not out.exists()


@root
def test_plain_output_groups_by_process_and_keeps_output_apart() -> None:
    proc = boxtrace("trace", "--", "unshare", "-u", "sh", "-c", "hostname bxcli; echo hello; echo oops >&2")
    assert proc.returncode == 0
    out = proc.stdout.splitlines()
    assert any(line.startswith("unshare[") for line in out)  # a process header line
    assert any("namespace" in line and "unshare(CLONE_NEWUTS" in line for line in out)
    assert any("identity" in line and 'sethostname("bxcli"' in line for line in out)
    assert any("stdout: hello" in line for line in out)
    assert any("stderr: oops" in line for line in out)
    assert "done: exit status 0" in proc.stderr


@root
def test_record_and_export_strace(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    proc = boxtrace("trace", "-o", str(trace), "--", "unshare", "-m", "--propagation", "private", "true")
    assert proc.returncode == 0
    lines = trace.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["type"] == "header" and header["version"] == "1.0" and header["mode"] == "filtered"
    assert header["command"] == ["unshare", "-m", "--propagation", "private", "true"]
    out = tmp_path / "t.strace"
    exp = boxtrace("export", str(trace), "--format", "strace", "-o", str(out))
    assert exp.returncode == 0, exp.stderr
    text = out.read_text().splitlines()
    assert any(line.split(" ", 1)[1] == "unshare(CLONE_NEWNS) = 0" for line in text)
    assert any('mount("none", "/", NULL, MS_REC|MS_PRIVATE, NULL) = 0' in line for line in text)
    assert text[-1].endswith("+++ exited with 0 +++")
    stdout = boxtrace("export", str(trace), "--format", "strace")
    assert stdout.stdout.splitlines() == text


def test_quiet_needs_an_output_file_and_no_tui() -> None:
    proc = boxtrace("trace", "-q", "--", "true")
    assert proc.returncode == 2
    assert "--quiet needs -o FILE" in one_line_error(proc.stderr)
    proc = boxtrace("trace", "--quiet", "--step", "-o", "/tmp/never-written.jsonl", "--", "true")
    assert proc.returncode == 2
    assert "drop --step" in one_line_error(proc.stderr)
    assert not os.path.exists("/tmp/never-written.jsonl")
    proc = boxtrace("run", "--no-trace", "--quiet")
    assert proc.returncode == 2
    assert "need tracing" in one_line_error(proc.stderr)


@root
def test_quiet_only_records_and_leaves_the_output_alone(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    proc = boxtrace(
        "trace",
        "-q",
        "-o",
        str(trace),
        "--",
        "unshare",
        "-u",
        "sh",
        "-c",
        "hostname bxq; echo hello; echo oops >&2; exit 4",
    )
    assert proc.returncode == 4
    # The command's streams, untouched: no event lines, no "stdout:" prefixes, no notes of ours.
    assert proc.stdout == "hello\n"
    assert proc.stderr == "oops\n"
    events = [json.loads(line) for line in trace.read_text().splitlines()[1:]]
    assert any(e.get("name") == "sethostname" and e["args"][0]["text"] == '"bxq"' for e in events)
    assert not any(e["type"] == "output" for e in events)  # not captured, so not recorded
    assert events[-1]["type"] == "exit"


def test_export_errors(tmp_path: Path) -> None:
    missing = boxtrace("export", str(tmp_path / "nope.jsonl"), "--format", "strace")
    assert missing.returncode == 2 and "no such file" in one_line_error(missing.stderr)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "header", "format": "boxtrace-trace", "version": "9.0"}\n')
    proc = boxtrace("export", str(bad), "--format", "strace")
    assert proc.returncode == 1
    assert f"{bad}:1: format version 9.0 is not supported" in one_line_error(proc.stderr)
    fmt = boxtrace("export", str(bad), "--format", "nope")
    assert fmt.returncode == 2
    one_line_error(fmt.stderr)


def test_a_reader_that_goes_away_ends_the_output_quietly() -> None:
    # `boxtrace export TRACE | head`: no traceback, the exit status of a program killed by SIGPIPE.
    trace = Path(__file__).parent.parent / "lessons" / "data" / "runc-run.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "boxtrace", "export", str(trace), "--format", "md"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100).startswith(b"# ")
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141
    assert proc.stderr.read() == b""
    proc.stderr.close()

"""--all with a writer process (tracer/relay.py, tracer/writer_process.py): the same trace file as
decoding in the trace loop, and nothing lost however the trace ends."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxtrace.tracer import decoders
from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.events import Event, SyscallEvent
from boxtrace.tracer.messages import Message, ProcessEvent, Started, SyscallFinished
from boxtrace.tracer.relay import RawCall, RawRecord, RelayEngine, raw_record
from boxtrace.tracer.session import TraceConfig, TraceSession
from boxtrace.tracer.tracefile import TraceWriter
from tests.conftest import make_busybox_bundle, needs_root

Inline = tuple[Decoded, CallContext]


class CheckingEngine(RelayEngine):
    """A relay engine that also decodes each raw call the engine's own way, at the same stop."""

    inline: dict[int, Inline]

    def _on_entry(self, task, info=None):  # type: ignore[no-untyped-def]
        if info is None:
            info = self.pt.syscall_entry(task.tid)
        _op, arch, nr, *args = info
        name = self._names.get(nr)
        expected = None
        if arch == self.arch.audit_arch and name is not None and name not in decoders.DECODERS:
            ctx = CallContext(
                task.pid,
                task.tid,
                nr,
                name,
                tuple(args),
                task.mem,
                task.view,
                True,
                task.watch_stdio,
                self.arch.name,
            )
            decoded = decoders.decode_entry(ctx)
            assert decoded is not None
            expected = (decoded, ctx)
        try:
            super()._on_entry(task, info)
        finally:  # also when the tracee was killed meanwhile (ESRCH): its call is still reported
            pending = task.pending
            if expected is not None and pending is not None and type(pending.event) is RawCall:
                self.inline[pending.event.seq] = expected


class TeeSession(TraceSession):
    """Sends every batch to the writer process and writes, beside it, the file the engine's
    own decoding makes of the same calls."""

    def __init__(self, config: TraceConfig, expected_path: str) -> None:
        super().__init__(config, None)
        self.engine = CheckingEngine(
            self.arch, self._outbox.append, self.control, report_all=True, step_all=True, t0=self._t0
        )
        self.engine.inline = {}
        self.expected_path = expected_path
        self.expected: TraceWriter | None = None

    def _deliver_batch(self, batch: list[Message]) -> None:
        events: list[Event] = []
        for msg in batch:
            if type(msg) is Started:
                self.expected = TraceWriter(self.expected_path, msg.header)
            elif (record := raw_record(msg)) is not None:
                events.append(self._inline_event(record))
            elif type(msg) is SyscallFinished or type(msg) is ProcessEvent:
                events.append(msg.event)  # type: ignore[union-attr]
        assert self.expected is not None
        self.expected.write_events(events)
        super()._deliver_batch(batch)

    def _inline_event(self, record: RawRecord) -> SyscallEvent:
        """What engine.Engine makes of the call (its _on_entry and _on_exit)."""
        _, head, result, duration = record
        seq, time, pid, tid, comm, nspid, name, nr, _args, _fetched = head
        decoded, ctx = self.engine.inline.pop(seq)  # type: ignore[attr-defined]
        event = SyscallEvent(seq, time, pid, tid, comm, nspid, name, nr, decoded.category, decoded.args)
        event.duration = duration
        if result is not None:
            event.result = result
            done = decoders.decode_exit(decoded, ctx, result)
            event.result_text = done.result_text
            event.errno = done.errno
            if done.detail:
                event.detail.update(done.detail)
        return event


def trace_both(command: list[str], tmp_path: Path) -> tuple[str, str]:
    out, expected = tmp_path / "relay.jsonl", tmp_path / "inline.jsonl"
    config = TraceConfig(
        command, all_syscalls=True, output=str(out), capture_output=False, writer_process=True
    )
    session = TeeSession(config, str(expected))
    session.start()
    assert session._relay is not None, "the writer process was not started"
    result = session.wait(120)
    assert result is not None and result.error is None
    if session.expected is not None:
        session.expected.close()
    return out.read_text(), expected.read_text()


def assert_same(got: str, expected: str) -> None:
    lines = got.splitlines()
    assert len(lines) > 100  # a real trace, not a header
    assert sum('"category":"other"' in line for line in lines) > 50  # and mostly generic calls
    wanted = expected.splitlines()
    assert [_as_read(a, b) for a, b in zip(lines, wanted, strict=True)] == wanted
    assert got.endswith("\n") and expected.endswith("\n")


def _as_read(got: str, expected: str) -> str:
    """``got``, or ``expected`` where the two differ only as two reads of /proc can: an fd's path
    shown on one side, not on the other, in a call that never returned. The engine and the check
    read the fd paths one after the other at the same stop, and a sibling thread's exit_group can
    close the fd table between the two reads (runc's init threads die in epoll_pwait)."""
    if got == expected:
        return got
    a, b = json.loads(got), json.loads(expected)
    if a.get("result") is not None or a.keys() != b.keys() or len(a["args"]) != len(b["args"]):
        return got
    for arg_a, arg_b in zip(a["args"], b["args"], strict=True):
        if arg_a["text"] != arg_b["text"]:
            bare = str(arg_a["raw"])
            with_path = arg_b["text"] if arg_a["text"] == bare else arg_a["text"]
            if bare not in (arg_a["text"], arg_b["text"]) or not with_path.startswith(bare + "<"):
                return got  # not a bare fd number against the same number with its path
            arg_a["text"] = arg_b["text"]
    return expected if a == b else got


@needs_root
def test_unshare_same_trace_file_as_decoding_in_the_loop(tmp_path: Path) -> None:
    got, expected = trace_both(
        ["unshare", "--fork", "--pid", "--mount-proc", "ls", "-l", "/proc/self/fd"], tmp_path
    )
    assert_same(got, expected)


@needs_root
@pytest.mark.skipif(shutil.which("runc") is None, reason="needs runc")
def test_runc_same_trace_file_as_decoding_in_the_loop(tmp_path: Path) -> None:
    bundle = make_busybox_bundle(tmp_path / "bundle", ["/bin/true"])
    cid = f"bxrelay{os.getpid()}"
    try:
        got, expected = trace_both(["runc", "run", "-b", str(bundle), cid], tmp_path)
    finally:
        subprocess.run(["runc", "delete", "-f", cid], capture_output=True, check=False)
    assert_same(got, expected)
    assert '"name":"pivot_root"' in got and '"name":"futex"' in got


def test_without_the_writer_process_the_same_engine_writes_here(tmp_path: Path) -> None:
    """A relay engine whose writer could not be forked (threads running): decoded in this process."""
    out = tmp_path / "t.jsonl"
    config = TraceConfig(
        ["ls", "/"], all_syscalls=True, output=str(out), capture_output=False, writer_process=True
    )
    session = TraceSession(config, None)
    assert type(session.engine) is RelayEngine
    session._start_writer = lambda: None  # type: ignore[method-assign]
    session.start()
    assert session.wait(60) is not None and session._relay is None
    lines = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    opened = [e for e in lines if e.get("name") == "getdents64"]
    assert opened and opened[0]["args"][0]["text"].endswith("</>")


# ---- ending: the file is complete and the writer gone, however the trace ends ----

LOOP = ["sh", "-c", "while :; do cat /proc/self/stat > /dev/null; done"]


_started: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _nothing_left() -> Iterator[None]:
    """A test that fails midway leaves no boxtrace, writer or tracee running."""
    yield
    while _started:
        proc = _started.pop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # boxtrace, its writer and tracees: one group
        proc.wait(30)


def start_cli(out: Path, command: list[str], *options: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "boxtrace", "trace", "--all", *options, "-o", str(out), "--", *command],
        stdout=subprocess.PIPE if "--plain" in options else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: a Ctrl-C as the terminal sends it
    )
    _started.append(proc)
    return proc


def wait_for_lines(path: Path, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {count} lines")


def writer_processes(out: Path) -> list[int]:
    """The writer processes of the boxtrace whose command line names this trace file."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    cmdline = f.read()
                with open(f"/proc/{name}/comm", "rb") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if str(out).encode() in cmdline and comm == b"boxtrace-writer":
                found.append(int(name))
    return found


def assert_complete(out: Path, proc: subprocess.Popen[bytes]) -> list[dict[str, object]]:
    """Every event the tracer made is in the file, whole; no writer left behind."""
    proc.wait(60)
    deadline = time.monotonic() + 10
    while writer_processes(out) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer_processes(out) == []
    text = out.read_text()
    assert text.endswith("\n")
    events = [json.loads(line) for line in text.splitlines()[1:]]
    seqs = sorted(int(e["seq"]) for e in events)  # type: ignore[call-overload]
    assert seqs == list(range(1, len(seqs) + 1)), "an event is missing"
    return events


def root_exit(events: list[dict[str, object]]) -> dict[str, object]:
    first = events[0]["pid"]
    return next(e for e in events if e["type"] == "exit" and e["tid"] == first)


def test_ctrl_c_writes_everything(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    proc = start_cli(out, LOOP, "-q")
    wait_for_lines(out, 200)
    assert len(writer_processes(out)) == 1
    os.killpg(proc.pid, signal.SIGINT)
    events = assert_complete(out, proc)
    assert root_exit(events)["signal"] in ("SIGINT", "SIGTERM")
    assert proc.returncode in (128 + signal.SIGINT, 128 + signal.SIGTERM)


def test_sigterm_to_boxtrace_writes_everything(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    proc = start_cli(out, LOOP, "-q")
    wait_for_lines(out, 200)
    os.kill(proc.pid, signal.SIGTERM)  # boxtrace alone: it stops the trace, SIGTERM to the command
    events = assert_complete(out, proc)
    assert root_exit(events)["signal"] == "SIGTERM"
    assert b"stopping: SIGTERM sent" in proc.stderr.read()  # type: ignore[union-attr]


def test_the_traced_command_killed_writes_everything(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    proc = start_cli(out, LOOP, "-q")
    wait_for_lines(out, 200)
    root = json.loads(out.read_text().splitlines()[1])["pid"]
    os.kill(root, signal.SIGKILL)
    events = assert_complete(out, proc)
    assert root_exit(events)["signal"] == "SIGKILL"
    assert proc.returncode == 128 + signal.SIGKILL


def test_boxtrace_killed_leaves_whole_lines_and_no_writer(tmp_path: Path) -> None:
    """SIGKILL to boxtrace: its tracees die with it (EXITKILL); the writer writes what it got."""
    out = tmp_path / "t.jsonl"
    proc = start_cli(out, LOOP, "-q")
    wait_for_lines(out, 200)
    proc.kill()
    proc.wait(30)
    deadline = time.monotonic() + 10
    while writer_processes(out) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer_processes(out) == []
    text = out.read_text()
    assert text.endswith("\n")
    assert all(json.loads(line) for line in text.splitlines())


def test_a_closed_stdout_stops_the_trace(tmp_path: Path) -> None:
    """`boxtrace trace --all -- CMD | head -1`: the writer's printer fails, the trace ends quietly."""
    proc = start_cli(tmp_path / "t.jsonl", LOOP, "--plain")
    assert proc.stdout is not None
    assert proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err
    assert proc.returncode == 128 + signal.SIGTERM


def test_the_writer_killed_ends_the_trace_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    proc = start_cli(out, LOOP, "-q")
    wait_for_lines(out, 200)
    (writer,) = writer_processes(out)
    os.kill(writer, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 1
    assert "Traceback" not in err.decode()
    assert lines[-1] == "boxtrace trace: the writer process ended", lines
    assert writer_processes(out) == []


def test_done_seen_while_polling_still_counts(tmp_path: Path) -> None:
    """The writer may finish before the tracer's last poll for problems reads its DONE byte."""
    from boxtrace.tracer.messages import Ended, TraceResult
    from boxtrace.tracer.writer_process import WriterProcess

    relay = WriterProcess(None, None)
    relay.send([Ended(TraceResult(0, None, 0, "all", 0, 0))])
    deadline = time.monotonic() + 30
    while not relay._done and time.monotonic() < deadline:
        assert relay.problems() is None
        time.sleep(0.01)
    assert relay._done
    assert relay.finish() is None


def test_a_command_that_cannot_start_leaves_no_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from boxtrace.tracer import session as session_module
    from boxtrace.tracer.spawn import SpawnError

    def cannot_fork(*args: object, **kwargs: object) -> None:
        raise SpawnError("cannot fork")

    monkeypatch.setattr(session_module, "spawn_traced", cannot_fork)
    config = TraceConfig(["true"], all_syscalls=True, output=str(tmp_path / "t.jsonl"), writer_process=True)
    session = TraceSession(config, None)
    with pytest.raises(SpawnError):
        session.start()
    assert session._relay is None  # finished: its pipe closed, the writer gone

"""`boxtrace trace --pid`: attaching to a running process, following its new children, detaching."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from boxtrace.tracer.messages import Message, SyscallFinished
from boxtrace.tracer.session import AttachError, TraceConfig, TraceSession
from tests.conftest import needs_root

pytestmark = needs_root

# Makes a new mount namespace now and then (each `unshare` a new child of the loop: traced only
# because we follow new children), and keeps running until killed.
LOOP = "while :; do unshare --mount true; sleep 0.05; done"


def state_of(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


def traced_by_us(pid: int) -> bool:
    """Its tracer is a thread of this process (TracerPid names the tracing thread)."""
    tracer = tracer_of(pid)
    return tracer > 0 and os.path.exists(f"/proc/{os.getpid()}/task/{tracer}")


def tracer_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return -1


@pytest.fixture
def looping() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sh", "-c", LOOP])
    try:
        wait_for_exec(proc.pid, b"sh")
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def wait_for_exec(pid: int, argv0: bytes) -> None:
    """Popen returns before the child has exec'd: wait until /proc shows the new program."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if handle.read().startswith(argv0 + b"\0"):
                return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not exec {argv0!r}")


def collect_until(session: TraceSession, messages: list[Message], name: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(isinstance(m, SyscallFinished) and m.event.name == name for m in list(messages)):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {name} traced within {timeout}s")


def test_attach_follows_new_children_and_detach_leaves_it_running(looping: subprocess.Popen[bytes]) -> None:
    messages: list[Message] = []
    lock = threading.Lock()

    def consume(batch: list[Message]) -> None:
        with lock:
            messages.extend(batch)

    session = TraceSession(TraceConfig(command=[], attach_pid=looping.pid), consume)
    assert session.config.command == ["sh", "-c", LOOP]
    session.start()
    try:
        collect_until(session, messages, "unshare")
        assert traced_by_us(looping.pid)
    finally:
        session.stop()
        result = session.wait(20)
    assert result is not None
    assert result.mode == "attached" and result.detached and result.exit_code == 0
    assert result.outcome() == "detached, still running"
    unshares = [m.event for m in messages if isinstance(m, SyscallFinished) and m.event.name == "unshare"]
    assert unshares[0].args[0].flags == ["CLONE_NEWNS"] and "mnt" in (unshares[0].ns_changed or {})
    # Let go: still running, no tracer, and it goes on making children.
    assert looping.poll() is None
    assert tracer_of(looping.pid) == 0
    time.sleep(0.3)
    assert looping.poll() is None and state_of(looping.pid) != "t"


def test_attach_seizes_every_thread_and_releases_them() -> None:
    code = (
        "import threading, time\n"
        "for _ in range(4): threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
        "time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        wait_for_exec(proc.pid, sys.executable.encode())
        deadline = time.monotonic() + 10
        while len(os.listdir(f"/proc/{proc.pid}/task")) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        tids = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task")]
        session = TraceSession(TraceConfig(command=[], attach_pid=proc.pid), None)
        session.start()
        assert sorted(session.engine.live_pids()) == sorted(tids)
        assert all(traced_by_us(tid) for tid in tids)
        session.stop()
        result = session.wait(20)
        assert result is not None and result.detached
        assert all(tracer_of(tid) == 0 for tid in tids)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(10)


def test_attach_to_a_process_that_exits_reports_its_status() -> None:
    proc = subprocess.Popen(["sh", "-c", "read line; exit 7"], stdin=subprocess.PIPE)
    try:
        wait_for_exec(proc.pid, b"sh")
        session = TraceSession(TraceConfig(command=[], attach_pid=proc.pid), None)
        session.start()
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        result = session.wait(20)
        assert result is not None
        assert result.exit_status == 7 and not result.detached and result.exit_code == 7
    finally:
        proc.kill()
        proc.wait(10)


def test_attach_errors() -> None:
    with pytest.raises(AttachError, match="no process"):
        TraceSession(TraceConfig(command=[], attach_pid=2**22 + 12345), None)
    with pytest.raises(AttachError, match="kernel thread"):
        TraceSession(TraceConfig(command=[], attach_pid=2), None)  # kthreadd


def test_cli_attach_then_ctrl_c_detaches(looping: subprocess.Popen[bytes], tmp_path: object) -> None:
    out = f"{tmp_path}/attached.jsonl"
    cli = subprocess.Popen(
        [sys.executable, "-m", "boxtrace", "trace", "--pid", str(looping.pid), "-o", out, "--plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "unshare" not in read_if_any(out):
            time.sleep(0.1)
        cli.send_signal(signal.SIGINT)
        stdout, stderr = cli.communicate(timeout=30)
    finally:
        cli.kill()
    assert cli.returncode == 0, stderr
    assert "mode attached" in stderr and "detached, still running" in stderr
    assert "unshare" in stdout
    assert looping.poll() is None and tracer_of(looping.pid) == 0


def read_if_any(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pid", "0"], "not a process id"),
        (["--pid", str(2**22 + 12345)], "no process"),
        (["--pid", "1", "--", "true"], "not both"),
        (["--pid", "x"], "invalid int value"),
    ],
)
def test_cli_attach_usage_errors(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "boxtrace", "trace", *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2


def test_detach_while_the_process_forks_fast_lets_every_child_go() -> None:
    """A new child's first stop can come before its parent's fork event: once let go, the tracer
    must not wait for it again (it did, 2 times in 100, and the detach never finished)."""
    for _ in range(40):
        proc = subprocess.Popen(["sh", "-c", "while :; do /bin/true; done"])
        try:
            wait_for_exec(proc.pid, b"sh")
            session = TraceSession(TraceConfig(command=[], attach_pid=proc.pid), None)
            session.start()
            deadline = time.monotonic() + 10
            while session.engine.stops < 40 and time.monotonic() < deadline:
                time.sleep(0.005)
            session.stop()
            result = session.wait(20)
            assert result is not None and result.detached
            assert proc.poll() is None and tracer_of(proc.pid) == 0
        finally:
            proc.kill()
            proc.wait(10)


def test_a_recorder_pins_its_tracer_thread_and_gives_the_mask_back() -> None:
    """pin_to_tracer_cpu keeps the calling thread (and what it starts) on one cpu; the engine
    gives a process it lets go the mask back, unless something else changed it meanwhile."""
    from boxtrace.tracer.engine import Engine
    from boxtrace.tracer.session import pin_to_tracer_cpu

    mask = os.sched_getaffinity(0)
    if len(mask) < 2:
        pytest.skip("one cpu: nothing to pin")
    seen: list[object] = []

    def pin_and_start() -> None:
        pinned = pin_to_tracer_cpu()
        child = subprocess.Popen(["sleep", "30"])
        seen.extend([pinned, os.sched_getaffinity(0), os.sched_getaffinity(child.pid), child])

    worker = threading.Thread(target=pin_and_start)
    worker.start()
    worker.join(10)
    pinned, thread_mask, child_mask, child = seen
    assert isinstance(child, subprocess.Popen)
    try:
        assert isinstance(pinned, tuple) and pinned[1] == mask
        assert thread_mask == child_mask == {pinned[0]}
        assert os.sched_getaffinity(0) == mask  # only that thread was pinned
        engine = Engine.__new__(Engine)  # only _unpin's state is needed
        engine.pinned = pinned
        engine._unpin(child.pid)
        assert os.sched_getaffinity(child.pid) == mask
        other = min(mask - {pinned[0]})
        os.sched_setaffinity(child.pid, {other})  # set by someone else: left alone
        engine._unpin(child.pid)
        assert os.sched_getaffinity(child.pid) == {other}
    finally:
        child.kill()
        child.wait(10)

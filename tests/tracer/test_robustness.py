"""Hard tracees and a tracer stopped at random points: nothing stopped or left behind afterwards."""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import pytest
from trace_helpers import alive, trace

from boxtrace.tracer import decoders
from boxtrace.tracer.messages import Message, ProcessEvent
from boxtrace.tracer.session import TraceConfig, TraceSession

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: traces namespace and mount work")

THREADS = """
import threading
def work(): sum(range(1000))
ts = [threading.Thread(target=work) for _ in range(40)]
for t in ts: t.start()
for t in ts: t.join()
"""


def test_many_threads() -> None:
    done = trace([sys.executable, "-c", THREADS])
    assert done.result.exit_code == 0
    threads = [s for s in done.spawns if s.thread]
    assert len(threads) >= 40
    assert all("CLONE_THREAD" in s.flags and s.how in ("clone", "clone3") for s in threads)
    ended = {e.tid for e in done.exits}
    assert {s.child for s in threads} <= ended


def test_exit_by_signal() -> None:
    done = trace([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    assert done.result.signal == "SIGSEGV" and done.result.exit_code == 128 + 11


def test_execs_repeatedly() -> None:
    done = trace(
        ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done; exec /bin/sh -c 'exec /bin/true'"]
    )
    assert done.result.exit_code == 0
    trues = [e for e in done.execs if e.path == "/bin/true"]
    assert len(trues) == 11
    assert done.execs[-1].argv == ["/bin/true"]


def test_vfork_and_posix_spawn() -> None:
    code = "import os; pid = os.posix_spawn('/bin/true', ['true'], {}); os.waitpid(pid, 0)"
    done = trace([sys.executable, "-c", code])
    assert done.result.exit_code == 0
    vforks = [s for s in done.spawns if s.how == "vfork" or "CLONE_VFORK" in s.flags]
    assert vforks
    assert any(e.path == "/bin/true" and e.pid == vforks[0].child for e in done.execs)


def test_exec_from_a_thread_takes_over_the_leader() -> None:
    code = (
        "import os, threading\n"
        "def go(): os.execv('/bin/true', ['true'])\n"
        "t = threading.Thread(target=go); t.start(); t.join()\n"
    )
    done = trace([sys.executable, "-c", code])
    assert done.result.exit_code == 0
    (ex,) = [e for e in done.execs if e.path == "/bin/true"]
    assert ex.tid == ex.pid == done.execs[0].pid  # the exec'd program runs under the leader's tid


def test_decoder_crash_stops_everything() -> None:
    """An engine error mid-trace must kill every tracee, not leave them stopped."""
    original = decoders.decode_entry
    calls = 0

    def broken(ctx: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("boom")
        return original(ctx)  # type: ignore[arg-type]

    decoders.decode_entry = broken  # type: ignore[assignment]
    try:
        done = trace(["sh", "-c", "/bin/true; /bin/true; sleep 30"], timeout=20)
    finally:
        decoders.decode_entry = original
    assert done.result.error is not None and "boom" in done.result.error
    assert not any(alive(s.child) for s in done.spawns)


def test_consumer_gone_stops_the_trace() -> None:
    def consumer(batch: list[Message]) -> None:
        raise BrokenPipeError("reader went away")

    session = TraceSession(TraceConfig(command=["sh", "-c", "sleep 30"], grace=1), consumer)
    result = session.run()
    assert result.stopped_by_user and isinstance(session.consumer_error, BrokenPipeError)
    assert not session.engine.tasks


SCRIPT = """
set -e
mkdir -p {d}/m
unshare -m --propagation private sh -c 'mount -t tmpfs bxrobust {d}/m; sleep 5' &
python3 -c 'import threading as t, time; [t.Thread(target=time.sleep, args=(3,)).start() for _ in range(8)]' &
for i in 1 2 3 4 5 6 7 8; do /bin/true; done
wait
"""


@pytest.mark.parametrize("seed", range(8))
def test_stopped_at_random_points(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    messages: list[Message] = []
    session = TraceSession(
        TraceConfig(
            command=["sh", "-c", SCRIPT.format(d=tmp_path)],
            grace=rng.choice([0.2, 1.0]),
            all_syscalls=seed % 2 == 1,
        ),
        messages.extend,
    )
    session.start()
    time.sleep(rng.uniform(0.0, 0.4))
    session.stop(force=rng.random() < 0.3)
    result = session.wait(20)
    assert result is not None, "the trace did not end"
    assert not session.engine.tasks
    children = {m.event.child for m in messages if isinstance(m, ProcessEvent) and m.event.kind == "spawn"}  # type: ignore[attr-defined]
    lingering = [p for p in children if alive(p)]
    assert not lingering, f"left running: {lingering}"
    assert "bxrobust" not in Path("/proc/self/mountinfo").read_text()

"""The ptrace engine on real programs: namespaces, mounts, process events, modes, step and stop."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from trace_helpers import alive, flag_names, trace

from boxtrace.tracer.messages import Held, Message, Notice, Started, SyscallEntered
from boxtrace.tracer.session import CommandNotFound, TraceConfig, TraceSession

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates namespaces and mounts")


def test_exit_status_is_the_commands() -> None:
    done = trace(["sh", "-c", "exit 7"])
    assert done.result.exit_code == 7
    assert done.result.signal is None
    assert done.result.mode == "filtered"
    assert [e.status for e in done.exits] == [7]


def test_killed_by_signal_gives_128_plus_n() -> None:
    done = trace(["sh", "-c", "kill -KILL $$"])
    assert done.result.signal == "SIGKILL"
    assert done.result.exit_code == 137
    assert done.exits[-1].signal == "SIGKILL"


def test_first_event_is_the_commands_own_execve() -> None:
    done = trace(["true"])
    first = min(done.events, key=lambda e: e.seq)
    assert first.kind == "syscall" and first.name == "execve"  # type: ignore[attr-defined]
    assert done.execs[0].path.endswith("/true") and done.execs[0].argv == ["true"]
    assert done.execs[0].comm == "true"


def test_unshare_and_private_mount(tmp_path: Path) -> None:
    target = tmp_path / "mnt"
    target.mkdir()
    done = trace(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "mount",
            "-t",
            "tmpfs",
            "-o",
            "size=1m",
            "bxtest",
            str(target),
        ]
    )
    assert done.result.exit_code == 0
    (unshare,) = done.syscalls("unshare")
    assert unshare.category == "namespace"
    assert "CLONE_NEWNS" in flag_names(unshare)
    assert set(unshare.ns_changed) == {"mnt"}
    assert unshare.result == 0 and unshare.errno is None and unshare.duration is not None
    mounts = done.syscalls("mount")
    assert any({"MS_REC", "MS_PRIVATE"} <= flag_names(m) for m in mounts)
    tmpfs = [m for m in mounts if any('"tmpfs"' in a.text for a in m.args)]
    assert tmpfs and tmpfs[0].result == 0 and tmpfs[0].category == "mount"
    assert any(str(target) in a.text for a in tmpfs[0].args)
    # the private namespace died with the process: nothing on the host
    assert str(target) not in Path("/proc/self/mountinfo").read_text()


def test_namespaces_and_pid_namespace_view() -> None:
    done = trace(["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--mount-proc", "true"])
    assert done.result.exit_code == 0
    (unshare,) = done.syscalls("unshare")
    assert {"CLONE_NEWNS", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWPID", "CLONE_NEWNET"} <= flag_names(
        unshare
    )
    # pid_for_children cannot be read until the first child exists, so it is not in ns_changed.
    assert {"mnt", "uts", "ipc", "net"} <= set(unshare.ns_changed)
    child_pids = {s.child for s in done.spawns if not s.thread}
    assert child_pids
    # The forked child is pid 1 of the new pid namespace: NSpid shows both views.
    inner = [e for e in done.events if e.pid in child_pids and e.nspid and len(e.nspid) == 2]
    assert inner and inner[0].nspid == [inner[0].pid, 1]
    proc_mounts = [m for m in done.syscalls("mount") if any('"proc"' in a.text for a in m.args)]
    assert proc_mounts and proc_mounts[0].pid in child_pids


CLONE_NR = {"x86_64": 56, "aarch64": 220}


def test_clone_with_namespace_flags_is_a_spawn_with_flags_and_new_namespaces() -> None:
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        # clone(CLONE_NEWUTS|SIGCHLD): the number is the machine's (56 on x86_64, 220 on arm64)
        f"pid = libc.syscall({CLONE_NR[os.uname().machine]}, 0x04000000 | 17, 0, 0, 0, 0)\n"
        "if pid == 0:\n    os._exit(3)\n"
        "_, st = os.waitpid(pid, 0)\n"
        "raise SystemExit(os.waitstatus_to_exitcode(st))\n"
    )
    done = trace([sys.executable, "-c", code])
    assert done.result.exit_code == 3
    (clone,) = done.syscalls("clone")
    assert "CLONE_NEWUTS" in flag_names(clone)
    assert clone.result and clone.result > 0
    assert clone.ns_changed.keys() == {"uts"}
    spawn = next(s for s in done.spawns if s.child == clone.result)
    assert spawn.how == "clone" and "CLONE_NEWUTS" in spawn.flags and not spawn.thread
    assert any(e.tid == clone.result and e.status == 3 for e in done.exits)


def test_filtered_mode_does_not_report_uninteresting_calls() -> None:
    done = trace(["sh", "-c", "for i in 1 2 3; do echo $i; done; cat /etc/os-release | grep -c ID"])
    names = {e.name for e in done.syscalls()}
    assert names <= {"execve"}, names
    outputs = [e for e in done.events if e.kind == "output"]
    assert [o.text for o in outputs][:3] == ["1\n", "2\n", "3\n"]  # type: ignore[attr-defined]
    assert all(o.stream == "stdout" for o in outputs)  # type: ignore[attr-defined]


def test_all_mode_reports_every_call() -> None:
    done = trace(["sh", "-c", "echo hi >/dev/null"], all_syscalls=True)
    names = {e.name for e in done.syscalls()}
    assert {"execve", "brk", "mmap", "write", "exit_group"} <= names
    assert done.result.mode == "all"
    exit_group = done.syscalls("exit_group")[-1]
    assert exit_group.result is None  # the process ended inside it
    assert any(e.category == "other" for e in done.syscalls())


def test_fallback_mode_reports_what_the_filter_would(tmp_path: Path) -> None:
    cmd = ["unshare", "-m", "--propagation", "private", "mkdir", str(tmp_path / "d")]
    filtered = trace(cmd)
    (tmp_path / "d").rmdir()
    fallback = trace(cmd, force_fallback=True)
    assert fallback.result.mode == "fallback"
    assert any(isinstance(m, Notice) for m in fallback.messages)

    def shape(c: object) -> list[tuple[str, str]]:
        return [(e.name, e.result_text or "") for e in c.syscalls()]  # type: ignore[attr-defined]

    assert shape(filtered) == shape(fallback)


def _cgroup_parent() -> Path:
    """A cgroup directory to create test cgroups in (v2 root, or the v1 pids hierarchy)."""
    for candidate in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup"):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return Path(candidate)
    pytest.skip("no writable cgroup hierarchy")


def test_step_mode_holds_before_the_call_runs() -> None:
    target = _cgroup_parent() / f"boxtrace-test-step-{os.getpid()}"
    seen: list[tuple[str, bool, bool]] = []
    session: TraceSession

    def consume(batch: list[Message]) -> None:
        for m in batch:
            if isinstance(m, Held):
                # Held at entry: the call is decoded, has no result, and has not run yet.
                if m.event.name == "mkdir":
                    seen.append((m.reason, m.event.result is None, target.exists()))
                session.step()

    session = TraceSession(TraceConfig(command=["mkdir", str(target)], start_paused=True), consume)
    try:
        result = session.run()
        assert result.exit_code == 0
        assert seen == [("step", True, False)]
        assert target.is_dir()
    finally:
        if target.exists():
            target.rmdir()


def test_breakpoint_by_name_and_category() -> None:
    held: list[Held] = []
    session: TraceSession

    def consume(batch: list[Message]) -> None:
        for m in batch:
            if isinstance(m, Held):
                held.append(m)
                session.resume()

    session = TraceSession(
        TraceConfig(
            command=["unshare", "-m", "--propagation", "private", "true"],
            break_names={"unshare"},
            break_categories={"mount"},
        ),
        consume,
    )
    assert session.run().exit_code == 0
    assert [(h.event.name, h.reason) for h in held] == [("unshare", "breakpoint"), ("mount", "breakpoint")]


def test_a_call_is_reported_before_what_it_caused() -> None:
    """ptrace reports a clone's new process and an execve's new program before the call returns;
    every view (file, console, exports) shows the call first, then its effect."""
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        # clone(CLONE_NEWUTS|SIGCHLD): the number is the machine's (56 on x86_64, 220 on arm64)
        f"pid = libc.syscall({CLONE_NR[os.uname().machine]}, 0x04000000 | 17, 0, 0, 0, 0)\n"
        "if pid == 0:\n    os.execv('/bin/true', ['true'])\n"
        "os.waitpid(pid, 0)\n"
    )
    done = trace([sys.executable, "-c", code])
    order = [e.seq for e in done.events]
    (clone,) = done.syscalls("clone")
    spawn = next(s for s in done.spawns if s.child == clone.result)
    assert clone.seq < spawn.seq and order.index(clone.seq) < order.index(spawn.seq)
    execves = [e for e in done.syscalls("execve") if e.result == 0]
    assert len(execves) == 2 and len(done.execs) == 2
    for execve in execves:
        effect = next(x for x in done.execs if x.tid == execve.tid and x.seq > execve.seq)
        assert order.index(execve.seq) < order.index(effect.seq)


def test_entered_comes_before_finished_with_the_same_event() -> None:
    done = trace(["unshare", "-u", "hostname", "bxtest"])
    entered = [
        i
        for i, m in enumerate(done.messages)
        if isinstance(m, SyscallEntered) and m.event.name == "sethostname"
    ]
    finished = [e for e in done.syscalls("sethostname")]
    assert len(entered) == 1 and len(finished) == 1
    assert finished[0].category == "identity" and finished[0].result == 0
    assert isinstance(done.messages[0], Started)


def test_stop_sends_sigterm_and_leaves_nothing() -> None:
    messages: list[Message] = []
    session = TraceSession(TraceConfig(command=["sh", "-c", "sleep 30 & wait"], grace=2), messages.extend)
    session.start()
    time.sleep(0.3)
    session.stop()
    result = session.wait(10)  # a bound so a broken stop fails instead of hanging, not a speed check
    assert result is not None
    assert result.stopped_by_user
    assert result.signal == "SIGTERM" and result.exit_code == 143
    assert not session.engine.tasks
    spawned = [
        m.event.child for m in messages if getattr(m, "event", None) is not None and m.event.kind == "spawn"
    ]  # type: ignore[attr-defined]
    assert spawned and not any(alive(p) for p in spawned)


def test_stop_kills_after_grace_when_sigterm_is_ignored() -> None:
    session = TraceSession(TraceConfig(command=["sh", "-c", "trap '' TERM; sleep 30; true"], grace=0.5))
    session.start()
    time.sleep(0.3)
    session.stop()
    result = session.wait(10)
    assert result is not None and result.signal == "SIGKILL"


def test_unknown_command_is_reported_before_anything_runs() -> None:
    with pytest.raises(CommandNotFound):
        TraceSession(TraceConfig(command=["boxtrace-no-such-command-xyz"]))


def test_command_starts_with_default_signal_dispositions() -> None:
    # A handler of the tracing process (Textual installs one for SIGCONT) must not run in the child
    # before its exec, and Python's own SIG_IGN of SIGPIPE must not reach the command.
    import signal

    from boxtrace.tracer.events import OutputEvent
    from boxtrace.tracer.messages import ProcessEvent

    def refuse(signum: int, frame: object) -> None:
        os._exit(99)

    previous = signal.signal(signal.SIGCONT, refuse)
    try:
        messages: list[Message] = []
        session = TraceSession(TraceConfig(command=["grep", "SigIgn", "/proc/self/status"]), messages.extend)
        result = session.run()
    finally:
        signal.signal(signal.SIGCONT, previous)
    assert result.exit_code == 0
    out = "".join(
        m.event.text for m in messages if isinstance(m, ProcessEvent) and isinstance(m.event, OutputEvent)
    )
    ignored = int(out.split()[1], 16)
    python_ignores = 1 << (signal.SIGPIPE - 1) | 1 << (signal.SIGXFSZ - 1)
    assert not ignored & python_ignores, out


def test_switch_interval_is_short_while_tracing_and_restored_after() -> None:
    before = sys.getswitchinterval()
    seen: list[float] = []
    session = TraceSession(TraceConfig(command=["true"]), lambda batch: seen.append(sys.getswitchinterval()))
    session.start()
    assert session.wait(30) is not None
    assert seen and max(seen) <= 0.0005 < before
    assert sys.getswitchinterval() == before

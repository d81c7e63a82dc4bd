"""The phase classifier on crafted event sequences shaped like the built-in runtime, runc and unshare."""

from __future__ import annotations

from typing import Any

from boxtrace.lessons.model import PHASES
from boxtrace.lessons.phases import PhaseTracker, phases_of
from boxtrace.tracer.events import Arg, Event, ExecEvent, ExitEvent, OutputEvent, SpawnEvent, SyscallEvent

_seq = 0


def _base(pid: int, tid: int | None = None) -> dict[str, Any]:
    global _seq
    _seq += 1
    return {"seq": _seq, "time": 0.0, "pid": pid, "tid": tid or pid, "comm": "x", "nspid": None}


def call(
    pid: int,
    name: str,
    category: str,
    detail: dict[str, Any] | None = None,
    result: int = 0,
    errno: str | None = None,
    args: list[Arg] | None = None,
) -> SyscallEvent:
    return SyscallEvent(
        **_base(pid),
        name=name,
        category_name=category,
        args=args or [],
        result=result,
        errno=errno,
        detail=detail or {},
    )


def spawn(parent: int, child: int, flags: list[str] | None = None, thread: bool = False) -> SpawnEvent:
    return SpawnEvent(**_base(parent), child=child, how="clone", thread=thread, flags=flags or [])


def exec_(pid: int) -> ExecEvent:
    return ExecEvent(**_base(pid), path="/bin/sh", argv=["sh"])


def exit_(pid: int, tid: int | None = None) -> ExitEvent:
    return ExitEvent(**_base(pid, tid), status=0)


def builtin_runtime() -> list[tuple[Event, str]]:
    """The built-in runtime's start, event by event, with the phase each should get."""
    rt, box = 10, 11
    new = ["CLONE_NEWNS", "CLONE_NEWPID"]
    return [
        (call(rt, "execve", "exec"), "prepare"),
        (exec_(rt), "prepare"),
        (call(rt, "mkdir", "cgroup", {"action": "create"}), "cgroups"),
        (call(rt, "clone", "namespace", {"namespaces": ["mnt", "pid"]}, result=box), "namespaces"),
        (spawn(rt, box, new), "namespaces"),
        (call(box, "prctl", "process", {"option": "PR_SET_PDEATHSIG"}), "namespaces"),
        (call(rt, "write", "cgroup", {"cgroup_file": "cgroup.procs", "value": "11"}), "cgroups"),
        (call(rt, "write", "idmap", {"file": "uid_map"}), "user mapping"),
        (call(box, "mount", "mount", {"operation": "propagation", "propagation": "private"}), "filesystem"),
        (call(box, "mount", "mount", {"operation": "new", "fstype": "overlay"}), "filesystem"),
        (call(box, "mknodat", "device", {"path": "/r/dev/null"}), "filesystem"),
        (call(box, "pivot_root", "mount"), "pivot"),
        (call(box, "mount", "mount", {"operation": "propagation", "propagation": "slave"}), "pivot"),
        (call(box, "umount2", "mount"), "pivot"),
        (call(box, "sethostname", "identity"), "identity and hardening"),
        (call(box, "prctl", "security", {"option": "PR_SET_NO_NEW_PRIVS"}), "identity and hardening"),
        (call(box, "capset", "security"), "identity and hardening"),
        (exec_(box), "exec"),  # the tracer may record the exec event before the execve call
        (call(box, "execve", "exec"), "exec"),
        (OutputEvent(**_base(box), text="hi"), "run"),
        (spawn(box, 12), "run"),
        (call(12, "execve", "exec"), "run"),
        (exit_(12), "run"),
        (exit_(box), "run"),
        (call(rt, "rmdir", "cgroup", {"action": "remove"}), "cleanup"),
        (exit_(rt), "cleanup"),
    ]


def test_builtin_runtime_story() -> None:
    story = builtin_runtime()
    got = [phase for _, phase in phases_of(e for e, _ in story)]
    want = [phase for _, phase in story]
    mismatches = [
        (i, story[i][0].to_json().get("name", story[i][0].kind), g, w)
        for i, (g, w) in enumerate(zip(got, want, strict=True))
        if g != w
    ]
    assert not mismatches
    assert set(got) <= set(PHASES)


def test_runc_like_story_host_work_is_prepare() -> None:
    runc, init, child, box = 20, 21, 22, 23
    tracker = PhaseTracker()
    steps: list[tuple[Event, str]] = [
        (call(runc, "seccomp", "security", {"operation": "SECCOMP_GET_ACTION_AVAIL"}), "prepare"),
        (call(runc, "prctl", "process", {"option": "PR_SET_CHILD_SUBREAPER"}), "prepare"),
        (spawn(runc, 201, thread=True), "prepare"),
        (spawn(runc, init), "prepare"),
        (call(init, "execve", "exec"), "prepare"),  # runc re-executes itself as runc init
        (call(init, "mount", "mount", {"operation": "bind"}), "prepare"),
        (call(runc, "mkdirat", "cgroup", {"action": "create"}), "cgroups"),
        (spawn(init, child), "prepare"),
        (call(child, "unshare", "namespace", {"namespaces": ["mnt", "pid"]}), "namespaces"),
        (spawn(child, box), "namespaces"),
        (call(box, "setuid", "identity"), "identity and hardening"),
        (call(box, "mount", "mount", {"operation": "propagation", "propagation": "slave"}), "filesystem"),
        (call(box, "pivot_root", "mount"), "pivot"),
        (call(box, "umount2", "mount"), "pivot"),
        (call(box, "mount", "mount", {"operation": "remount-bind"}), "filesystem"),
        (call(box, "execve", "exec"), "exec"),
        (exit_(box), "run"),
        (call(runc, "unlinkat", "cgroup", {"action": "remove"}), "cleanup"),
        (exit_(runc, 201), "cleanup"),
    ]
    for event, want in steps:
        assert tracker.phase(event) == want, event


def test_unshare_failed_path_search_is_exec() -> None:
    parent, child = 30, 31
    tracker = PhaseTracker()
    assert tracker.phase(call(parent, "execve", "exec")) == "prepare"
    assert tracker.phase(call(parent, "unshare", "namespace", {"namespaces": ["mnt"]})) == "namespaces"
    assert tracker.phase(spawn(parent, child)) == "namespaces"
    assert (
        tracker.phase(call(child, "mount", "mount", {"operation": "new", "fstype": "proc"})) == "filesystem"
    )
    assert tracker.phase(call(child, "execve", "exec", result=-1, errno="ENOENT")) == "exec"
    assert tracker.phase(call(child, "execve", "exec")) == "exec"
    assert tracker.phase(exit_(child)) == "run"
    assert tracker.phase(exit_(parent)) == "cleanup"


def test_chroot_is_pivot_and_a_failed_namespace_call_is_still_namespaces() -> None:
    tracker = PhaseTracker()
    assert tracker.phase(call(40, "unshare", "namespace", errno="EPERM", result=-1)) == "namespaces"
    assert tracker.phase(call(40, "chroot", "mount")) == "pivot"
    # the failed unshare created nothing: a mount by the same process is the host's
    assert tracker.phase(call(40, "mount", "mount", {"operation": "bind"})) == "prepare"

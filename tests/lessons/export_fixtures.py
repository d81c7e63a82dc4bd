"""Events for the export tests: every event type, traced strings that are hostile to HTML and Markdown."""

from __future__ import annotations

from boxtrace.lessons.model import Explanation, FlagNote
from boxtrace.tracer.events import (
    Arg,
    Event,
    ExecEvent,
    ExitEvent,
    OutputEvent,
    SpawnEvent,
    SyscallEvent,
    TraceHeader,
)

EVIL = "<script>alert(1)</script>"
EVIL_ARGV = ["sh", "-c", "echo '</code>&\"' `id` ```"]

HEADER = TraceHeader(
    version="1.0",
    boxtrace_version="0.1.0",
    kernel="6.1.0",
    arch="x86_64",
    command=["runc", "run", "-b", EVIL, "demo"],
    start_time="2024-01-01T00:00:00.000000Z",
)


def events() -> list[Event]:
    return [
        SyscallEvent(
            seq=1,
            time=0.001,
            pid=100,
            tid=100,
            comm="runc",
            nspid=[100],
            name="unshare",
            nr=272,
            category_name="namespace",
            args=[Arg("flags", 0x20020000, "CLONE_NEWNS|CLONE_NEWPID", ["CLONE_NEWNS", "CLONE_NEWPID"])],
            result=0,
            result_text="0",
            duration=0.0002,
            ns_changed={"mnt": 4026532177},
            detail={"flags": ["CLONE_NEWNS", "CLONE_NEWPID"], "namespaces": ["mnt", "pid"]},
        ),
        SpawnEvent(seq=2, time=0.002, pid=100, tid=100, comm="runc", nspid=[100], child=101, how="clone"),
        SyscallEvent(
            seq=3,
            time=0.003,
            pid=101,
            tid=101,
            comm="runc:[2:INIT]",
            nspid=[101, 1],
            name="mount",
            nr=165,
            category_name="mount",
            args=[
                Arg("source", 1, f'"{EVIL}"'),
                Arg("target", 2, '"/proc"'),
                Arg("filesystemtype", 3, '"proc"'),
                Arg("mountflags", 14, "MS_NOSUID|MS_NODEV|MS_NOEXEC", ["MS_NOSUID", "MS_NODEV", "MS_NOEXEC"]),
                Arg("data", 0, "NULL"),
            ],
            result=0,
            result_text="0",
            duration=0.0001,
            detail={"source": EVIL, "target": "/proc"},
        ),
        SyscallEvent(
            seq=4,
            time=0.004,
            pid=101,
            tid=101,
            comm="runc:[2:INIT]",
            nspid=[101, 1],
            name="pivot_root",
            nr=155,
            category_name="mount",
            args=[Arg("new_root", 1, '"."'), Arg("put_old", 2, '"."')],
            result=-22,
            result_text="-1 EINVAL (Invalid argument)",
            errno="EINVAL",
            duration=0.00001,
        ),
        SyscallEvent(
            seq=5,
            time=0.005,
            pid=100,
            tid=102,
            comm="runc",
            nspid=[100],
            name="write",
            nr=1,
            category_name="cgroup",
            args=[
                Arg("fd", 5, "5</sys/fs/cgroup/pids/demo/pids.max>"),
                Arg("buf", 9, '"64"'),
                Arg("count", 2, "2"),
            ],
            result=2,
            result_text="2",
            duration=0.00002,
            detail={"cgroup_file": "pids.max", "value": "64"},
        ),
        ExecEvent(
            seq=6, time=0.006, pid=101, tid=101, comm=EVIL, nspid=[101, 1], path="/bin/sh", argv=EVIL_ARGV
        ),
        OutputEvent(
            seq=7, time=0.007, pid=100, tid=100, comm="runc", nspid=[100], stream="stdout", text=EVIL + "\n"
        ),
        ExitEvent(
            seq=8, time=0.008, pid=101, tid=101, comm="sh", nspid=[101, 1], status=None, signal="SIGKILL"
        ),
        SyscallEvent(
            seq=9,
            time=0.009,
            pid=100,
            tid=100,
            comm="runc",
            nspid=[100],
            name="exit_group",
            nr=231,
            category_name="other",
            args=[Arg("status", 0, "0")],
        ),
    ]


PHASE_OF = {1: "namespaces", 2: "namespaces", 3: "filesystem", 4: "pivot", 5: "cgroups", 6: "exec"}


def classify(event: Event) -> str:
    return PHASE_OF.get(event.seq, "run")


def explain(event: Event) -> Explanation:
    """Explanations as the catalogue would give them, one quoting a traced string in its title."""
    if isinstance(event, SyscallEvent) and event.name == "mount":
        return Explanation(
            title=f"Mount {EVIL} on /proc",
            what="Mounts procfs at `/proc`; **fresh** for the new *PID namespace*.",
            why="So that `ps` shows the container's processes.",
            without="The container would see the host's processes.",
            man=("mount(2)", "proc(5)"),
            runtimes="runc mounts proc first among the spec's mounts.",
            flags=(FlagNote("MS_NOSUID", "setuid bits are ignored", "flag.MS_NOSUID"),),
            entries=("syscall.mount", "fstype.proc", "flag.MS_NOSUID"),
        )
    if isinstance(event, SyscallEvent) and event.name == "pivot_root":
        return Explanation(
            title="Switch the root (pivot_root)",
            what="Moves the root mount.",
            why="Isolation.",
            without="The host's root stays reachable.",
            man=("pivot_root(2)",),
            runtimes='runc: pivot_root(".", ".").',
            result="EINVAL: the new root is not a mount point.",
            entries=("syscall.pivot_root", "error.pivot_root.EINVAL"),
        )
    name = event.name if isinstance(event, SyscallEvent) else event.kind
    return Explanation(title=name, what=f"`{name}`", why="", without="", man=(), runtimes="", fallback=True)

"""clone3 with CLONE_INTO_CGROUP, for real: the wrapper on the host's cgroup2 tree, the runtime's
v2 path on that tree (tests/runtime/v2_on_unified.py), its fallback to clone + cgroup.procs when
clone3 is refused, and on a pure v2 host (the VM lane) `boxtrace run` itself."""

from __future__ import annotations

import errno
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxtrace.runtime import syscalls
from boxtrace.runtime.constants import NAMESPACE_FLAGS, SIGCHLD
from boxtrace.tracer.events import SyscallEvent
from boxtrace.tracer.tracefile import read_trace
from tests.conftest import REPO, boxtrace, needs_root

pytestmark = needs_root

UNIFIED = "/sys/fs/cgroup/unified"
HELPER = str(REPO / "tests" / "runtime" / "v2_on_unified.py")
needs_unified = pytest.mark.skipif(
    not os.path.exists(f"{UNIFIED}/cgroup.procs"), reason="needs the hybrid host's cgroup2 tree at " + UNIFIED
)


@pytest.fixture
def v2_cgroup() -> Iterator[str]:
    path = f"{UNIFIED}/boxtrace-test-{uuid.uuid4().hex[:8]}"
    os.mkdir(path)
    try:
        yield path
    finally:
        os.rmdir(path)


def own_namespace(kind: str) -> str:
    return os.readlink(f"/proc/self/ns/{kind}")


def clone_and_report(flags: int, cgroup_fd: int) -> tuple[int, dict[str, str]]:
    """clone3 a child that reads its cgroup and uts namespace first thing and sends them back."""
    reader, writer = os.pipe()
    pid = syscalls.clone3(flags, SIGCHLD, cgroup_fd)
    if pid == 0:
        try:
            with open("/proc/self/cgroup") as handle:
                cgroup = handle.read()
            os.write(writer, json.dumps({"cgroup": cgroup, "uts": own_namespace("uts")}).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as handle:
        data = handle.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return pid, json.loads(data)


@needs_unified
@pytest.mark.parametrize("open_flags", [os.O_PATH, os.O_RDONLY], ids=["O_PATH", "O_RDONLY"])
def test_clone3_starts_the_child_in_the_cgroup(v2_cgroup: str, open_flags: int) -> None:
    fd = os.open(v2_cgroup, open_flags | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        pid, seen = clone_and_report(NAMESPACE_FLAGS["uts"], fd)
    finally:
        os.close(fd)
    # The v2 line of /proc/self/cgroup, read by the child before anything else: nobody moved it.
    assert f"0::/{os.path.basename(v2_cgroup)}\n" in seen["cgroup"]
    assert seen["uts"] != own_namespace("uts")  # the namespace flag went through too
    assert pid > 0
    with open(f"{v2_cgroup}/cgroup.procs") as handle:
        assert handle.read() == ""  # reaped: the cgroup is empty again, and rmdir can remove it


@needs_unified
def test_clone3_refuses_a_v1_cgroup(tmp_path: Path) -> None:
    """CLONE_INTO_CGROUP takes only a v2 directory: a v1 one fails (EBADF), not a silent clone."""
    v1 = "/sys/fs/cgroup/pids"
    if not os.path.isdir(v1):
        pytest.skip("no v1 pids hierarchy")
    fd = os.open(v1, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with pytest.raises(OSError) as raised:
            syscalls.clone3(0, SIGCHLD, fd)
    finally:
        os.close(fd)
    assert raised.value.errno == errno.EBADF and raised.value.errno not in syscalls.CLONE3_REFUSED


def helper_run(*args: str) -> tuple[int, str, str]:
    import subprocess

    result = subprocess.run(
        [sys.executable, HELPER, *args], capture_output=True, text=True, timeout=60, check=False
    )
    return result.returncode, result.stdout, result.stderr


# Inside the container /sys/fs/cgroup is a cgroup2 mount rooted at its cgroup (the cgroup
# namespace): its cgroup.procs lists exactly the container's pid 1 when it is in its own cgroup.
IN_OWN_CGROUP = ["--", "/bin/cat", "/sys/fs/cgroup/cgroup.procs"]


@needs_unified
def test_the_runtime_clones_its_init_into_the_v2_cgroup() -> None:
    status, out, err = helper_run("run", *IN_OWN_CGROUP)
    assert status == 0, err
    assert out == "1\n"
    assert "clone3" not in err  # no fallback warning


@needs_unified
@pytest.mark.parametrize("refused", [errno.ENOSYS, errno.EPERM])
def test_where_clone3_is_refused_the_runtime_falls_back_to_clone_and_cgroup_procs(refused: int) -> None:
    status, out, err = helper_run("--refuse-clone3", str(refused), "run", *IN_OWN_CGROUP)
    assert status == 0, err
    assert out == "1\n"  # in its cgroup all the same, through cgroup.procs
    name = errno.errorcode[refused]
    warnings = [line for line in err.splitlines() if "clone3 refused" in line]
    assert warnings == [
        f"boxtrace: clone3 refused ({name}): the container's process is started with clone and moved"
        " into its cgroup through cgroup.procs, as crun does"
    ]


def syscall_events(trace: Path) -> list[SyscallEvent]:
    _, events = read_trace(str(trace))
    return [e for e in events if isinstance(e, SyscallEvent)]


def cgroup_procs_writes(events: list[SyscallEvent]) -> list[SyscallEvent]:
    return [e for e in events if e.name == "write" and e.detail.get("cgroup_file") == "cgroup.procs"]


def assert_cloned_into_cgroup(events: list[SyscallEvent], root: str) -> None:
    """The trace shows one clone3 with CLONE_INTO_CGROUP and the cgroup's path, and no cgroup.procs
    write (the parent never moves the init)."""
    (made,) = [e for e in events if e.name == "mkdir" and e.category_name == "cgroup"]
    path = made.detail["path"]
    assert path.startswith(f"{root}/boxtrace-")
    (clone3,) = [e for e in events if e.name == "clone3"]
    assert "CLONE_INTO_CGROUP" in clone3.args[0].flags and "CLONE_NEWPID" in clone3.args[0].flags
    assert clone3.detail["cgroup_path"] == path
    assert clone3.args[0].text.endswith(f"<{path}>}}") and clone3.args[1].text == "88"
    assert isinstance(clone3.result, int) and clone3.result > 0
    assert not [e for e in events if e.name == "clone" and e.detail.get("namespaces")]
    assert cgroup_procs_writes(events) == []


@needs_unified
def test_the_trace_shows_clone3_into_the_cgroup_and_no_cgroup_procs_write(tmp_path: Path) -> None:
    trace = tmp_path / "v2.jsonl"
    result = boxtrace("trace", "-o", str(trace), "--", sys.executable, HELPER, "run", "--", "/bin/true")
    assert result.returncode == 0, result.stderr[-2000:]
    assert_cloned_into_cgroup(syscall_events(trace), UNIFIED)
    coverage = boxtrace("explain", "--coverage", str(trace))
    total = len(read_trace(str(trace))[1])
    assert coverage.stdout.splitlines()[-1] == f"coverage: {total}/{total} events explained specifically"


@needs_unified
def test_the_trace_of_a_fallback_shows_the_refused_clone3_then_clone_and_cgroup_procs(tmp_path: Path) -> None:
    """With every call traced (--all) the tracer stops at clone3's entry before any seccomp filter
    runs, so the refused call is in the trace. (In the default filtered mode an outer filter's
    ERRNO outranks the tracer's own SECCOMP_RET_TRACE: the refused clone3 never stops, and the
    runtime's warning is what tells.)"""
    trace = tmp_path / "fallback.jsonl"
    command = [sys.executable, HELPER, "--refuse-clone3", str(errno.ENOSYS), "run", "--", "/bin/true"]
    result = boxtrace("trace", "--all", "-o", str(trace), "--", *command, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    events = syscall_events(trace)
    refused = [e for e in events if e.name == "clone3" and "CLONE_INTO_CGROUP" in (e.args[0].flags or ())]
    assert len(refused) == 1 and refused[0].errno == "ENOSYS"
    after = events[events.index(refused[0]) :]
    (clone,) = [e for e in after if e.name == "clone" and e.detail.get("namespaces")]
    (procs,) = cgroup_procs_writes(after)
    assert after.index(clone) < after.index(procs)
    assert procs.detail["value"] == str(clone.result)

    from boxtrace.lessons.explain import explain

    explanation = explain(refused[0])
    assert "error.clone3.ENOSYS" in explanation.entries and not explanation.missing
    assert "cgroup.procs" in (explanation.result or "")


# --- a pure cgroup v2 host (the VM lane) ----------------------------------------------------------


@pytest.mark.cgroup_v2
def test_boxtrace_run_on_v2_clones_into_the_cgroup(tmp_path: Path) -> None:
    result = boxtrace("run", "--no-trace", "--", "/bin/cat", "/sys/fs/cgroup/cgroup.procs", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "1"
    assert "clone3 refused" not in result.stderr


@pytest.mark.cgroup_v2
def test_the_trace_of_boxtrace_run_on_v2_shows_clone3_into_the_cgroup(tmp_path: Path) -> None:
    trace = tmp_path / "run.jsonl"
    command = [sys.executable, "-m", "boxtrace.runtime", "run", "--", "/bin/true"]
    result = boxtrace("trace", "-o", str(trace), "--", *command, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_cloned_into_cgroup(syscall_events(trace), "/sys/fs/cgroup")

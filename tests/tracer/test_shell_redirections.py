"""Cgroup and id-map writes made through a shell redirection: `echo 5 > pids.max` opens the file,
moves it to fd 1 and writes fd 1, which the seccomp filter does not trap (fds 0-2 are output).
The engine steps such a task from that open on, so the value written is still recorded."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from trace_helpers import trace

from tests.conftest import needs_root

pytestmark = needs_root


def pids_hierarchy() -> str:
    """A cgroup directory where a pids.max file can be written: v1 pids, else the v2 root."""
    for candidate in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(candidate, "cgroup.procs")) and (
            candidate.endswith("/pids") or "pids" in Path(f"{candidate}/cgroup.subtree_control").read_text()
        ):
            return candidate
    pytest.skip("no pids controller to write pids.max in")


@pytest.fixture
def cgroup_dir() -> Iterator[str]:
    path = os.path.join(pids_hierarchy(), f"boxtrace-test-{uuid.uuid4().hex[:8]}")
    os.mkdir(path)
    try:
        yield path
    finally:
        os.rmdir(path)


@pytest.mark.parametrize("how", ["builtin", "external", "subshell"])
def test_a_redirected_write_to_a_cgroup_file_is_recorded(cgroup_dir: str, how: str) -> None:
    target = f"{cgroup_dir}/pids.max"
    script = {
        "builtin": f"echo 7 > {target}",
        "external": f"/bin/echo 7 > {target}",
        "subshell": f"(echo 7) > {target}",
    }[how]
    collected = trace(["sh", "-c", f"{script}; echo done"])
    assert collected.result.exit_code == 0
    writes = [e for e in collected.syscalls("write") if e.category_name == "cgroup"]
    assert len(writes) == 1, [(e.name, e.args) for e in collected.syscalls()]
    write = writes[0]
    assert write.args[0].raw == 1 and write.args[0].text == f"1<{target}>"
    assert write.detail["cgroup_file"] == "pids.max" and write.result == 2
    assert Path(target).read_text().strip() == "7"
    # The shell's own output on fd 1 later ("done") is output, not a cgroup write.
    assert not [e for e in collected.syscalls("write") if e.category_name != "cgroup"]


def test_a_task_that_never_opens_such_a_file_is_not_stepped() -> None:
    collected = trace(["sh", "-c", "echo a; echo b > /dev/null; /bin/echo c"])
    assert collected.result.exit_code == 0
    assert collected.syscalls("write") == []
    # Few stops: the filter still does the work (one per traced call, process events, exits).
    assert collected.result.stops < 40


def test_a_program_that_writes_the_file_directly_is_not_stepped(cgroup_dir: str) -> None:
    """runc and crun open a cgroup file and write its fd: nothing to watch on fds 0-2."""
    program = (
        f"import os; fd = os.open('{cgroup_dir}/pids.max', os.O_WRONLY); os.write(fd, b'9')\n"
        "for _ in range(200): os.getpid()"
    )
    collected = trace([sys.executable, "-c", program])
    assert collected.result.exit_code == 0
    [write] = [e for e in collected.syscalls("write") if e.category_name == "cgroup"]
    assert write.detail["value"] == "9"
    assert not collected.syscalls("dup2")
    assert collected.result.stops < 60  # not stepped: Python's start-up alone makes hundreds of calls


def test_the_dup2_that_moves_the_file_onto_stdout_is_reported(cgroup_dir: str) -> None:
    collected = trace(["sh", "-c", f"echo 3 > {cgroup_dir}/pids.max"])
    [dup] = collected.syscalls("dup2")
    assert dup.category_name == "cgroup" and dup.args[1].raw == 1
    assert dup.args[0].text.endswith("/pids.max>") and dup.result == 1

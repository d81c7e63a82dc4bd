"""A recorded create (``boxtrace-runtime --record create``) whose caller is killed before it got the
runtime's status leaves nothing behind: the background recorder stops the runtime and deletes the
container (boxtrace/caller_watch.py), at every moment: before the runtime registered the container,
while it creates it, and after the create finished but before the caller read the status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from boxtrace.tracer.tracefile import read_trace
from tests.conftest import make_busybox_bundle, needs_root
from tests.runtime.guard_helpers import MARK, container_cgroups, marked_processes, state_dirs, wait_for

pytestmark = needs_root

RUNTIME = Path(sys.executable).with_name("boxtrace-runtime")


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


class Create:
    """``boxtrace-runtime --root ROOT --record create`` of a busybox bundle, and what it leaves."""

    def __init__(self, tmp_path: Path, container_id: str) -> None:
        self.id = container_id
        self.root = tmp_path / "state"
        self.spool = tmp_path / "spool"
        self.bundle = make_busybox_bundle(tmp_path / "bundle", ["/bin/sleep", "897"])
        env = {**os.environ, "BOXTRACE_SPOOL": str(self.spool), MARK: container_id}
        argv = [str(RUNTIME), "--root", str(self.root), "--record", "create", "--bundle", str(self.bundle)]
        self.proc = subprocess.Popen(
            [*argv, container_id], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env
        )

    def spool_files(self, hidden: bool) -> list[Path]:
        if not self.spool.is_dir():
            return []
        return [p for p in self.spool.iterdir() if p.name.startswith(".") == hidden]

    def runtime_pid(self) -> int | None:
        """The traced runtime: the recorder's child (the caller's child) that runs boxtrace-runtime
        (the container's first process and the runtime's guard are its own children, with the
        same command line)."""
        marked = marked_processes(self.id)
        recorders = [pid for pid in marked if _parent(pid) == self.proc.pid]
        return next(
            (
                pid
                for pid, comm in marked.items()
                if _parent(pid) in recorders and "create" in _cmdline(pid) and comm != "boxtrace-guard"
            ),
            None,
        )

    def state_has(self, key: str) -> bool:
        try:
            return key in json.loads((self.root / self.id / "state.json").read_text())
        except (OSError, ValueError):
            return False

    def leftovers(self) -> list[str]:
        return [
            *state_dirs(self.root, self.id),
            *container_cgroups(self.id),
            *(f"process {pid} ({comm})" for pid, comm in marked_processes(self.id).items()),
            *(f"partial trace {p}" for p in self.spool_files(hidden=True)),
        ]


def _wait_then(create: Create, condition: Callable[[], object], what: str) -> None:
    """Poll (every millisecond) until condition holds; the create must not have ended before."""

    def ready() -> bool:
        if create.proc.poll() is not None:
            raise AssertionError(f"the create ended (status {create.proc.returncode}) before {what}")
        return bool(condition())

    wait_for(ready, what, timeout=60, poll=0.001)


POINTS = {
    # (a) the recorder runs the runtime, which has not registered the container yet
    "runtime-started": lambda c: c.spool_files(hidden=True),
    # (b) creating: the state directory, the cgroups, the container's first process
    "state-dir": lambda c: state_dirs(c.root, c.id),
    "cgroup": lambda c: container_cgroups(c.id),
    "cloned": lambda c: c.state_has("pid"),
}


@pytest.mark.parametrize(
    ("point", "sig"),
    [
        ("runtime-started", signal.SIGKILL),
        ("state-dir", signal.SIGKILL),
        ("cgroup", signal.SIGTERM),
        ("cloned", signal.SIGKILL),
        ("created-unread", signal.SIGKILL),
    ],
)
def test_a_killed_recorded_create_leaves_nothing(tmp_path: Path, point: str, sig: signal.Signals) -> None:
    create = Create(tmp_path, f"kc-{os.getpid()}-{point}")
    try:
        if point == "created-unread":
            # (c) the create finished while its caller, stopped, had not read the status yet
            _wait_then(create, lambda: create.spool_files(hidden=True), "the recorder's start")
            create.proc.send_signal(signal.SIGSTOP)
            # The runtime records the container's process, then exits: a create can be over in
            # less time than one scan of /proc takes, so it is not watched alive. Once the pid is
            # recorded the runtime execs nothing more (its command line, which reads empty during
            # an exec, is there until it ends), and the container's process is no child of the
            # recorder: no runtime found then means the create has finished.
            wait_for(lambda: create.state_has("pid"), "the container's process", timeout=60)
            wait_for(lambda: create.runtime_pid() is None, "the create to finish", timeout=60)
        else:
            _wait_then(create, lambda: POINTS[point](create), point)
        create.proc.send_signal(sig)
        create.proc.wait(timeout=30)
        wait_for(lambda: not create.leftovers(), "the recorder to undo the create", timeout=60)
    finally:
        if create.proc.poll() is None:
            create.proc.kill()
            create.proc.wait()
        left = create.leftovers()
        if left:
            subprocess.run(
                [str(RUNTIME), "--root", str(create.root), "delete", "--force", create.id], timeout=60
            )
    assert not left, f"left behind: {left}"
    for trace in create.spool_files(hidden=False):
        read_trace(str(trace))  # a create that was undone is filed as a readable trace

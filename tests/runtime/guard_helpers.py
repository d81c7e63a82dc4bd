"""Helpers of the SIGKILL tests: start a container command, kill it when a condition holds, and
list what it left (state directories, cgroups, mounts, processes)."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

# Put into the environment of every command a test starts: its processes (the runtime, the
# tracer, the guard, a container's first process before execve) carry it in /proc/PID/environ.
MARK = "BOXTRACE_TEST_GUARD_MARK"


def marked_processes(mark: str) -> dict[int, str]:
    """pid -> comm of the live (not zombie) processes whose environment holds MARK=mark."""
    needle = f"{MARK}={mark}".encode()
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if needle not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{name}/stat") as handle:
                comm, _, rest = handle.read().rpartition(")")
            if rest.split()[0] in ("Z", "X"):
                continue
            found[int(name)] = comm.partition("(")[2]
        except OSError:
            continue
    return found


def processes_with_args(args: list[str]) -> list[int]:
    wanted = "\0".join(args).encode() + b"\0"
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    if handle.read() == wanted:
                        found.append(int(name))
            except OSError:
                continue
    return found


def container_cgroups(container_id: str) -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/*/boxtrace-{container_id}") + glob.glob(
        f"/sys/fs/cgroup/boxtrace-{container_id}"
    )


def state_dirs(root: Path, container_id: str) -> list[str]:
    return [str(root / container_id)] * (root / container_id).exists() + glob.glob(
        str(root / f".{container_id}~*")
    )


def mounts_of(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as handle:
        return [line.split()[4] for line in handle if str(path) in line.split()[4]]


def leftovers(root: Path, container_id: str, mark: str, sleeper: list[str]) -> list[str]:
    return [
        *state_dirs(root, container_id),
        *container_cgroups(container_id),
        *mounts_of(root / container_id),
        *(f"process {pid} ({comm})" for pid, comm in marked_processes(mark).items()),
        *(f"container process {pid}" for pid in processes_with_args(sleeper)),
    ]


T = TypeVar("T")


def wait_for(predicate: Callable[[], T], what: str, timeout: float = 30.0, poll: float = 0.05) -> T:
    """The predicate's first true value."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll)
    return value


def kill_when(proc: subprocess.Popen[bytes], condition: Callable[[], object], what: str) -> None:
    """SIGKILL proc as soon as condition holds (polled every millisecond, so that "the state
    directory appeared" is caught a moment after the mkdir)."""
    deadline = time.monotonic() + 60
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the command ended (status {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def assert_nothing_left(root: Path, container_id: str, mark: str, sleeper: list[str]) -> None:
    """Wait (bounded, polling) until the killed command's guard has removed everything."""
    try:
        wait_for(lambda: not leftovers(root, container_id, mark, sleeper), "the guard to clean up")
    except AssertionError:
        left = leftovers(root, container_id, mark, sleeper)
        raise AssertionError(f"left behind: {left}") from None

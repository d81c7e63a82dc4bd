"""Freeze and thaw a container's cgroup: what `pause` and `resume` do (runc's Freeze).

Frozen tasks stop wherever they are, even in the kernel, and do not run again until thawed; no
signal reaches them (SIGKILL too waits for the thaw). Two interfaces, one per cgroup version:

* v1, the freezer hierarchy: write FROZEN to ``freezer.state``; the kernel answers FREEZING while
  it is still stopping tasks, and a task that forks at the wrong moment can keep it there, so the
  write is repeated until the file reads FROZEN (runc retries the same way, thawing now and then).
* v2, ``cgroup.freeze`` in the container's cgroup: write 1; the cgroup is frozen once
  ``cgroup.events`` says ``frozen 1``. The kernel notifies a change of cgroup.events to poll(2)
  (POLLPRI), so the wait sleeps until then instead of polling the file.
"""

from __future__ import annotations

import os
import select
import time

from boxtrace.runtime.errors import ContainerError

FREEZE_TIMEOUT_SECONDS = 10.0
# v1: after this many FREEZING answers in a row, thaw for a moment so that tasks that keep
# forking settle, then try again (runc's numbers: every 50 tries, 10 ms).
_V1_THAW_EVERY = 50
_V1_THAW_PAUSE = 0.01
_V1_RETRY_PAUSE = 0.001  # runc spins; a short sleep keeps a busy host's CPU for the tasks to freeze

# The file that tells each interface apart, and the values written to it.
_V1_STATE = "freezer.state"
_V2_FREEZE = "cgroup.freeze"
_VALUES = {
    _V1_STATE: {True: "FROZEN", False: "THAWED"},
    _V2_FREEZE: {True: "1", False: "0"},
}


def freezer_file(dirs: list[str]) -> str | None:
    """The freezer file among the container's cgroup directories (v1 freezer.state or v2
    cgroup.freeze), or None when the container has no freezer."""
    for directory in dirs:
        for name in (_V1_STATE, _V2_FREEZE):
            path = os.path.join(directory, name)
            if os.path.exists(path):
                return path
    return None


def is_frozen(dirs: list[str]) -> bool:
    """Frozen by its own freezer (not merely by a frozen parent): what `state` calls paused."""
    path = freezer_file(dirs)
    if path is None:
        return False
    try:
        if path.endswith(_V2_FREEZE):
            return _read(path) == "1"
        if _read(path) == "THAWED":
            return False
        self_freezing = os.path.join(os.path.dirname(path), "freezer.self_freezing")
        return not os.path.exists(self_freezing) or _read(self_freezing) == "1"
    except OSError:  # the cgroup went away with the container
        return False


def freeze(dirs: list[str], timeout: float = FREEZE_TIMEOUT_SECONDS) -> None:
    """Freeze every process of the cgroup and return once the kernel says they all are."""
    path = _require(dirs, "pause")
    _write(path, _VALUES[os.path.basename(path)][True])
    try:
        if path.endswith(_V2_FREEZE):
            _wait_v2_frozen(os.path.join(os.path.dirname(path), "cgroup.events"), timeout)
        else:
            _wait_v1_frozen(path, timeout)
    except BaseException:
        # A cgroup left FREEZING would stop processes at random: thaw it back, as runc does.
        _write(path, _VALUES[os.path.basename(path)][False])
        raise


def thaw(dirs: list[str]) -> None:
    path = _require(dirs, "resume")
    _write(path, _VALUES[os.path.basename(path)][False])


def _wait_v1_frozen(path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    tries = 0
    while True:
        state = _read(path)
        if state == "FROZEN":
            return
        if state != "FREEZING":
            raise ContainerError(f"unexpected freezer state {state!r} in {path} while freezing", 1)
        if time.monotonic() > deadline:
            raise ContainerError(f"unable to freeze: {path} stayed FREEZING for {timeout:.0f} s", 1)
        tries += 1
        if tries % _V1_THAW_EVERY == 0:
            _write(path, "THAWED")
            time.sleep(_V1_THAW_PAUSE)
        _write(path, "FROZEN")
        time.sleep(_V1_RETRY_PAUSE)


def _wait_v2_frozen(events: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    fd = os.open(events, os.O_RDONLY | os.O_CLOEXEC)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLPRI)
        while True:
            if _events_frozen(fd):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise ContainerError(f"unable to freeze: no 'frozen 1' in {events} after {timeout:.0f} s", 1)
            poller.poll(left * 1000)
    finally:
        os.close(fd)


def _events_frozen(fd: int) -> bool:
    for line in os.pread(fd, 4096, 0).decode().splitlines():
        key, _, value = line.partition(" ")
        if key == "frozen":
            return value.strip() == "1"
    raise ContainerError("cgroup.events has no 'frozen' line: this kernel has no cgroup v2 freezer (5.2+)", 1)


def _require(dirs: list[str], command: str) -> str:
    path = freezer_file(dirs)
    if path is None:
        raise ContainerError(
            f"cannot {command}: the container has no freezer cgroup (no freezer.state or cgroup.freeze "
            f"in {', '.join(dirs) or 'its cgroups, which it does not have'})",
            1,
        )
    return path


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read().strip()


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise ContainerError(f"write {value} to {path}: {exc.strerror}", 1) from None
    finally:
        os.close(fd)

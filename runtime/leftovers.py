"""What a dead container leaves behind, and removing it: its cgroups (the processes left in them
first), mounts under its state directory, and the state directory itself.

Three callers: the cleanup guard (runtime/guard.py) when the process running a container died,
the sweep at the start of every `boxtrace run` (``sweep``), and `boxtrace cleanup` (``find`` +
``remove``). The runtime writes what it is about to create into state.json first (write-ahead:
``cgroups_planned`` before the mkdirs, ``cgroups`` once they exist), so a runtime killed at any
moment leaves a record of it.

A cgroup named ``boxtrace-*`` with no state directory at all is removed only when nothing can
still own it: no process in it, no state directory of that id in a root we know, and older than
``ORPHAN_GRACE`` (a runtime may have made it a moment ago and not yet moved its container in).
"""

from __future__ import annotations

import os
import time

from boxtrace.runtime import quick_json
from boxtrace.runtime.cgroups import remove_cgroup_dir
from boxtrace.runtime.constants import MNT_DETACH, SIGKILL
from boxtrace.runtime.quiet import suppress
from boxtrace.runtime.records import record

# A state directory is built under this name and renamed into place once its state.json exists:
# ".ID~PID" (PID: the runtime's). "~" is not allowed in an id, so it never names a container.
CREATING_MARK = "~"
CGROUP_PREFIX = "boxtrace-"
# How old an empty boxtrace-* cgroup without state must be before it counts as left behind.
ORPHAN_GRACE = 60.0
# A state directory without a readable state.json (written by boxtrace before 0.4, which did not
# build it aside): after this long it is a leftover of a runtime killed between mkdir and write.
UNREADABLE_STATE_GRACE = 60.0


@record
class Leftover:
    """One thing to remove: kind is "cgroup", "empty-cgroup" (rmdir only: the runtime may have
    died before making it, and then it is not ours to kill), "mount", "empty-dir" (rmdir only:
    never what a user put there) or "state"."""

    kind: str
    path: str
    why: str
    keep_upper: bool = False

    def describe(self) -> str:
        noun = {"empty-cgroup": "cgroup", "empty-dir": "directory"}.get(self.kind, self.kind)
        return f"{noun} {self.path} ({self.why})"


def creating_name(container_id: str, pid: int) -> str:
    return f".{container_id}{CREATING_MARK}{pid}"


def read_state(path: str) -> dict[str, object] | None:
    try:
        with open(os.path.join(path, "state.json")) as handle:
            state = quick_json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- one container ------------------------------------------------------------------------------------


def container_leftovers(path: str, state: dict[str, object], why: str) -> list[Leftover]:
    """Everything a dead container at ``path`` may have left, in the order to remove it."""
    made = [str(d) for d in _strings(state.get("cgroups"))]
    planned = [str(d) for d in _strings(state.get("cgroups_planned")) if d not in made]
    found = [Leftover("cgroup", d, why) for d in reversed(made) if os.path.isdir(d)]
    found += [Leftover("empty-cgroup", d, why) for d in reversed(planned) if os.path.isdir(d)]
    found += [Leftover("mount", m, why) for m in mounts_under(path)]
    old_root = state.get("old_root")  # --without detach on a bundle: put_old in its rootfs
    if isinstance(old_root, str) and os.path.isdir(old_root):
        found.append(Leftover("empty-dir", old_root, why))
    found.append(Leftover("state", path, why, keep_upper=bool(state.get("keep"))))
    return found


def remove(item: Leftover) -> None:
    """Remove one leftover; raises OSError when it cannot."""
    if item.kind == "cgroup":
        kill_cgroup(item.path)
        remove_cgroup_dir(item.path, timeout=5.0)
    elif item.kind in ("empty-cgroup", "empty-dir"):
        with suppress(FileNotFoundError):
            os.rmdir(item.path)
    elif item.kind == "mount":
        from boxtrace.runtime.syscalls import umount2

        umount2(item.path, MNT_DETACH)
    else:
        _remove_state(item.path, item.keep_upper)


def remove_quietly(items: list[Leftover]) -> None:
    for item in items:
        with suppress(OSError):
            remove(item)


def kill_cgroup(path: str, timeout: float = 5.0) -> None:
    """SIGKILL every process in the cgroup: cgroup.kill where the kernel has it (v2, 5.14), else
    each pid of cgroup.procs until none is left (a fork may add one while we read)."""
    kill_file = os.path.join(path, "cgroup.kill")
    if os.path.exists(kill_file):
        _write(kill_file, "1")
        return
    deadline = time.monotonic() + timeout
    while pids := cgroup_pids(path):
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, SIGKILL)
        _thaw(path)  # a frozen process cannot die
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)


def cgroup_pids(path: str) -> list[int]:
    try:
        with open(os.path.join(path, "cgroup.procs")) as handle:
            return [int(line) for line in handle if line.strip()]
    except (OSError, ValueError):
        return []


def _thaw(path: str) -> None:
    freezer = os.path.join(os.path.dirname(os.path.dirname(path)), "freezer", os.path.basename(path))
    for candidate in (os.path.join(path, "freezer.state"), os.path.join(freezer, "freezer.state")):
        with suppress(OSError):
            _write(candidate, "THAWED")


def mounts_under(path: str) -> list[str]:
    """Mount points at or below path in this mount namespace, deepest first."""
    found = []
    prefix = path.rstrip("/") + "/"
    try:
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                point = _unescape(line.split(" ", 5)[4])
                if point == path or point.startswith(prefix):
                    found.append(point)
    except OSError:
        return []
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def _remove_state(path: str, keep_upper: bool) -> None:
    from boxtrace.runtime.state import remove_tree

    if not keep_upper:
        remove_tree(path)
        return
    for name in os.listdir(path):
        if name != "upper":
            remove_tree(os.path.join(path, name))


# --- a whole root, and cgroups without state ---------------------------------------------------------


def find(
    roots: list[str],
    grace: float = ORPHAN_GRACE,
    oci_roots: tuple[str, ...] = (),
    dead_oci_roots: tuple[str, ...] = (),
) -> list[Leftover]:
    """Leftovers of dead containers: state directories in ``roots`` whose runtime is gone, and
    boxtrace-* cgroups no container owns. ``oci_roots`` hold `boxtrace-runtime create`d
    containers: their ids are never taken for orphans (their cgroups are `delete`'s).
    ``dead_oci_roots``: OCI roots whose dead containers (no runtime, no process) go too."""
    found: list[Leftover] = []
    known_ids: set[str] = set()
    for root in roots:
        found += _dead_in_root(root, known_ids)
    for root in dead_oci_roots:
        found += _dead_in_root(root, known_ids, oci=True)
    for root in oci_roots:
        with suppress(OSError):
            known_ids.update(os.listdir(root))
    claimed = {item.path for item in found}
    found += [Leftover("cgroup", d, why) for d, why in orphan_cgroups(known_ids, grace) if d not in claimed]
    return found


def _dead_in_root(root: str, known_ids: set[str], oci: bool = False) -> list[Leftover]:
    try:
        names = os.listdir(root)
    except OSError:
        return []
    found: list[Leftover] = []
    for name in names:
        path = os.path.join(root, name)
        container_id, mark, pid_text = name.lstrip(".").partition(CREATING_MARK)
        known_ids.add(container_id)
        state = read_state(path)
        if mark:  # a state directory still being built by runtime PID
            if pid_text.isdigit() and pid_alive(int(pid_text)):
                continue
            found += container_leftovers(path, state or {}, f"runtime {pid_text} died while creating it")
            continue
        if state is None:
            try:
                if time.time() - os.stat(path).st_mtime < UNREADABLE_STATE_GRACE:
                    continue
            except OSError:
                continue
            found += container_leftovers(path, {}, "no readable state.json")
            continue
        pid = state.get("runtime_pid")
        if isinstance(pid, int) and pid_alive(pid):
            continue
        if oci and _container_alive(state):
            continue  # created: it outlives its create command until `delete`
        found += container_leftovers(path, state, f"runtime {pid} is gone")
    return found


def _container_alive(state: dict[str, object]) -> bool:
    """A created container is alive while its first process (the same one: same start time) or
    any process in its cgroups is."""
    from boxtrace.runtime.state import process_start_time

    pid = state.get("pid")
    if isinstance(pid, int) and pid > 0:
        started = process_start_time(pid)
        if started is not None and started == state.get("pid_start", started):
            return True
    return any(cgroup_pids(d) for d in _strings(state.get("cgroups")))


def orphan_cgroups(known_ids: set[str], grace: float) -> list[tuple[str, str]]:
    """(path, why) of every boxtrace-ID cgroup, in every hierarchy, that nothing owns: no process
    in it, no state of that ID known, and older than grace seconds. Only top-level boxtrace-*
    names: podman's and Docker's cgroupsPath (/libpod_parent/libpod-ID, /docker/ID) never match."""
    found = []
    now = time.time()
    for hierarchy in cgroup_mounts():
        try:
            names = os.listdir(hierarchy)
        except OSError:
            continue
        for name in names:
            if not name.startswith(CGROUP_PREFIX) or name[len(CGROUP_PREFIX) :] in known_ids:
                continue
            path = os.path.join(hierarchy, name)
            try:
                age = now - os.stat(path).st_mtime
            except OSError:
                continue
            if age < grace or cgroup_pids(path) or _has_children(path):
                continue
            found.append((path, f"no state, no process, {int(age)} s old"))
    return sorted(found)


def cgroup_mounts() -> list[str]:
    """Mount points of every cgroup (v1) and cgroup2 hierarchy."""
    points = []
    try:
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                fields, _, rest = line.partition(" - ")
                if rest.split(" ", 1)[0] in ("cgroup", "cgroup2"):
                    points.append(_unescape(fields.split(" ")[4]))
    except OSError:
        return []
    return points


def sweep(root: str) -> None:
    """Remove what dead containers left in ``root`` and cgroups no container owns (quietly: this
    runs at the start of every `boxtrace run`)."""
    from boxtrace.runtime.state import oci_state_root

    remove_quietly(find([root], oci_roots=(oci_state_root(),)))


def _has_children(path: str) -> bool:
    try:
        with os.scandir(path) as entries:
            return any(entry.is_dir(follow_symlinks=False) for entry in entries)
    except OSError:
        return True


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _unescape(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040 ...)."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1 : i + 4].isdigit():
            out.append(chr(int(text[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)

"""Steps a weakened container leaves out on purpose (`boxtrace run --without STEP`).

Each step function of runtime/container.py that can be left out asks :func:`left_out` at its top.
When the step is left out, the runtime marks the place in the syscall stream with
``prctl(PR_SET_NAME, "skip:STEP")`` and puts its name back with a second PR_SET_NAME: the tracer
records every PR_SET_NAME with its string (it keeps comm names current), so the catalogue can say
"left out on purpose" exactly where the step would have been, while `boxtrace diff` (which does not
count PR_SET_NAME as a step of building a container) shows only the calls that are missing. A comm
name is at most 15 bytes: the step names are at most 10, after the 5 of "skip:".
"""

from __future__ import annotations

import ctypes
import errno
import os

from boxtrace.runtime import syscalls
from boxtrace.runtime.constants import MNT_DETACH, MS_BIND, MS_REC, MS_SHARED, MS_SLAVE
from boxtrace.runtime.errors import RuntimeUsageError
from boxtrace.runtime.quiet import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from boxtrace.runtime.spec import Spec

MARKER_PREFIX = "skip:"
PR_SET_NAME = 15
PR_GET_NAME = 16
TASK_COMM_LEN = 16

# name -> what is left out, one line (`boxtrace run --without list`), in the order the steps run.
STEPS: dict[str, str] = {
    "cgroup": "the cgroup: no memory, pids or cpu limit, no device rules (it runs in the runtime's cgroup)",
    "devices": "the device rules (v1 devices.deny/allow, v2 the eBPF program): any device node may be opened",
    "pidns": "the PID namespace (CLONE_NEWPID): the container shares the host's process ids",
    "idmap": "rootless: the user namespace's uid_map/gid_map: uid 65534 inside; the start fails",
    "private": "making / private (MS_REC|MS_PRIVATE): mounts propagate between host and container",
    "proc": "the container's own /proc mount: /proc is the image's empty directory",
    "masks": "the masked paths (/proc/kcore, /proc/timer_list, /sys/firmware...): host facts stay readable",
    "readonly": "the read-only paths (/proc/sys, /proc/sysrq-trigger...): they stay writable",
    "pivot_root": "pivot_root: the runtime chroots into the rootfs instead; the host's root stays mounted",
    "detach": "detaching the old root after pivot_root: it stays mounted at /.oldroot inside",
    "nonewprivs": "no_new_privs: a setuid-root program run by another user gets root",
    "seccomp": "loading the seccomp filter (of a bundle's linux.seccomp or --seccomp FILE)",
    "caps": "the capability drop (bounding set and capset): the process keeps every capability of root",
}
assert all(len(MARKER_PREFIX + name) < TASK_COMM_LEN for name in STEPS)

# Where --without pivot_root / detach leave things, inside the container.
OLD_ROOT = ".oldroot"


def parse_without(values: list[str]) -> frozenset[str]:
    """--without values (repeatable, or comma-separated) to step names; a wrong name is a usage error."""
    names = {name.strip() for value in values for name in value.split(",") if name.strip()}
    unknown = sorted(names - STEPS.keys())
    if unknown:
        raise RuntimeUsageError(
            f"--without {', '.join(unknown)}: no such step; 'boxtrace run --without list' lists them"
        )
    return frozenset(names)


# The OCI path (boxtrace-runtime create/run with a bundle): config.json's annotation naming the
# steps to leave out, comma-separated, as --without takes them.
ANNOTATION = "org.boxtrace.without"


def from_annotation(annotations: dict[str, str], rootless: bool) -> frozenset[str]:
    """The steps config.json's ``org.boxtrace.without`` leaves out; a wrong value is a usage error."""
    value = annotations.get(ANNOTATION)
    if value is None:
        return frozenset()
    if rootless:
        raise RuntimeUsageError(
            f"config.json: annotation {ANNOTATION} is honoured only for a container run as root:"
            " remove it, or run the runtime as root"
        )
    try:
        without = parse_without([value])
    except RuntimeUsageError:
        unknown = sorted({n.strip() for n in value.split(",") if n.strip()} - STEPS.keys())
        raise RuntimeUsageError(
            f"config.json: annotation {ANNOTATION}: no such step {', '.join(unknown)};"
            f" the steps are {', '.join(STEPS)}"
        ) from None
    if not without:
        raise RuntimeUsageError(f'config.json: annotation {ANNOTATION} is empty: name steps, e.g. "caps"')
    if "idmap" in without:
        raise RuntimeUsageError(
            f"config.json: annotation {ANNOTATION}: idmap is left out of rootless containers only,"
            " and the annotation is honoured as root only: remove idmap (use boxtrace run --without idmap)"
        )
    return without


def listing() -> str:
    width = max(map(len, STEPS))
    return "".join(f"  {name:<{width}}  {text}\n" for name, text in STEPS.items())


def left_out(without: frozenset[str], name: str) -> bool:
    """True when step ``name`` is left out; then the syscall stream gets its marker first."""
    if name not in without:
        return False
    mark(name)
    return True


def mark(name: str) -> None:
    """prctl(PR_SET_NAME, "skip:NAME"), then the old name back (what the next events show)."""
    old = ctypes.create_string_buffer(TASK_COMM_LEN)
    syscalls.prctl(PR_GET_NAME, ctypes.addressof(old))
    marker = ctypes.create_string_buffer((MARKER_PREFIX + name).encode(), TASK_COMM_LEN)
    syscalls.prctl(PR_SET_NAME, ctypes.addressof(marker))
    syscalls.prctl(PR_SET_NAME, ctypes.addressof(old))


def weakened_warning(without: frozenset[str], annotated: bool = False) -> str:
    names = ", ".join(name for name in STEPS if name in without)
    source = f"config.json's annotation {ANNOTATION}" if annotated else "boxtrace run --without"
    return f"this container is deliberately weakened: left out {names} ({source})"


def check_applicable(without: frozenset[str], spec: Spec, rootless: bool) -> None:
    """A step that this container does not have cannot be left out: say so before anything is made."""
    if "seccomp" in without and spec.seccomp is None:
        raise RuntimeUsageError(
            "--without seccomp: this container loads no seccomp filter (the default container has "
            "none); give --seccomp FILE or a bundle with linux.seccomp"
        )
    if "idmap" in without and not rootless:
        raise RuntimeUsageError("--without idmap: only a rootless container maps ids; add --rootless")


# --- the host side of "private": a shared mount, as systemd makes / -------------------------------


def share_directory(path: str) -> None:
    """Make the container's state directory a shared mount (bind onto itself, MS_SHARED): what `/`
    is on a systemd host, so that leaving out MS_PRIVATE shows the same here on any host. Every
    mount the container makes below it then propagates to the host; clean_host removes them."""
    syscalls.mount(path, path, None, MS_BIND)
    syscalls.mount(None, path, None, MS_SHARED)


def clean_host(state_path: str, rootfs: str, bundle: bool, warn: Callable[[str], None]) -> None:
    """After a weakened container: unmount what reached the host's mount table (propagated mounts,
    deepest first, then the shared state directory) and remove /.oldroot from a bundle's rootfs."""
    from boxtrace.runtime.leftovers import mounts_under

    found = mounts_under(state_path)
    propagated = [point for point in found if point != state_path]
    if propagated:
        shown = ", ".join(point.removeprefix(state_path + "/") for point in reversed(propagated))
        warn(
            f"the host's mount table had {len(propagated)} of the container's mounts"
            f" under {state_path}: {shown}"
        )
    for point in found:
        try:
            syscalls.umount2(point, MNT_DETACH)
        except OSError as exc:
            warn(f"could not unmount {point}: {exc.strerror}")
    if propagated:
        warn(f"unmounted them: the host's mount table has {len(mounts_under(state_path))} left there")
    if bundle:
        with suppress(OSError):
            os.rmdir(os.path.join(rootfs, OLD_ROOT))


# --- pivot_root, weakened ---------------------------------------------------------------------------


def pivot_weakened(rootfs: str, without: frozenset[str], warn: Callable[[str], None]) -> None:
    """pivot_root left out: chroot. The old root's detach left out: pivot_root with put_old at
    /.oldroot, which stays mounted. Private propagation left out: pivot_root refuses a rootfs whose
    parent mount is shared (EINVAL, pivot_root(2)), and the runtime falls back to chroot."""
    os.chdir(rootfs)
    if left_out(without, "pivot_root"):
        _chroot_here()
        return
    if "detach" in without:
        os.makedirs(OLD_ROOT, exist_ok=True)
        syscalls.pivot_root(".", OLD_ROOT)
        left_out(without, "detach")
        os.chdir("/")
        return
    try:
        syscalls.pivot_root(".", ".")
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        warn(
            "pivot_root refused (EINVAL: the rootfs's parent mount is shared, see pivot_root(2)):"
            " chroot instead"
        )
        _chroot_here()
        return
    syscalls.mount(None, ".", None, MS_SLAVE | MS_REC)
    syscalls.umount2(".", MNT_DETACH)
    os.chdir("/")


def _chroot_here() -> None:
    os.chroot(".")
    os.chdir("/")


# --- idmap, rootless: what an unmapped user namespace does to the start --------------------------

OVERFLOW_ID = 65534  # /proc/sys/kernel/overflowuid and overflowgid, as every distribution keeps them
# The container's environment variable through which `boxtrace run --without idmap` gives the
# claim to check (lessons/probes.toml): the probe cannot run in a container that never starts, so
# the runtime's child, which made the user namespace, checks it in the container's place.
IDMAP_CLAIM_ENV = "BOXTRACE_CLAIM_IDMAP"


class Unmapped:
    """What the child sees of itself in a user namespace with no uid_map or gid_map, read right
    where it would have become the namespace's root (container.become_root_in_user_namespace)."""

    __slots__ = ("gid", "root_owner", "setuid_error", "uid")

    def __init__(self) -> None:
        self.uid, self.gid = os.getuid(), os.getgid()
        try:
            os.setresuid(0, 0, 0)  # refused: uid 0 is mapped to no one (EINVAL)
            self.setuid_error = ""
        except OSError as exc:
            self.setuid_error = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        root = os.stat("/")
        self.root_owner = (root.st_uid, root.st_gid)

    def facts(self) -> str:
        setuid = f"fails with {self.setuid_error}" if self.setuid_error else "worked"
        owner = ":".join(map(str, self.root_owner))
        return (
            f"the process is uid {self.uid} gid {self.gid} (unmapped: the overflow ids),"
            f" setresuid(0, 0, 0) {setuid}, / shows as owned by {owner}"
        )

    def as_claimed(self) -> bool:
        return (
            (self.uid, self.gid) == (OVERFLOW_ID, OVERFLOW_ID)
            and self.setuid_error == "EINVAL"
            and self.root_owner == (OVERFLOW_ID, OVERFLOW_ID)
        )


# Why the start fails as the process it is: (child step, errno) -> the reason.
UNMAPPED_FAILURES = {
    ("mount rootfs", errno.EACCES): (
        "overlayfs creates files in its mode-000 work directory through the mounter's"
        " CAP_DAC_OVERRIDE, which applies only to files whose owner is mapped in the mounter's user"
        " namespace, and with no uid_map none is (user_namespaces(7))"
    ),
    ("create devices", errno.EOVERFLOW): (
        "a file made on a filesystem mounted in the user namespace (the container's /dev tmpfs)"
        " must get an owner mapped there, and the process's own uid is not"
    ),
}


def unmapped_report(
    unmapped: Unmapped, step: str, message: str, exc: BaseException, env: list[str]
) -> tuple[str, str]:
    """For a start that failed with no id maps: the failure message for the parent (why an
    unmapped process fails that way, and what it was), and the lines the idmap probe would end with
    (lessons/probes.py's format), "" when the container's environment carries no claim to check
    (not `boxtrace run`'s probes)."""
    number = exc.errno if isinstance(exc, OSError) else None
    why = UNMAPPED_FAILURES.get((step, number or 0))
    failure = f"{message}: {why}" if why else message
    claim = next((e.split("=", 1)[1] for e in env if e.startswith(IDMAP_CLAIM_ENV + "=")), None)
    verdict = ""
    if claim is not None:
        held = "yes" if unmapped.as_claimed() and why else "no"
        verdict = (
            "probe: idmap (the container did not start: its runtime checked the claim in its place)\n"
            f"claim: {claim}\n"
            f"saw:   {unmapped.facts()}; {failure}\n"
            f"held:  {held}\n"
        )
    return f"{failure}; the container cannot start (without idmap {unmapped.facts()})", verdict

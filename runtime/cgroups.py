"""Control groups: create the container's cgroup, write its limits, join it, read OOM kills, remove it.

Two writers share one interface: cgroup v1 (one hierarchy per controller, the legacy and hybrid
layout) and cgroup v2 (one unified tree). Which one a host has is detected, and both write to a
root path that tests can point at a temporary directory.
"""

from __future__ import annotations

import errno
import os
import time

from boxtrace.runtime.records import field, record

# The spec's types for annotations only: `boxtrace-runtime delete` removes cgroups without it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from boxtrace.runtime.spec import DeviceRule, Resources

CGROUP_ROOT = "/sys/fs/cgroup"
# v1 hierarchies an OCI container always gets, besides memory and pids: `pause` needs the freezer,
# `update` the cpu controller.
OCI_V1_CONTROLLERS: tuple[str, ...] = ("cpu", "freezer")
CFS_PERIOD_US = 100_000
# Device nodes the runtime creates; allowed after a "deny all" device rule (runc's AllowedDevices).
DEFAULT_ALLOWED_DEVICES: tuple[str, ...] = (
    "c 1:3 rwm",  # null
    "c 1:5 rwm",  # zero
    "c 1:7 rwm",  # full
    "c 1:8 rwm",  # random
    "c 1:9 rwm",  # urandom
    "c 5:0 rwm",  # tty
    "c 5:2 rwm",  # ptmx
    "c 136:* rwm",  # pts/*
)


def detect_cgroup_version(root: str = CGROUP_ROOT) -> str:
    """'v2' when the unified hierarchy is mounted at root (cgroup.controllers exists), else 'v1'.

    A hybrid host (v1 controllers plus an empty v2 tree at root/unified) counts as v1: its
    controllers are only usable through the v1 hierarchies.
    """
    return "v2" if os.path.exists(os.path.join(root, "cgroup.controllers")) else "v1"


def delegated_parent(root: str = CGROUP_ROOT, proc_cgroup: str = "/proc/self/cgroup") -> str | None:
    """Where an unprivileged process may make a v2 cgroup: the parent of its own cgroup, when that
    parent was delegated to it (its directory and cgroup.procs writable: cgroup-v2.rst,
    "Delegation"), as crun and podman do rootless. None for root, or when nothing is delegated.

    The parent, not the own cgroup: the own cgroup holds this process, and the "no internal
    processes" rule would forbid enabling controllers for children there."""
    if os.geteuid() == 0:
        return None
    try:
        with open(proc_cgroup) as handle:
            own = next((line[3:].strip() for line in handle if line.startswith("0::")), "")
    except OSError:
        return None
    if not own.startswith("/") or own == "/":
        return None
    parent = os.path.join(root, os.path.dirname(own).lstrip("/"))
    writable = os.W_OK | os.X_OK
    if not os.access(parent, writable, effective_ids=True):
        return None
    if not os.access(os.path.join(parent, "cgroup.procs"), os.W_OK, effective_ids=True):
        return None
    return parent.rstrip("/")


@record
class Cgroup:
    """The container's cgroup: one directory per v1 controller, or one v2 directory."""

    version: str
    name: str
    dirs: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # limits that could not be applied, with why

    def join(self, pid: int) -> None:
        """Move pid into the cgroup (every v1 hierarchy) before it execs the container process."""
        join_cgroup_dirs(self.dirs, pid)

    def move_self_in(self) -> None:
        """v1: move the calling thread, the only one of its process, into every hierarchy.

        Writing "0" to tasks moves the writer alone, and the kernel then skips the global
        cgroup_threadgroup_rwsem that a write to cgroup.procs takes (kernel/cgroup/cgroup.c,
        cgroup_procs_write_start: "If the thread is `current`, it won't exit(2) under our hands").
        Taking that lock for writing waits for an RCU grace period: 5-60 ms on this 2-CPU host,
        the longest step of a start. For a single-threaded process the result is the same as
        writing its pid to cgroup.procs."""
        for path in self.dirs:
            _write(os.path.join(path, "tasks"), "0")

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer ended in this cgroup."""
        for path in self.dirs:
            for name in ("memory.events", "memory.oom_control"):
                try:
                    with open(os.path.join(path, name)) as handle:
                        for line in handle:
                            key, _, value = line.partition(" ")
                            if key == "oom_kill":
                                return int(value)
                except OSError:
                    continue
        return 0

    def remove(self) -> None:
        """rmdir each directory; a cgroup is busy for a moment while its last tasks are reaped."""
        for path in reversed(self.dirs):
            remove_cgroup_dir(path)
        self.dirs.clear()


def join_cgroup_dirs(dirs: list[str], pid: int) -> None:
    """Write pid to cgroup.procs of each directory: the process and its later children are in."""
    for path in dirs:
        _write(os.path.join(path, "cgroup.procs"), str(pid))


def remove_cgroup_dir(path: str, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def create_cgroup(
    name: str,
    resources: Resources,
    root: str = CGROUP_ROOT,
    version: str | None = None,
    extra_v1: tuple[str, ...] = (),
    delegated: bool = False,
) -> Cgroup:
    """Create the cgroup directories and write the limits. Raises PermissionError when not allowed.

    ``extra_v1``: v1 hierarchies to join even without a limit in them (the freezer for `pause`).
    ``delegated``: root is a v2 cgroup delegated to this unprivileged process (delegated_parent)."""
    version = version or detect_cgroup_version(root)
    cgroup = Cgroup(version=version, name=name)
    try:
        if version == "v2":
            _create_v2(cgroup, resources, root, delegated)
        else:
            _create_v1(cgroup, resources, root, extra_v1)
    except BaseException:
        cgroup.remove()
        raise
    return cgroup


def planned_dirs(
    name: str,
    resources: Resources,
    root: str = CGROUP_ROOT,
    version: str | None = None,
    extra_v1: tuple[str, ...] = (),
) -> list[str]:
    """The directories create_cgroup will make, for the runtime to record before it makes them."""
    if (version or detect_cgroup_version(root)) == "v2":
        return [os.path.join(root, name.lstrip("/"))]
    return [
        os.path.join(root, controller, name.lstrip("/"))
        for controller in _v1_limits(resources, extra_v1)
        if os.path.isdir(os.path.join(root, controller))
    ]


# --- v1 -------------------------------------------------------------------------------------------


def _v1_limits(resources: Resources, extra: tuple[str, ...] = ()) -> dict[str, list[tuple[str, str]]]:
    """controller -> [(file, value)] in the order they must be written.

    memory and pids always get a cgroup (their counters show what the container uses, and the OOM
    kill count needs memory); cpu and devices only when limited: on v1 every hierarchy joined
    costs the kernel an RCU grace period (a few ms) in the write to cgroup.procs.
    """
    limits: dict[str, list[tuple[str, str]]] = {"memory": [], "pids": [], **{c: [] for c in extra}}
    if resources.memory_limit is not None:
        limits["memory"].append(("memory.limit_in_bytes", str(resources.memory_limit)))
        # With swap accounting on, the same value for memory+swap means "no swap" (Docker's default).
        limits["memory"].append(("memory.memsw.limit_in_bytes?", str(resources.memory_limit)))
    if resources.pids_limit is not None:
        limits["pids"].append(("pids.max", _pids_value(resources.pids_limit)))
    if resources.cpu_quota is not None:
        limits.setdefault("cpu", []).append(("cpu.cfs_period_us", str(resources.cpu_period or CFS_PERIOD_US)))
        limits["cpu"].append(("cpu.cfs_quota_us", str(resources.cpu_quota)))
    if resources.cpu_shares is not None:
        limits.setdefault("cpu", []).append(("cpu.shares", str(resources.cpu_shares)))
    if resources.devices:
        limits["devices"] = v1_device_writes(resources.devices)
    return limits


def v1_device_writes(rules: list[DeviceRule]) -> list[tuple[str, str]]:
    """(devices.allow or devices.deny, value) for each rule, then the default devices."""
    out = []
    for rule in rules:
        major = "*" if rule.major is None or rule.major < 0 else str(rule.major)
        minor = "*" if rule.minor is None or rule.minor < 0 else str(rule.minor)
        value = "a" if rule.type == "a" else f"{rule.type} {major}:{minor} {rule.access}"
        out.append(("devices.allow" if rule.allow else "devices.deny", value))
    out.extend(("devices.allow", device) for device in DEFAULT_ALLOWED_DEVICES)
    return out


def _create_v1(cgroup: Cgroup, resources: Resources, root: str, extra: tuple[str, ...] = ()) -> None:
    for controller, writes in _v1_limits(resources, extra).items():
        hierarchy = os.path.join(root, controller)
        if not os.path.isdir(hierarchy):
            if writes:
                cgroup.skipped.append(f"{controller} limits: no {controller} hierarchy at {hierarchy}")
            continue
        path = os.path.join(hierarchy, cgroup.name.lstrip("/"))
        _make_cgroup_dir(path)
        cgroup.dirs.append(path)
        _write_limits(path, writes)


# --- v2 -------------------------------------------------------------------------------------------


def _v2_limits(resources: Resources) -> list[tuple[str, str]]:
    writes = []
    if resources.memory_limit is not None:
        writes.append(("memory.max", str(resources.memory_limit)))
        writes.append(("memory.swap.max?", "0"))
    if resources.pids_limit is not None:
        writes.append(("pids.max", _pids_value(resources.pids_limit)))
    if resources.cpu_quota is not None:
        writes.append(("cpu.max", f"{resources.cpu_quota} {resources.cpu_period or CFS_PERIOD_US}"))
    if resources.cpu_shares is not None:
        writes.append(("cpu.weight", str(shares_to_weight(resources.cpu_shares))))
    return writes


def shares_to_weight(shares: int) -> int:
    """v1 cpu.shares [2, 262144] to v2 cpu.weight [1, 10000], the conversion runc and crun use."""
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def _create_v2(cgroup: Cgroup, resources: Resources, root: str, delegated: bool = False) -> None:
    writes = _v2_limits(resources)
    wanted = {filename.split(".", 1)[0] for filename, _ in writes} | {"memory", "pids", "cpu"}
    available = _read_words(os.path.join(root, "cgroup.controllers"))
    if delegated:
        available = _enable_in_delegated(root, wanted & available)
    enable = sorted(wanted & available)
    # A v2 controller is usable in a child only once the parent lists it in subtree_control, and
    # that holds at every level of a nested cgroupsPath such as /libpod_parent/libpod-ID.
    parent = root
    for part in [*[p for p in cgroup.name.split("/") if p][:-1], ""]:
        if enable and not (delegated and parent == root):  # done there by _enable_in_delegated
            _write(os.path.join(parent, "cgroup.subtree_control"), " ".join(f"+{c}" for c in enable))
        if part:
            parent = os.path.join(parent, part)
            os.makedirs(parent, exist_ok=True)
    for filename, _ in writes:
        controller = filename.split(".", 1)[0]
        if controller not in available:
            where = f"enabled in {root}/cgroup.subtree_control" if delegated else "available"
            cgroup.skipped.append(f"{filename.rstrip('?')}: the {controller} controller is not {where}")
    path = os.path.join(root, cgroup.name.lstrip("/"))
    _make_cgroup_dir(path)
    cgroup.dirs.append(path)
    _write_limits(path, [(f, v) for f, v in writes if f.split(".", 1)[0] in available])
    if resources.devices:
        why = set_v2_device_rules(path, resources.devices)
        if why:
            cgroup.skipped.append(why)


def _enable_in_delegated(root: str, wanted: set[str]) -> set[str]:
    """Enable the wanted controllers for the children of a delegated cgroup, as far as the kernel
    lets us; returns the ones enabled. The write fails (EBUSY) when the delegated cgroup holds
    processes itself (the "no internal processes" rule), or when the delegator kept
    cgroup.subtree_control; what was enabled before is used all the same."""
    control = os.path.join(root, "cgroup.subtree_control")
    enabled = _read_words(control)
    if wanted - enabled:
        try:
            _write(control, " ".join(f"+{c}" for c in sorted(wanted - enabled)))
        except OSError:
            return enabled & wanted
    return wanted


def _read_words(path: str) -> set[str]:
    try:
        with open(path) as handle:
            return set(handle.read().split())
    except OSError:
        return set()


def effective_device_rules(rules: list[DeviceRule]) -> list[DeviceRule]:
    """The spec's rules, then the default devices: appended, so that they win (runc's way)."""
    from boxtrace.runtime.device_filter import parse_rule

    return [*rules, *(parse_rule(device) for device in DEFAULT_ALLOWED_DEVICES)]


def set_v2_device_rules(path: str, rules: list[DeviceRule]) -> str | None:
    """cgroup v2 has no devices controller: the rules become an eBPF program attached to the cgroup
    (it replaces the device programs attached there before). Returns why it could not be, when this
    process may not use bpf(2) (rootless); any other failure raises."""
    from boxtrace.runtime.cgroup_bpf import BpfRefused, set_device_program
    from boxtrace.runtime.device_filter import compile_rules

    try:
        set_device_program(path, compile_rules(effective_device_rules(rules)))
    except BpfRefused as exc:
        return (
            f"linux.resources.devices: the eBPF device program needs CAP_BPF or CAP_SYS_ADMIN ({exc}): "
            "the container's device access is not restricted by its cgroup"
        )
    return None


def _make_cgroup_dir(path: str) -> None:
    """mkdir the cgroup; its parents too when the spec's cgroupsPath nests it (they are left in
    place on removal, as runc leaves /docker or /libpod_parent)."""
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        os.makedirs(parent, exist_ok=True)
    os.mkdir(path)


def _write_limits(path: str, writes: list[tuple[str, str]]) -> None:
    """Write each (file, value) in order; a name ending in "?" only where the kernel offers that file."""
    for filename, value in writes:
        target = os.path.join(path, filename.rstrip("?"))
        if filename.endswith("?") and not os.path.exists(target):
            continue
        _write(target, value)


def _pids_value(limit: int) -> str:
    return "max" if limit <= 0 else str(limit)


def _write(path: str, value: str) -> None:
    # One write(2) per value: cgroupfs parses each write on its own.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise OSError(exc.errno, f"write {value!r} to {path}: {exc.strerror}") from None
    finally:
        os.close(fd)

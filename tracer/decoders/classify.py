"""Which file paths are container work: cgroupfs, user-namespace id maps, device directories."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import Any


# Where cgroup hierarchies are mounted. The engine may add more (e.g. from /proc/self/mountinfo)
# with add_cgroup_root(); a runtime that mounts cgroupfs elsewhere is rare.
_CGROUP_ROOTS: list[str] = ["/sys/fs/cgroup"]

# cgroup v1 controllers that get their own hierarchy (Documentation/admin-guide/cgroup-v1).
V1_CONTROLLERS: frozenset[str] = frozenset(
    {
        "blkio",
        "cpu",
        "cpuacct",
        "cpuset",
        "devices",
        "freezer",
        "hugetlb",
        "memory",
        "misc",
        "net_cls",
        "net_prio",
        "perf_event",
        "pids",
        "rdma",
    }
)

ID_MAP_FILES: frozenset[str] = frozenset({"uid_map", "gid_map", "setgroups"})


def add_cgroup_root(path: str) -> None:
    """Treat ``path`` (an absolute mount point of cgroup or cgroup2) as cgroupfs from now on."""
    path = path.rstrip("/") or "/"
    if path not in _CGROUP_ROOTS:
        _CGROUP_ROOTS.append(path)


def cgroup_roots() -> tuple[str, ...]:
    return tuple(_CGROUP_ROOTS)


def _is_v1_hierarchy(name: str) -> bool:
    """``memory``, ``cpu,cpuacct`` or a named hierarchy (``systemd``, ``name=...``)."""
    if name == "systemd" or name.startswith("name="):
        return True
    return all(c in V1_CONTROLLERS for c in name.split(","))


def cgroup_info(path: str, is_file: bool) -> dict[str, Any] | None:
    """Facts about a path on cgroupfs, None when it is not on cgroupfs.

    ``cgroup`` is the group's path inside its hierarchy (``/mybox``), ``version`` 1 or 2 (on a
    hybrid host the v2 tree is ``/sys/fs/cgroup/unified``), ``controller`` the controller a file
    belongs to (``pids.max`` -> pids; None for core files such as ``cgroup.procs`` on v2).
    """
    for root in _CGROUP_ROOTS:
        if path == root or path.startswith(root + "/"):
            break
    else:
        return None
    parts = [p for p in path[len(root) :].split("/") if p]
    hierarchy: str | None = None
    version = 2
    if parts:
        first = parts[0]
        if first == "unified":
            parts = parts[1:]
        elif (
            first == "systemd"
            or first.startswith("name=")
            or all(c in V1_CONTROLLERS for c in first.split(","))
        ):
            version, hierarchy, parts = 1, first, parts[1:]
    file_name = parts[-1] if is_file and parts else None
    group_parts = parts[:-1] if file_name is not None else parts
    controller: str | None = None
    if file_name is not None:
        prefix = file_name.split(".", 1)[0] if "." in file_name else None
        if version == 2:
            controller = prefix if prefix != "cgroup" else None
        elif hierarchy is not None:
            in_hierarchy = hierarchy.split(",")
            controller = prefix if prefix in in_hierarchy else hierarchy
    elif version == 1:
        controller = hierarchy
    info: dict[str, Any] = {
        "cgroup": "/" + "/".join(group_parts),
        "version": version,
        "controller": controller,
    }
    if file_name is not None:
        info["cgroup_file"] = file_name
    return info


def idmap_target(path: str, pid: int) -> tuple[int, str] | None:
    """``(target_pid, file)`` for /proc/PID/{uid_map,gid_map,setgroups}; ``self`` is the caller."""
    if not path.startswith("/proc/"):
        return None
    parts = path[6:].split("/")
    if len(parts) == 2:
        who, name = parts
    elif len(parts) == 4 and parts[1] == "task":
        who, name = parts[2], parts[3]
    else:
        return None
    if name not in ID_MAP_FILES:
        return None
    if who in ("self", "thread-self"):
        return pid, name
    if who.isdigit():
        return int(who), name
    return None


def special_file(path: str, pid: int) -> tuple[str, dict[str, Any]] | None:
    """``("cgroup" | "idmap", facts)`` for a file on cgroupfs or a /proc/PID id map, else None.

    ``pid`` is the caller's, for ``/proc/self``.
    """
    info = cgroup_info(path, is_file=True)
    if info is not None:
        return "cgroup", info
    target = idmap_target(path, pid)
    if target is not None:
        return "idmap", {"file": target[1], "target_pid": target[0]}
    return None


def parse_id_map(text: str) -> list[list[int]]:
    """``"0 1000 1\\n1 100000 65536"`` -> ``[[0, 1000, 1], [1, 100000, 65536]]``; bad lines skipped."""
    out: list[list[int]] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and all(f.isdigit() for f in fields):
            out.append([int(f) for f in fields])
    return out


def is_dev_path(path: str) -> bool:
    """True for a path with a ``dev`` component: the host's /dev or a container rootfs's dev/."""
    return "/dev/" in path or path.endswith("/dev") or path.startswith("dev/") or path == "dev"

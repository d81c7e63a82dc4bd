"""Mount work inside the container's mount namespace: rootfs, the spec's mounts, /dev, masked and
read-only paths, pivot_root. Called by ``boxtrace.runtime.container`` in the order runc does it.

Every target path is resolved inside the rootfs (a symlink in the image may not lead out of it).
"""

from __future__ import annotations

import os
import stat

from boxtrace.runtime import syscalls
from boxtrace.runtime.constants import (
    DEFAULT_DEVICES,
    DEV_SYMLINKS,
    MNT_DETACH,
    MOUNT_OPTION_FLAGS,
    MS_BIND,
    MS_MOVE,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_SLAVE,
    PROPAGATION_OPTIONS,
    STATVFS_TO_MOUNT_FLAGS,
)
from boxtrace.runtime.records import record
from boxtrace.runtime.spec import Mount

CGROUP_V1_CONTROLLERS_ROOT = "/sys/fs/cgroup"


@record
class MountOptions:
    flags: int
    propagation: int
    data: str


def parse_mount_options(options: list[str]) -> MountOptions:
    """Split OCI mount options into mount(2) flags, a propagation change and the fs data string."""
    flags = 0
    propagation = 0
    data = []
    for option in options:
        if option in MOUNT_OPTION_FLAGS:
            clear, flag = MOUNT_OPTION_FLAGS[option]
            flags = flags & ~flag if clear else flags | flag
        elif option in PROPAGATION_OPTIONS:
            propagation = PROPAGATION_OPTIONS[option]
        else:
            data.append(option)
    return MountOptions(flags, propagation, ",".join(data))


def resolve_in_root(root: str, path: str) -> str:
    """The host path of ``path`` inside ``root``, following symlinks as if root were "/".

    Like runc's securejoin: ``..`` and absolute symlinks stop at root, so a crafted image cannot
    make the runtime mount over a host directory.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > 40:
                raise OSError(40, f"too many levels of symbolic links resolving {path} in {root}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def locked_flags(path: str) -> int:
    """Flags of the mount at path that a bind remount must repeat (the kernel keeps them locked)."""
    f_flag = os.statvfs(path).f_flag
    flags = 0
    for st_bit, ms_bit in STATVFS_TO_MOUNT_FLAGS.items():
        if f_flag & st_bit:
            flags |= ms_bit
    return flags


@record
class MountContext:
    cgroup_version: str
    user_namespace: bool  # the container has its own user namespace (always when rootless)
    notes: list[str]


# --- the steps' mount work, in order ----------------------------------------------------------------


def make_mounts_private(propagation: str) -> None:
    """Stop mount events from crossing between the host and the container: MS_REC|MS_PRIVATE on /."""
    syscalls.mount(None, "/", None, PROPAGATION_OPTIONS[propagation])


def mount_overlay_rootfs(lower: str | list[str], upper: str, work: str, target: str) -> None:
    """One overlay mount: ``lower`` is one directory or an image's layers, top layer first
    (overlayfs stacks lowerdir=top:...:base), all read-only; writes go to ``upper``."""
    lowers = ":".join([lower] if isinstance(lower, str) else lower)
    data = f"lowerdir={lowers},upperdir={upper},workdir={work}"
    syscalls.mount("overlay", target, "overlay", 0, data)


def bind_mount_rootfs(rootfs: str) -> None:
    """pivot_root needs the new root to be a mount point: bind the rootfs onto itself."""
    syscalls.mount(rootfs, rootfs, None, MS_BIND | MS_REC)


def mount_spec_mount(rootfs: str, mount: Mount, ctx: MountContext) -> None:
    """One entry of the spec's mounts, in listed order (runtime-spec config.md)."""
    options = parse_mount_options(mount.options)
    target = resolve_in_root(rootfs, mount.destination)
    if mount.type == "cgroup":
        _mount_cgroup_fs(target, options, ctx)
        return
    is_bind = bool(options.flags & MS_BIND)
    if is_bind:
        _make_bind_target(mount.source, target)
        syscalls.mount(mount.source, target, None, options.flags & (MS_BIND | MS_REC))
        remount = options.flags & ~(MS_BIND | MS_REC)
        if remount:
            syscalls.mount(None, target, None, MS_BIND | MS_REMOUNT | remount | locked_flags(target))
    else:
        os.makedirs(target, exist_ok=True)
        data = options.data
        if ctx.user_namespace and mount.type == "devpts":
            # gid=5 (tty) may not be mapped in the user namespace; runc drops it for rootless too.
            data = ",".join(o for o in data.split(",") if not o.startswith("gid="))
        syscalls.mount(mount.source, target, mount.type, options.flags, data or None)
    if options.propagation:
        syscalls.mount(None, target, None, options.propagation)


def _make_bind_target(source: str, target: str) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    elif not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a"):
            pass


def _mount_cgroup_fs(target: str, options: MountOptions, ctx: MountContext) -> None:
    """The OCI "cgroup" mount: cgroup2 on a v2 host; on v1 a tmpfs with one mount per hierarchy.

    With a cgroup namespace each hierarchy shows the container's own cgroup as its root.
    """
    os.makedirs(target, exist_ok=True)
    flags = options.flags
    if ctx.cgroup_version == "v2":
        syscalls.mount("cgroup2", target, "cgroup2", flags, None)
        return
    if ctx.user_namespace:
        ctx.notes.append(
            "cgroup v1 hierarchies cannot be mounted inside a user namespace: /sys/fs/cgroup left empty"
        )
        return
    syscalls.mount(
        "tmpfs", target, "tmpfs", (flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755"
    )
    for controller in _v1_hierarchies():
        sub = os.path.join(target, controller.removeprefix("name="))
        os.mkdir(sub)
        data = f"none,{controller}" if controller.startswith("name=") else controller
        syscalls.mount("cgroup", sub, "cgroup", flags | MS_RELATIME, data)
    if flags & MS_RDONLY:
        syscalls.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(target))


def _v1_hierarchies() -> list[str]:
    """The v1 hierarchies mounted on the host, as mount option strings (e.g. "memory", "cpu,cpuacct")."""
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            _, _, right = line.partition(" - ")
            fields = right.split()
            if len(fields) >= 3 and fields[0] == "cgroup":
                supers = [o for o in fields[2].split(",") if o not in ("rw", "ro")]
                name = next((o for o in supers if o.startswith("name=")), None)
                found.append(name if name else ",".join(supers))
    return found


def create_devices(rootfs: str, user_namespace: bool) -> None:
    """The devices every OCI container has, plus the /dev links.

    mknod(2) needs CAP_MKNOD in the initial user namespace, so inside a user namespace the host's
    nodes are bind-mounted instead (what runc does in a user namespace).
    """
    dev = resolve_in_root(rootfs, "/dev")
    for name, (kind, major, minor, mode) in DEFAULT_DEVICES.items():
        path = os.path.join(dev, name)
        if os.path.lexists(path):
            continue
        if user_namespace:
            with open(path, "a"):
                pass
            syscalls.mount(f"/dev/{name}", path, None, MS_BIND)
        else:
            file_type = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
            os.mknod(path, mode | file_type, os.makedev(major, minor))
            os.chmod(path, mode)  # mknod applies the umask
    for name, target in DEV_SYMLINKS.items():
        path = os.path.join(dev, name)
        if not os.path.lexists(path):
            os.symlink(target, path)


def mask_paths(rootfs: str, paths: list[str]) -> None:
    """Hide host information: /dev/null over files, an empty read-only tmpfs over directories."""
    null = resolve_in_root(rootfs, "/dev/null")
    for path in paths:
        target = resolve_in_root(rootfs, path)
        if not os.path.exists(target):
            continue
        if os.path.isdir(target):
            syscalls.mount("tmpfs", target, "tmpfs", MS_RDONLY, None)
        else:
            syscalls.mount(null, target, None, MS_BIND)


def make_paths_readonly(rootfs: str, paths: list[str]) -> None:
    """Bind each path onto itself, then remount the bind read-only."""
    for path in paths:
        target = resolve_in_root(rootfs, path)
        if not os.path.exists(target):
            continue
        syscalls.mount(target, target, None, MS_BIND | MS_REC)
        syscalls.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(target))


def pivot_to_rootfs(rootfs: str) -> None:
    """pivot_root(".", "."): the old root ends up stacked on the new one, then is detached.

    This is runc's way: no directory for the old root is needed inside the image. The old root is
    made a slave first so that detaching it cannot propagate an unmount anywhere else.
    """
    os.chdir(rootfs)
    syscalls.pivot_root(".", ".")
    syscalls.mount(None, ".", None, MS_SLAVE | MS_REC)
    syscalls.umount2(".", MNT_DETACH)
    os.chdir("/")


def move_to_rootfs(rootfs: str) -> None:
    """--no-pivot: mount(rootfs, "/", MS_MOVE) then chroot("."): for a rootfs on ramfs, where
    pivot_root fails. Weaker than pivot_root (the old root stays reachable to a process that can
    escape a chroot), which is why runc makes it opt-in."""
    os.chdir(rootfs)
    syscalls.mount(rootfs, "/", None, MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def remount_root_readonly() -> None:
    syscalls.mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags("/"))

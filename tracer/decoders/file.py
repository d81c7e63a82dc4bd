"""Container filesystem work: open/openat/creat, mkdir(at), rmdir, unlinkat, mknod(at), symlink(at), write.

This family decides what is interesting. By default only calls that touch cgroupfs ("cgroup"), a
user namespace's id maps ("idmap") or a dev directory ("device") are reported; everything else
returns None, unless the trace reports all calls (then it is "file").
"""

from __future__ import annotations

from typing import Any

from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.decoders.classify import cgroup_info, idmap_target, is_dev_path, parse_id_map
from boxtrace.tracer.decoders.common import (
    U32,
    dirfd_arg,
    fd_path,
    fd_text,
    path_arg,
    ptr_arg,
    quote,
    s32,
    string_arg,
    uint_arg,
    with_resolved,
)
from boxtrace.tracer.events import Arg
from boxtrace.tracer.tables.fcntl import (
    AT_FDCWD,
    AT_REMOVEDIR,
    O_ACCMODE,
    O_CREAT,
    O_TMPFILE,
    O_TRUNC,
    O_WRITE_MASK,
    O_WRONLY,
    OPEN_ACCESS_MODES,
    OPEN_FLAGS,
    UNLINKAT_FLAGS,
)
from boxtrace.tracer.tables.stat import (
    FILE_TYPE_WORDS,
    S_IFBLK,
    S_IFCHR,
    S_IFMT,
    dev_major,
    dev_minor,
    mode_text,
    octal_text,
)
from boxtrace.tracer.tables.xlat import flags_text

# What a write to cgroupfs or an id map may carry (a page); larger writes are cut.
WRITE_VALUE_MAX = 4096
# Bytes of an uninteresting write shown with --all (strace's default -s).
WRITE_SHOWN = 32


# --- helpers ------------------------------------------------------------------------------------


def open_flags_text(flags: int) -> tuple[list[str], str]:
    """``O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC``: the access mode always first, as strace prints it."""
    access = flags & O_ACCMODE
    access_name = OPEN_ACCESS_MODES.name(access) or "O_ACCMODE"
    names, rest = flags_text(flags & ~O_ACCMODE, OPEN_FLAGS)
    return [access_name, *names], access_name if rest == "0" else f"{access_name}|{rest}"


def _special(ctx: CallContext, path: str, is_file: bool) -> tuple[str, dict[str, Any]] | None:
    """("cgroup" | "idmap", facts) for a path on cgroupfs or a /proc/PID id-map file."""
    info = cgroup_info(path, is_file)
    if info is not None:
        return "cgroup", info
    target = idmap_target(path, ctx.pid)
    if target is not None:
        return "idmap", {"file": target[1], "target_pid": target[0]}
    return None


def _decoded(
    ctx: CallContext,
    category: str | None,
    args: list[Arg],
    detail: dict[str, Any],
    resolved: dict[str, str],
) -> Decoded | None:
    if category is None:
        if not ctx.report_all:
            return None
        category = "file"
    return Decoded(category=category, args=args, detail=with_resolved(detail, resolved))


# --- open ---------------------------------------------------------------------------------------


def _open_common(ctx: CallContext, dirfd: int, path_addr: int, flags: int, mode: int) -> Decoded | None:
    if not flags & O_WRITE_MASK and not ctx.report_all:
        return None
    resolved: dict[str, str] = {}
    args: list[Arg] = []
    dir_path = None
    if dirfd != AT_FDCWD:
        dir_a, dir_path = dirfd_arg(ctx, "dirfd", dirfd)
        args.append(dir_a)
    path_a, path = path_arg(ctx, "pathname", path_addr, resolved, dirfd, dir_path)
    names, text = open_flags_text(flags)
    args += [path_a, Arg("flags", flags, text, flags=names)]
    if flags & O_CREAT or flags & O_TMPFILE == O_TMPFILE:
        args.append(Arg("mode", mode & 0o7777, octal_text(mode & 0o7777)))
    detail: dict[str, Any] = {"path": path, "flags": names}
    category: str | None = None
    if path is not None and flags & O_WRITE_MASK:
        special = _special(ctx, path, is_file=True)
        if special is not None:
            category = special[0]
            detail.update(special[1])
        elif flags & O_CREAT and is_dev_path(path):
            category = "device"
    return _decoded(ctx, category, args, detail, resolved)


def _openat(ctx: CallContext) -> Decoded | None:
    dirfd = s32(ctx.args[0])
    decoded = _open_common(ctx, dirfd, ctx.args[1], ctx.args[2] & U32, ctx.args[3] & U32)
    if decoded is not None and dirfd == AT_FDCWD:
        decoded.args.insert(0, Arg("dirfd", dirfd, "AT_FDCWD"))
    return decoded


def _open(ctx: CallContext) -> Decoded | None:
    return _open_common(ctx, AT_FDCWD, ctx.args[0], ctx.args[1] & U32, ctx.args[2] & U32)


def _creat(ctx: CallContext) -> Decoded | None:
    decoded = _open_common(ctx, AT_FDCWD, ctx.args[0], O_WRONLY | O_CREAT | O_TRUNC, ctx.args[1] & U32)
    if decoded is not None:
        # creat(2) has no flags argument: it is open(O_WRONLY|O_CREAT|O_TRUNC).
        decoded.args = [a for a in decoded.args if a.name != "flags"]
    return decoded


def _dir_and_path(
    ctx: CallContext,
    at: bool,
    dirfd: int,
    path_addr: int,
    resolved: dict[str, str],
    dir_name: str = "dirfd",
    path_name: str = "pathname",
) -> tuple[list[Arg], str | None]:
    """The *at variant's dirfd argument (if any) and the path argument, resolved against it."""
    args: list[Arg] = []
    dir_path = None
    if at:
        dir_a, dir_path = dirfd_arg(ctx, dir_name, dirfd, needed=False)
        args.append(dir_a)
    path_a, path = path_arg(ctx, path_name, path_addr, resolved, dirfd, dir_path)
    args.append(path_a)
    return args, path


# --- directories ----------------------------------------------------------------------------------


def _mkdir_common(ctx: CallContext, dirfd: int, path_addr: int, mode: int, at: bool) -> Decoded | None:
    resolved: dict[str, str] = {}
    args, path = _dir_and_path(ctx, at, dirfd, path_addr, resolved)
    args.append(Arg("mode", mode & 0o7777, octal_text(mode & 0o7777)))
    detail: dict[str, Any] = {"path": path}
    category: str | None = None
    if path is not None:
        info = cgroup_info(path, is_file=False)
        if info is not None:
            category = "cgroup"
            detail.update(info, action="create")
        elif is_dev_path(path):
            category = "device"
    return _decoded(ctx, category, args, detail, resolved)


def _mkdir(ctx: CallContext) -> Decoded | None:
    return _mkdir_common(ctx, AT_FDCWD, ctx.args[0], ctx.args[1] & U32, at=False)


def _mkdirat(ctx: CallContext) -> Decoded | None:
    return _mkdir_common(ctx, s32(ctx.args[0]), ctx.args[1], ctx.args[2] & U32, at=True)


def _remove_dir(
    ctx: CallContext, args: list[Arg], path: str | None, resolved: dict[str, str]
) -> Decoded | None:
    detail: dict[str, Any] = {"path": path}
    category: str | None = None
    if path is not None:
        info = cgroup_info(path, is_file=False)
        if info is not None:
            category = "cgroup"
            detail.update(info, action="remove")
    return _decoded(ctx, category, args, detail, resolved)


def _rmdir(ctx: CallContext) -> Decoded | None:
    resolved: dict[str, str] = {}
    path_a, path = path_arg(ctx, "pathname", ctx.args[0], resolved)
    return _remove_dir(ctx, [path_a], path, resolved)


def _unlinkat(ctx: CallContext) -> Decoded | None:
    flags = ctx.args[2] & U32
    if not flags & AT_REMOVEDIR and not ctx.report_all:
        return None
    resolved: dict[str, str] = {}
    dirfd = s32(ctx.args[0])
    dir_a, dir_path = dirfd_arg(ctx, "dirfd", dirfd, needed=False)
    path_a, path = path_arg(ctx, "pathname", ctx.args[1], resolved, dirfd, dir_path)
    names, text = flags_text(flags, UNLINKAT_FLAGS)
    args = [dir_a, path_a, Arg("flags", flags, text, flags=names)]
    if flags & AT_REMOVEDIR:
        return _remove_dir(ctx, args, path, resolved)
    return _decoded(ctx, None, args, {"path": path}, resolved)


# --- device nodes and links ---------------------------------------------------------------------


def _mknod_common(
    ctx: CallContext, dirfd: int, path_addr: int, mode: int, dev: int, at: bool
) -> Decoded | None:
    resolved: dict[str, str] = {}
    args, path = _dir_and_path(ctx, at, dirfd, path_addr, resolved)
    kind = mode & S_IFMT
    args.append(Arg("mode", mode, mode_text(mode)))
    detail: dict[str, Any] = {
        "path": path,
        "type": FILE_TYPE_WORDS.get(kind, "regular file" if not kind else f"{kind:#o}"),
        "mode": octal_text(mode & 0o7777),
    }
    is_device = kind in (S_IFCHR, S_IFBLK)
    if is_device:
        major, minor = dev_major(dev), dev_minor(dev)
        args.append(Arg("dev", dev, f"makedev({major:#x}, {minor:#x})"))
        detail.update(major=major, minor=minor)
    category = "device" if is_device or (path is not None and is_dev_path(path)) else None
    return _decoded(ctx, category, args, detail, resolved)


def _mknod(ctx: CallContext) -> Decoded | None:
    return _mknod_common(ctx, AT_FDCWD, ctx.args[0], ctx.args[1] & U32, ctx.args[2] & U32, at=False)


def _mknodat(ctx: CallContext) -> Decoded | None:
    return _mknod_common(ctx, s32(ctx.args[0]), ctx.args[1], ctx.args[2] & U32, ctx.args[3] & U32, at=True)


def _symlink_common(
    ctx: CallContext, target_addr: int, dirfd: int, link_addr: int, at: bool
) -> Decoded | None:
    resolved: dict[str, str] = {}
    # The target is stored in the link as given; it is never resolved now.
    target_a, target = string_arg(ctx, "target", target_addr)
    link_args, link = _dir_and_path(ctx, at, dirfd, link_addr, resolved, "newdirfd", "linkpath")
    args = [target_a, *link_args]
    detail: dict[str, Any] = {"path": link, "target": target}
    category = "device" if link is not None and is_dev_path(link) else None
    return _decoded(ctx, category, args, detail, resolved)


def _symlink(ctx: CallContext) -> Decoded | None:
    return _symlink_common(ctx, ctx.args[0], AT_FDCWD, ctx.args[1], at=False)


def _symlinkat(ctx: CallContext) -> Decoded | None:
    return _symlink_common(ctx, ctx.args[0], s32(ctx.args[1]), ctx.args[2], at=True)


# --- write --------------------------------------------------------------------------------------


def _write(ctx: CallContext) -> Decoded | None:
    fd = s32(ctx.args[0])
    buf, count = ctx.args[1], ctx.args[2]
    if fd <= 2 and not (ctx.report_all or ctx.watch_stdio):
        return None
    path = fd_path(ctx, fd)
    special = _special(ctx, path, is_file=True) if path is not None and path.startswith("/") else None
    if special is None and not ctx.report_all:
        return None
    limit = WRITE_VALUE_MAX if special is not None else WRITE_SHOWN
    data = ctx.mem.read_bytes(buf, min(count, limit)) if buf and count else None
    if data is None:
        buf_a = ptr_arg("buf", buf) if count else Arg("buf", buf, '""')
        value = None if count else ""
    else:
        buf_a = Arg("buf", buf, quote(data.decode("utf-8", "surrogateescape"), truncated=count > len(data)))
        value = data.decode("utf-8", "replace").strip()
    args = [Arg("fd", fd, fd_text(fd, path)), buf_a, uint_arg("count", count)]
    detail: dict[str, Any] = {"path": path}
    if special is None:
        return Decoded(category="file", args=args, detail=detail)
    category, facts = special
    detail.update(facts)
    detail["value"] = value
    if category == "idmap" and facts["file"] != "setgroups" and value is not None:
        detail["mappings"] = parse_id_map(value)
    return Decoded(category=category, args=args, detail=detail)


DECODERS = {
    "openat": _openat,
    "open": _open,
    "creat": _creat,
    "mkdir": _mkdir,
    "mkdirat": _mkdirat,
    "rmdir": _rmdir,
    "unlinkat": _unlinkat,
    "mknod": _mknod,
    "mknodat": _mknodat,
    "symlink": _symlink,
    "symlinkat": _symlinkat,
    "write": _write,
}
CATEGORIES = {name: "file" for name in DECODERS}
RESULTS = {"openat": "fd", "open": "fd", "creat": "fd"}

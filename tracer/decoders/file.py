"""Container filesystem work: open/openat/openat2/creat, mkdir(at), rmdir, unlinkat, mknod(at), symlink(at).

This family decides what is interesting. By default only calls that touch cgroupfs ("cgroup"), a
user namespace's id maps ("idmap") or a dev directory ("device") are reported; everything else
returns None, unless the trace reports all calls (then it is "file"). The writes that follow an
open live in ``write.py``.
"""

from __future__ import annotations

import os

from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.decoders.classify import cgroup_info, is_dev_path, special_file
from boxtrace.tracer.decoders.common import (
    U32,
    dirfd_arg,
    fd_arg,
    flags_text_dflt,
    path_arg,
    ptr_arg,
    read_u64s,
    s32,
    string_arg,
    uint_arg,
    with_resolved,
)
from boxtrace.tracer.events import Arg
from boxtrace.tracer.tables.fcntl import (
    __O_TMPFILE,
    AT_FDCWD,
    AT_REMOVEDIR,
    DUP3_FLAGS,
    O_ACCMODE,
    O_CREAT,
    O_TRUNC,
    O_WRITE_MASK,
    O_WRONLY,
    OPEN_ACCESS_MODES,
    OPEN_FLAGS,
    OPEN_FLAGS_OF_ARCH,
    UNLINKAT_FLAGS,
)
from boxtrace.tracer.tables.openat2 import (
    OPEN_HOW_FIELDS,
    OPEN_HOW_FLAGS_OF_ARCH,
    OPEN_HOW_SIZE_VER0,
    RESOLVE_FLAGS,
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
from boxtrace.tracer.tables.xlat import Xlat, flags_text

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import Any


# open(2) takes a mode only with these (strace's test: __O_TMPFILE alone, without O_DIRECTORY, counts).
_MODE_FLAGS = O_CREAT | __O_TMPFILE
# Bytes of an open_how larger than this tracer knows that are shown (strace's default -s), and
# the most the kernel accepts (copy_struct_from_user refuses sizes above a page with E2BIG).
_EXTRA_SHOWN = 32
_PAGE = os.sysconf("SC_PAGE_SIZE")


# --- helpers ------------------------------------------------------------------------------------


def open_flags_text(flags: int, table: Xlat = OPEN_FLAGS) -> tuple[list[str], str]:
    """``O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC``: the access mode always first, as strace prints it."""
    access = flags & O_ACCMODE
    access_name = OPEN_ACCESS_MODES.name(access) or "O_ACCMODE"
    names, rest = flags_text(flags & ~O_ACCMODE, table)
    return [access_name, *names], access_name if rest == "0" else f"{access_name}|{rest}"


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


def _dir_and_path(
    ctx: CallContext,
    at: bool,
    dirfd: int,
    path_addr: int,
    resolved: dict[str, str],
    dir_name: str = "dirfd",
    path_name: str = "pathname",
    needed: bool = False,
) -> tuple[list[Arg], str | None]:
    """The *at variant's dirfd argument (if any) and the path argument, resolved against it.

    ``needed``: show the dirfd's path (``9</sys/fs/cgroup/box>``); it costs a readlink.
    """
    args: list[Arg] = []
    dir_path = None
    if at:
        dir_a, dir_path = dirfd_arg(ctx, dir_name, dirfd, needed=needed)
        args.append(dir_a)
    path_a, path = path_arg(ctx, path_name, path_addr, resolved, dirfd, dir_path)
    args.append(path_a)
    return args, path


# --- open ---------------------------------------------------------------------------------------


def _open_category(ctx: CallContext, path: str | None, flags: int) -> tuple[str | None, dict[str, Any]]:
    """What an open for writing touches: cgroupfs, an id map, or a node created under a dev dir."""
    if path is None or not flags & O_WRITE_MASK:
        return None, {}
    special = special_file(path, ctx.pid)
    if special is not None:
        return special
    if flags & O_CREAT and is_dev_path(path):
        return "device", {}
    return None, {}


def _open_common(
    ctx: CallContext, dirfd: int, path_addr: int, flags: int, mode: int, at: bool
) -> Decoded | None:
    if not flags & O_WRITE_MASK and not ctx.report_all:
        return None
    resolved: dict[str, str] = {}
    args, path = _dir_and_path(ctx, at, dirfd, path_addr, resolved, needed=True)
    names, text = open_flags_text(flags, OPEN_FLAGS_OF_ARCH[ctx.arch])
    args.append(Arg("flags", flags, text, flags=names))
    if flags & _MODE_FLAGS:
        args.append(Arg("mode", mode & 0o7777, octal_text(mode & 0o7777)))
    detail: dict[str, Any] = {"path": path, "flags": names}
    category, facts = _open_category(ctx, path, flags)
    detail.update(facts)
    return _decoded(ctx, category, args, detail, resolved)


def _openat(ctx: CallContext) -> Decoded | None:
    return _open_common(ctx, s32(ctx.args[0]), ctx.args[1], ctx.args[2] & U32, ctx.args[3] & U32, at=True)


def _open(ctx: CallContext) -> Decoded | None:
    return _open_common(ctx, AT_FDCWD, ctx.args[0], ctx.args[1] & U32, ctx.args[2] & U32, at=False)


def _creat(ctx: CallContext) -> Decoded | None:
    decoded = _open_common(
        ctx, AT_FDCWD, ctx.args[0], O_WRONLY | O_CREAT | O_TRUNC, ctx.args[1] & U32, at=False
    )
    if decoded is not None:
        # creat(2) has no flags argument: it is open(O_WRONLY|O_CREAT|O_TRUNC).
        decoded.args = [a for a in decoded.args if a.name != "flags"]
    return decoded


def _open_how_extra(ctx: CallContext, addr: int, size: int) -> str | None:
    """strace's text for the bytes of a larger ``open_how`` than version 0: None when all zero."""
    end = min(size, _PAGE)
    if end <= OPEN_HOW_SIZE_VER0:
        return None
    data = ctx.mem.read_bytes(addr + OPEN_HOW_SIZE_VER0, end - OPEN_HOW_SIZE_VER0)
    if data is None:
        return "???"
    if not any(data):
        return None
    shown = "".join(f"\\x{b:02x}" for b in data[:_EXTRA_SHOWN])
    more = "..." if len(data) > _EXTRA_SHOWN else ""
    return f'/* bytes {OPEN_HOW_SIZE_VER0}..{end - 1} */ "{shown}"{more}'


def _open_how(ctx: CallContext, addr: int, size: int, how: tuple[int, ...]) -> tuple[Arg, dict[str, Any]]:
    """``{flags=O_WRONLY|O_CLOEXEC, resolve=RESOLVE_BENEATH}``; mode only when it matters (strace)."""
    flags, mode, resolve = how
    flag_names, flags_shown = open_flags_text(flags, OPEN_HOW_FLAGS_OF_ARCH[ctx.arch])
    resolve_names, resolve_shown = flags_text_dflt(resolve, RESOLVE_FLAGS)
    fields: dict[str, Any] = {"flags": flags_shown}
    if flags & _MODE_FLAGS or mode:
        fields["mode"] = octal_text(mode)
    fields["resolve"] = resolve_shown
    parts = [f"{key}={value}" for key, value in fields.items()]
    extra = _open_how_extra(ctx, addr, size)
    if extra is not None:
        parts.append(extra)
    text = "{" + ", ".join(parts) + "}"
    arg = Arg("how", addr, text, flags=[*flag_names, *resolve_names], fields=fields)
    return arg, {"flags": flag_names, "resolve": resolve_names}


def _openat2(ctx: CallContext) -> Decoded | None:
    dirfd, path_addr, how_addr, size = s32(ctx.args[0]), ctx.args[1], ctx.args[2], ctx.args[3]
    how = read_u64s(ctx, how_addr, len(OPEN_HOW_FIELDS)) if size >= OPEN_HOW_SIZE_VER0 else None
    # The flags are in memory, out of the seccomp filter's reach: read-only opens are dropped here.
    # An open_how this tracer cannot read, the kernel cannot either (EFAULT, or EINVAL when too
    # small): such a call opens nothing.
    flags = how[0] if how is not None else 0
    if not flags & O_WRITE_MASK and not ctx.report_all:
        return None
    resolved: dict[str, str] = {}
    args, path = _dir_and_path(ctx, True, dirfd, path_addr, resolved, needed=True)
    detail: dict[str, Any] = {"path": path}
    if how is None:
        args.append(ptr_arg("how", how_addr))
    else:
        how_a, how_facts = _open_how(ctx, how_addr, size, how)
        args.append(how_a)
        detail.update(how_facts)
    args.append(uint_arg("size", size))
    category, facts = _open_category(ctx, path, flags)
    detail.update(facts)
    return _decoded(ctx, category, args, detail, resolved)


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


# --- dup2, dup3 -------------------------------------------------------------------------------------


def _dup(ctx: CallContext) -> Decoded | None:
    """dup2/dup3 onto fd 0-2 (the filter traps no other): reported when the moved fd is a cgroup or
    id-map file, a shell's `echo 5 > pids.max` (the engine then watches the process's fd 1 writes)."""
    oldfd, newfd = s32(ctx.args[0]), s32(ctx.args[1])
    old_a, path = fd_arg(ctx, "oldfd", oldfd)
    special = special_file(path, ctx.pid) if path is not None and path.startswith("/") else None
    if special is None and not ctx.report_all:
        return None
    new_a, _ = fd_arg(ctx, "newfd", newfd)
    args = [old_a, new_a]
    if ctx.name == "dup3":
        flags = ctx.args[2] & U32
        names, text = flags_text(flags, DUP3_FLAGS)
        args.append(Arg("flags", flags, text or "0", flags=names))
    category, facts = special if special is not None else ("file", {})
    return Decoded(category=category, args=args, detail={"path": path, "newfd": newfd, **facts})


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
    "openat2": _openat2,
    "dup2": _dup,
    "dup3": _dup,
}
CATEGORIES = {name: "file" for name in DECODERS}
RESULTS = {"openat": "fd", "openat2": "fd", "open": "fd", "creat": "fd", "dup2": "fd", "dup3": "fd"}

"""The new mount API: fsopen, fsconfig, fsmount, fspick, move_mount, open_tree, mount_setattr."""

from __future__ import annotations

from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.decoders.common import (
    U32,
    dirfd_arg,
    enum_arg,
    fd_arg,
    fd_path,
    fd_text,
    flags_arg,
    int_arg,
    path_arg,
    ptr_arg,
    read_u64s,
    s32,
    string_arg,
    uint_arg,
    with_resolved,
)
from boxtrace.tracer.events import Arg
from boxtrace.tracer.tables.fsmount import (
    FSCONFIG_CMDS,
    FSCONFIG_SET_BINARY,
    FSCONFIG_SET_FD,
    FSCONFIG_SET_FLAG,
    FSCONFIG_SET_PATH,
    FSCONFIG_SET_PATH_EMPTY,
    FSCONFIG_SET_STRING,
    FSMOUNT_FLAGS,
    FSOPEN_FLAGS,
    FSPICK_FLAGS,
    MOUNT_ATTR__ATIME,
    MOUNT_ATTR_ATIME,
    MOUNT_ATTR_FIELDS,
    MOUNT_ATTR_FLAGS,
    MOUNT_ATTR_IDMAP,
    MOUNT_ATTR_PROPAGATION,
    MOUNT_ATTR_SIZE_VER0,
    MOUNT_SETATTR_FLAGS,
    MOVE_MOUNT_FLAGS,
    OPEN_TREE_FLAGS,
)
from boxtrace.tracer.tables.mount import PROPAGATION_NAMES
from boxtrace.tracer.tables.xlat import enum_text, flags_text

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import Any


FSCONFIG_VALUE_MAX = 4096


def mount_attr_text(value: int, show_atime: bool) -> tuple[list[str], str]:
    """MOUNT_ATTR_* flags plus the atime field, which is a value (RELATIME is 0), not a flag."""
    atime = value & MOUNT_ATTR__ATIME
    atime_name = MOUNT_ATTR_ATIME.by_value.get(atime)
    if atime_name is None or not (atime or show_atime):
        # an unknown atime value stays in the hex remainder
        return flags_text(value, MOUNT_ATTR_FLAGS)
    names, text = flags_text(value & ~MOUNT_ATTR__ATIME, MOUNT_ATTR_FLAGS)
    return [atime_name, *names], atime_name if text == "0" else f"{atime_name}|{text}"


def mount_attr_clear_text(value: int) -> tuple[list[str], str]:
    """attr_clr: clearing the whole atime field reads MOUNT_ATTR__ATIME, as in the header."""
    names, text = flags_text(value & ~MOUNT_ATTR__ATIME, MOUNT_ATTR_FLAGS)
    atime = value & MOUNT_ATTR__ATIME
    if atime == MOUNT_ATTR__ATIME:
        names = ["MOUNT_ATTR__ATIME", *names]
        text = "MOUNT_ATTR__ATIME" if text == "0" else f"MOUNT_ATTR__ATIME|{text}"
    elif atime:
        text = f"{atime:#x}" if text == "0" else f"{text}|{atime:#x}"
    return names, text


def _fsopen(ctx: CallContext) -> Decoded:
    name_a, fstype = string_arg(ctx, "fsname", ctx.args[0], 256)
    flags_a = flags_arg("flags", ctx.args[1] & U32, FSOPEN_FLAGS)
    return Decoded(category="mount", args=[name_a, flags_a], detail={"fstype": fstype})


def _fsconfig(ctx: CallContext) -> Decoded:
    fd_raw, cmd_raw, key_addr, value_addr, aux_raw = ctx.args[:5]
    fd_a, ctx_path = fd_arg(ctx, "fd", fd_raw)
    cmd = cmd_raw & U32
    cmd_a = enum_arg("cmd", cmd, FSCONFIG_CMDS)
    detail: dict[str, Any] = {"cmd": FSCONFIG_CMDS.name(cmd)}
    resolved: dict[str, str] = {}
    if cmd <= FSCONFIG_SET_FD:
        key_a, key = string_arg(ctx, "key", key_addr, 256)
        detail["key"] = key
    else:
        key_a = ptr_arg("key", key_addr)
    value_a: Arg
    aux_a: Arg
    if cmd == FSCONFIG_SET_STRING:
        value_a, value = string_arg(ctx, "value", value_addr, FSCONFIG_VALUE_MAX)
        detail["value"] = value
        aux_a = int_arg("aux", aux_raw)
    elif cmd in (FSCONFIG_SET_PATH, FSCONFIG_SET_PATH_EMPTY):
        aux_a, dir_path = dirfd_arg(ctx, "aux", aux_raw)
        value_a, value = path_arg(ctx, "value", value_addr, resolved, aux_raw, dir_path)
        detail["value"] = value
    elif cmd == FSCONFIG_SET_FD:
        value_a = ptr_arg("value", value_addr)
        aux_a, path = fd_arg(ctx, "aux", aux_raw)
        detail["value"] = path
    elif cmd == FSCONFIG_SET_BINARY:
        value_a = ptr_arg("value", value_addr)
        aux_a = int_arg("aux", aux_raw)
        detail["value_size"] = s32(aux_raw)
    else:  # SET_FLAG and the CMD_* commands carry no value
        value_a = ptr_arg("value", value_addr)
        aux_a = int_arg("aux", aux_raw)
        if cmd == FSCONFIG_SET_FLAG:
            detail["value"] = True
    if ctx_path is not None:
        detail["fd_path"] = ctx_path
    return Decoded(
        category="mount",
        args=[fd_a, cmd_a, key_a, value_a, aux_a],
        detail=with_resolved(detail, resolved),
    )


def _fsmount(ctx: CallContext) -> Decoded:
    fd_a, _ = fd_arg(ctx, "fs_fd", ctx.args[0])
    flags_a = flags_arg("flags", ctx.args[1] & U32, FSMOUNT_FLAGS)
    attr = ctx.args[2] & U32
    attr_names, attr_text = mount_attr_text(attr, show_atime=False)
    return Decoded(
        category="mount",
        args=[fd_a, flags_a, Arg("attr_flags", attr, attr_text, flags=attr_names)],
        detail={"attributes": attr_names, "flags": flags_a.flags},
    )


def _fspick(ctx: CallContext) -> Decoded:
    resolved: dict[str, str] = {}
    dir_a, dir_path = dirfd_arg(ctx, "dirfd", ctx.args[0])
    path_a, path = path_arg(ctx, "path", ctx.args[1], resolved, ctx.args[0], dir_path)
    flags_a = flags_arg("flags", ctx.args[2] & U32, FSPICK_FLAGS)
    detail = {"path": path, "flags": flags_a.flags}
    return Decoded(category="mount", args=[dir_a, path_a, flags_a], detail=with_resolved(detail, resolved))


def _move_mount(ctx: CallContext) -> Decoded:
    from_dirfd, from_addr, to_dirfd, to_addr, flags = ctx.args[:5]
    resolved: dict[str, str] = {}
    from_dir_a, from_dir_path = dirfd_arg(ctx, "from_dirfd", from_dirfd)
    from_a, source = path_arg(ctx, "from_pathname", from_addr, resolved, from_dirfd, from_dir_path)
    to_dir_a, to_dir_path = dirfd_arg(ctx, "to_dirfd", to_dirfd)
    to_a, target = path_arg(ctx, "to_pathname", to_addr, resolved, to_dirfd, to_dir_path)
    flags_a = flags_arg("flags", flags & U32, MOVE_MOUNT_FLAGS)
    detail = {"source": source, "target": target, "flags": flags_a.flags}
    return Decoded(
        category="mount",
        args=[from_dir_a, from_a, to_dir_a, to_a, flags_a],
        detail=with_resolved(detail, resolved),
    )


def _open_tree(ctx: CallContext) -> Decoded:
    resolved: dict[str, str] = {}
    dir_a, dir_path = dirfd_arg(ctx, "dirfd", ctx.args[0])
    path_a, path = path_arg(ctx, "path", ctx.args[1], resolved, ctx.args[0], dir_path)
    flags_a = flags_arg("flags", ctx.args[2] & U32, OPEN_TREE_FLAGS)
    detail = {"path": path, "flags": flags_a.flags}
    return Decoded(category="mount", args=[dir_a, path_a, flags_a], detail=with_resolved(detail, resolved))


def _mount_attr(ctx: CallContext, addr: int, size: int) -> tuple[Arg, dict[str, Any]]:
    raw = read_u64s(ctx, addr, len(MOUNT_ATTR_FIELDS)) if size >= MOUNT_ATTR_SIZE_VER0 else None
    if raw is None:
        return ptr_arg("attr", addr), {}
    attr_set, attr_clr, propagation, userns_fd = raw
    set_names, set_text = mount_attr_text(attr_set, show_atime=attr_clr & MOUNT_ATTR__ATIME != 0)
    clr_names, clr_text = mount_attr_clear_text(attr_clr)
    fields: dict[str, Any] = {
        "attr_set": set_text,
        "attr_clr": clr_text,
        "propagation": enum_text(propagation, MOUNT_ATTR_PROPAGATION) if propagation else "0",
    }
    detail: dict[str, Any] = {"attr_set": set_names, "attr_clr": clr_names}
    if propagation in PROPAGATION_NAMES:
        detail["propagation"] = PROPAGATION_NAMES[propagation]
    if attr_set & MOUNT_ATTR_IDMAP:
        fd = s32(userns_fd)
        path = fd_path(ctx, fd)
        fields["userns_fd"] = fd_text(fd, path)
        detail["userns_fd_path"] = path
    else:
        fields["userns_fd"] = str(userns_fd)
    text = "{" + ", ".join(f"{k}={v}" for k, v in fields.items()) + "}"
    return Arg("attr", addr, text, fields=fields), detail


def _mount_setattr(ctx: CallContext) -> Decoded:
    dirfd, path_addr, flags, attr_addr, size = ctx.args[:5]
    resolved: dict[str, str] = {}
    dir_a, dir_path = dirfd_arg(ctx, "dirfd", dirfd)
    path_a, path = path_arg(ctx, "path", path_addr, resolved, dirfd, dir_path)
    flags_a = flags_arg("flags", flags & U32, MOUNT_SETATTR_FLAGS)
    attr_a, attr_detail = _mount_attr(ctx, attr_addr, size)
    detail: dict[str, Any] = {"path": path, "flags": flags_a.flags, **attr_detail}
    return Decoded(
        category="mount",
        args=[dir_a, path_a, flags_a, attr_a, uint_arg("size", size)],
        detail=with_resolved(detail, resolved),
    )


DECODERS = {
    "fsopen": _fsopen,
    "fsconfig": _fsconfig,
    "fsmount": _fsmount,
    "fspick": _fspick,
    "move_mount": _move_mount,
    "open_tree": _open_tree,
    "mount_setattr": _mount_setattr,
}
CATEGORIES = {name: "mount" for name in DECODERS}
RESULTS = {"fsopen": "fd", "fsmount": "fd", "fspick": "fd", "open_tree": "fd"}

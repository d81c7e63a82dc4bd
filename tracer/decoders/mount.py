"""Classic mounts: mount (flags, fs options, overlay layers), umount2, pivot_root, chroot."""

from __future__ import annotations

from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.decoders.common import (
    flags_arg,
    path_arg,
    ptr_arg,
    string_arg,
    with_resolved,
)
from boxtrace.tracer.events import Arg
from boxtrace.tracer.tables.mount import (
    MOUNT_FLAGS,
    MS_BIND,
    MS_MGC_MSK,
    MS_MGC_VAL,
    MS_MOVE,
    MS_PROPAGATION,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    PROPAGATION_NAMES,
    UMOUNT_FLAGS,
)
from boxtrace.tracer.tables.xlat import flags_text

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import Any


# Filesystems whose mount data is a text option list ("key=value,flag,...").
TEXT_OPTION_FSTYPES: frozenset[str] = frozenset(
    {
        "9p",
        "autofs",
        "binfmt_misc",
        "bpf",
        "btrfs",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "erofs",
        "ext2",
        "ext3",
        "ext4",
        "fuse",
        "fusectl",
        "hugetlbfs",
        "mqueue",
        "nfs4",
        "overlay",
        "proc",
        "pstore",
        "ramfs",
        "securityfs",
        "squashfs",
        "sysfs",
        "tmpfs",
        "tracefs",
        "vfat",
        "virtiofs",
        "xfs",
    }
)

MOUNT_DATA_MAX = 4096


def split_escaped(text: str, sep: str) -> list[str]:
    """Split on ``sep`` except where a backslash escapes it (overlayfs escapes ``,`` and ``:``)."""
    out: list[str] = []
    cur: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def unescape(text: str) -> str:
    """Drop the backslashes that escape separators in an option value."""
    return split_escaped(text, "\0")[0] if "\\" in text else text


def parse_options(data: str) -> dict[str, str | bool]:
    """``"mode=755,size=65536k,nosuid"`` -> ``{"mode": "755", "size": "65536k", "nosuid": True}``."""
    options: dict[str, str | bool] = {}
    for item in _split_keep_escapes(data, ","):
        if not item:
            continue
        key, eq, value = item.partition("=")
        options[key] = value if eq else True
    return options


def _split_keep_escapes(text: str, sep: str) -> list[str]:
    # Option values keep their backslashes so that overlay's lowerdir can be split on ':' afterwards.
    if "\\" not in text:
        return text.split(sep)
    out: list[str] = []
    start = 0
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == sep:
            out.append(text[start:i])
            start = i + 1
        i += 1
    out.append(text[start:])
    return out


def overlay_layers(options: dict[str, str | bool]) -> dict[str, Any]:
    """lowerdir (top first; ``::`` starts data-only layers), upperdir and workdir of an overlay mount."""
    out: dict[str, Any] = {}
    lower = options.get("lowerdir")
    if isinstance(lower, str):
        regular, _, data_only = lower.partition("::")
        out["lowerdir"] = [p for p in split_escaped(regular, ":") if p]
        if data_only:
            out["lowerdir_data_only"] = [p for p in split_escaped(data_only, ":") if p]
    for key in ("upperdir", "workdir"):
        value = options.get(key)
        if isinstance(value, str):
            out[key] = unescape(value)
    return out


def _operation(flags: int) -> str:
    # The kernel's own precedence (fs/namespace.c path_mount).
    if flags & MS_REMOUNT:
        return "remount-bind" if flags & MS_BIND else "remount"
    if flags & MS_BIND:
        return "bind"
    if flags & MS_PROPAGATION:
        return "propagation"
    if flags & MS_MOVE:
        return "move"
    return "new"


def _mount(ctx: CallContext) -> Decoded:
    src_addr, target_addr, type_addr, raw_flags, data_addr = ctx.args[:5]
    flags = raw_flags
    old_magic = flags & MS_MGC_MSK == MS_MGC_VAL
    if old_magic:
        flags &= ~MS_MGC_MSK
    operation = _operation(flags)
    ignore_type = operation in ("remount", "remount-bind", "bind", "propagation", "move")
    ignore_data = operation in ("bind", "propagation", "move")
    resolved: dict[str, str] = {}

    if operation in ("bind", "move"):
        source_a, source = path_arg(ctx, "source", src_addr, resolved)
    else:
        source_a, source = string_arg(ctx, "source", src_addr)
    target_a, target = path_arg(ctx, "target", target_addr, resolved)
    if ignore_type:
        type_a, fstype = ptr_arg("filesystemtype", type_addr), None
    else:
        type_a, fstype = string_arg(ctx, "filesystemtype", type_addr, 256)

    names, text = flags_text(flags, MOUNT_FLAGS)
    if old_magic:
        text = "MS_MGC_VAL" if not flags else f"MS_MGC_VAL|{text}"
    flags_a = Arg("mountflags", raw_flags, text, flags=names)

    if ignore_data:
        data_a, data = ptr_arg("data", data_addr), None
    else:
        data_a, data = string_arg(ctx, "data", data_addr, MOUNT_DATA_MAX)

    detail: dict[str, Any] = {
        "operation": operation,
        "source": source,
        "target": target,
        "fstype": fstype,
        "flags": names,
        "recursive": bool(flags & MS_REC),
        "readonly": bool(flags & MS_RDONLY),
    }
    propagation = [PROPAGATION_NAMES[bit] for bit in PROPAGATION_NAMES if flags & bit]
    if propagation:
        detail["propagation"] = propagation[0] if len(propagation) == 1 else propagation
    if data is not None:
        detail["data"] = data
        if fstype is not None and (fstype in TEXT_OPTION_FSTYPES or fstype.startswith("fuse.")):
            options = parse_options(data)
            detail["options"] = options
            if fstype == "overlay":
                detail.update(overlay_layers(options))
    return Decoded(
        category="mount",
        args=[source_a, target_a, type_a, flags_a, data_a],
        detail=with_resolved(detail, resolved),
    )


def _umount2(ctx: CallContext) -> Decoded:
    resolved: dict[str, str] = {}
    target_a, target = path_arg(ctx, "target", ctx.args[0], resolved)
    flags_a = flags_arg("flags", ctx.args[1] & 0xFFFFFFFF, UMOUNT_FLAGS)
    detail = {"target": target, "flags": flags_a.flags}
    return Decoded(category="mount", args=[target_a, flags_a], detail=with_resolved(detail, resolved))


def _pivot_root(ctx: CallContext) -> Decoded:
    resolved: dict[str, str] = {}
    new_a, new_root = path_arg(ctx, "new_root", ctx.args[0], resolved)
    old_a, put_old = path_arg(ctx, "put_old", ctx.args[1], resolved)
    detail = {"new_root": new_root, "put_old": put_old}
    return Decoded(category="mount", args=[new_a, old_a], detail=with_resolved(detail, resolved))


def _chroot(ctx: CallContext) -> Decoded:
    resolved: dict[str, str] = {}
    path_a, path = path_arg(ctx, "path", ctx.args[0], resolved)
    return Decoded(category="mount", args=[path_a], detail=with_resolved({"path": path}, resolved))


DECODERS = {
    "mount": _mount,
    "umount2": _umount2,
    "pivot_root": _pivot_root,
    "chroot": _chroot,
}
CATEGORIES = {name: "mount" for name in DECODERS}
RESULTS: dict[str, str] = {}

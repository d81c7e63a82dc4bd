"""Namespaces: clone, clone3 (struct clone_args), unshare, setns."""

from __future__ import annotations

from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.decoders.common import (
    U64,
    fd_arg,
    fd_path,
    flags_arg,
    hex_arg,
    ptr_arg,
    ptr_text,
    read_u32s,
    read_u64s,
    s32,
    uint_arg,
)
from boxtrace.tracer.events import Arg
from boxtrace.tracer.tables.clone import (
    CLONE3_FLAGS,
    CLONE_ARG_ORDER,
    CLONE_ARGS_FIELDS,
    CLONE_ARGS_SIZE_VER0,
    CLONE_FLAGS,
    CLONE_INTO_CGROUP,
    CLONE_NEW_MASK,
    CLONE_NEW_MASK_CLONE,
    CSIGNAL,
    NS_FILE_OF_FLAG,
    SETNS_TYPES,
    UNSHARE_FLAGS,
    namespaces_of,
)
from boxtrace.tracer.tables.signals import signal_name
from boxtrace.tracer.tables.xlat import flags_text

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import Any


# The kernel's limit on clone_args.set_tid_size (MAX_PID_NS_LEVEL).
_MAX_SET_TID = 32


_CLONE_ARG = {"stack": ptr_arg, "parent_tid": ptr_arg, "child_tid": ptr_arg, "tls": hex_arg}


def _clone(ctx: CallContext) -> Decoded | None:
    order = CLONE_ARG_ORDER[ctx.arch]
    flags = ctx.args[0]
    if not flags & CLONE_NEW_MASK_CLONE and not ctx.report_all:
        return None
    names, text = flags_text(flags & ~CSIGNAL & U64, CLONE_FLAGS)
    sig = flags & CSIGNAL
    sig_text = signal_name(sig) if sig else None
    if sig_text is not None:
        text = sig_text if text == "0" else f"{text}|{sig_text}"
    namespaces = namespaces_of(flags & CLONE_NEW_MASK_CLONE)
    detail: dict[str, Any] = {"flags": names, "namespaces": namespaces, "exit_signal": sig_text}
    return Decoded(
        category="namespace" if namespaces else "process",
        # In the arch's register order: on arm64 (CLONE_BACKWARDS) tls comes before child_tid.
        args=[
            Arg("flags", flags, text, flags=names) if name == "flags" else _CLONE_ARG[name](name, value)
            for name, value in zip(order, ctx.args, strict=False)
        ],
        detail=detail,
    )


def _clone_args_text(fields: dict[str, Any]) -> str:
    parts = []
    for key, value in fields.items():
        shown = "[" + ", ".join(str(v) for v in value) + "]" if isinstance(value, list) else str(value)
        parts.append(f"{key}={shown}")
    return "{" + ", ".join(parts) + "}"


def _clone3(ctx: CallContext) -> Decoded | None:
    addr, size = ctx.args[0], ctx.args[1]
    count = min(size, len(CLONE_ARGS_FIELDS) * 8) // 8
    raw = read_u64s(ctx, addr, count) if size >= CLONE_ARGS_SIZE_VER0 else None
    size_arg = uint_arg("size", size)
    if raw is None:
        if not ctx.report_all:
            return None  # the kernel will fail it with EFAULT/EINVAL; nothing was created
        return Decoded(category="process", args=[ptr_arg("cl_args", addr), size_arg])
    values = dict(zip(CLONE_ARGS_FIELDS, raw, strict=False))
    flags = values["flags"]
    if not flags & (CLONE_NEW_MASK | CLONE_INTO_CGROUP) and not ctx.report_all:
        return None
    names, flags_shown = flags_text(flags, CLONE3_FLAGS)
    exit_signal = signal_name(values["exit_signal"]) if values["exit_signal"] else "0"
    fields: dict[str, Any] = {
        "flags": flags_shown,
        "pidfd": ptr_text(values["pidfd"]),
        "child_tid": ptr_text(values["child_tid"]),
        "parent_tid": ptr_text(values["parent_tid"]),
        "exit_signal": exit_signal,
        "stack": ptr_text(values["stack"]),
        "stack_size": values["stack_size"],
        "tls": f"{values['tls']:#x}",
    }
    namespaces = namespaces_of(flags & CLONE_NEW_MASK)
    detail: dict[str, Any] = {"flags": names, "namespaces": namespaces, "exit_signal": exit_signal}
    if "set_tid" in values:
        tid_count = values.get("set_tid_size", 0)
        tids = read_u32s(ctx, values["set_tid"], tid_count) if 0 < tid_count <= _MAX_SET_TID else None
        if tids is not None:
            fields["set_tid"] = [s32(t) for t in tids]
            detail["set_tid"] = fields["set_tid"]
        else:
            fields["set_tid"] = ptr_text(values["set_tid"])
        fields["set_tid_size"] = tid_count
    category = "namespace" if namespaces else "process"
    if "cgroup" in values and flags & CLONE_INTO_CGROUP:
        cgroup_fd = s32(values["cgroup"])
        path = fd_path(ctx, cgroup_fd)
        fields["cgroup"] = f"{cgroup_fd}<{path}>" if path is not None else cgroup_fd
        detail["cgroup_path"] = path
        if not namespaces:
            category = "cgroup"
    elif "cgroup" in values:
        fields["cgroup"] = s32(values["cgroup"])
    return Decoded(
        category=category,
        args=[
            Arg("cl_args", addr, _clone_args_text(fields), flags=names, fields=fields),
            size_arg,
        ],
        detail=detail,
    )


def _unshare(ctx: CallContext) -> Decoded | None:
    flags = ctx.args[0] & 0xFFFFFFFF
    arg = flags_arg("flags", flags, UNSHARE_FLAGS)
    namespaces = namespaces_of(flags & CLONE_NEW_MASK)
    return Decoded(
        category="namespace" if namespaces else "process",
        args=[arg],
        detail={"flags": arg.flags, "namespaces": namespaces},
    )


def _ns_of_fd_path(path: str) -> dict[str, Any]:
    """What an fd given to setns refers to: nsfs links read ``net:[4026531840]``."""
    if path.startswith("/proc/"):
        parts = path[6:].split("/")
        if len(parts) == 3 and parts[1] == "ns":
            out: dict[str, Any] = {"ns_type": parts[2]}
            if parts[0].isdigit():
                out["target_pid"] = int(parts[0])
            return out
        return {}
    if path == "anon_inode:[pidfd]" or path.startswith("pidfd:"):
        return {"pidfd": True}
    kind, sep, rest = path.partition(":[")
    if sep and rest.endswith("]") and rest[:-1].isdigit() and kind in NS_FILE_OF_FLAG.values():
        return {"ns_type": kind, "ns_inode": int(rest[:-1])}
    return {}


def _setns(ctx: CallContext) -> Decoded:
    fd_a, path = fd_arg(ctx, "fd", ctx.args[0])
    nstype = ctx.args[1] & 0xFFFFFFFF
    type_arg = flags_arg("nstype", nstype, SETNS_TYPES)
    detail: dict[str, Any] = {"fd_path": path, "namespaces": namespaces_of(nstype)}
    if path is not None:
        detail.update(_ns_of_fd_path(path))
    if "ns_type" in detail and not detail["namespaces"]:
        detail["namespaces"] = [detail["ns_type"]]
    return Decoded(category="namespace", args=[fd_a, type_arg], detail=detail)


DECODERS = {
    "clone": _clone,
    "clone3": _clone3,
    "unshare": _unshare,
    "setns": _setns,
}
CATEGORIES = {"clone": "namespace", "clone3": "namespace", "unshare": "namespace", "setns": "namespace"}
RESULTS = {"clone": "pid", "clone3": "pid"}

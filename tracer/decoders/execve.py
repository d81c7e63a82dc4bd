"""execve and execveat: the program path and its argv (the environment is only counted)."""

from __future__ import annotations

from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.decoders.common import (
    U32,
    dirfd_arg,
    path_arg,
    ptr_arg,
    ptr_text,
    quote,
    read_pointer_array,
    s32,
    with_resolved,
)
from boxtrace.tracer.events import Arg
from boxtrace.tracer.tables.fcntl import AT_FDCWD, EXECVEAT_FLAGS
from boxtrace.tracer.tables.xlat import flags_text

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import Any


ARGV_MAX = 64  # entries kept
ARG_STR_MAX = 4096  # bytes kept per entry
ENV_COUNT_MAX = 256  # the environment is counted up to this many entries, not read


def _argv(ctx: CallContext, addr: int) -> tuple[Arg, dict[str, Any]]:
    found = read_pointer_array(ctx, addr, ARGV_MAX)
    if found is None:
        return ptr_arg("argv", addr), {"argv": None}
    ptrs, complete = found
    argv: list[str] = []
    shown: list[str] = []
    for ptr in ptrs:
        value = ctx.mem.read_cstring(ptr, ARG_STR_MAX)
        if value is None:
            shown.append(ptr_text(ptr))
            complete = False
            continue
        argv.append(value)
        shown.append(quote(value, truncated=len(value) >= ARG_STR_MAX))
    text = "[" + ", ".join(shown) + ("" if complete else ", ...") + "]"
    return Arg("argv", addr, text), {"argv": argv, "argv_truncated": not complete}


def _envp(ctx: CallContext, addr: int) -> tuple[Arg, dict[str, Any]]:
    found = read_pointer_array(ctx, addr, ENV_COUNT_MAX)
    if found is None:
        return ptr_arg("envp", addr), {}
    ptrs, complete = found
    count = f"{len(ptrs)}" if complete else f"{len(ptrs)}+"
    return Arg("envp", addr, f"{ptr_text(addr)} /* {count} vars */"), {"env_count": len(ptrs)}


def _exec(
    ctx: CallContext, dirfd: int, path_addr: int, argv_addr: int, env_addr: int
) -> tuple[list[Arg], dict[str, Any]]:
    resolved: dict[str, str] = {}
    args: list[Arg] = []
    dir_path = None
    if dirfd != AT_FDCWD:
        dir_a, dir_path = dirfd_arg(ctx, "dirfd", dirfd)
        args.append(dir_a)
    path_a, path = path_arg(ctx, "pathname", path_addr, resolved, dirfd, dir_path)
    argv_a, argv_detail = _argv(ctx, argv_addr)
    env_a, env_detail = _envp(ctx, env_addr)
    args += [path_a, argv_a, env_a]
    detail: dict[str, Any] = {"path": path, **argv_detail, **env_detail}
    return args, with_resolved(detail, resolved)


def _execve(ctx: CallContext) -> Decoded:
    args, detail = _exec(ctx, AT_FDCWD, ctx.args[0], ctx.args[1], ctx.args[2])
    return Decoded(category="exec", args=args, detail=detail)


def _execveat(ctx: CallContext) -> Decoded:
    dirfd = s32(ctx.args[0])
    args, detail = _exec(ctx, dirfd, ctx.args[1], ctx.args[2], ctx.args[3])
    if dirfd == AT_FDCWD:
        args.insert(0, Arg("dirfd", dirfd, "AT_FDCWD"))
    flags = ctx.args[4] & U32
    names, text = flags_text(flags, EXECVEAT_FLAGS)
    args.append(Arg("flags", flags, text, flags=names))
    detail["flags"] = names
    return Decoded(category="exec", args=args, detail=detail)


DECODERS = {"execve": _execve, "execveat": _execveat}
CATEGORIES = {"execve": "exec", "execveat": "exec"}
RESULTS: dict[str, str] = {}

"""seccomp(2), and the struct sock_fprog it shares with prctl(PR_SET_SECCOMP)."""

from __future__ import annotations

import struct

from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.decoders.common import U32, enum_arg, flags_arg, ptr_arg, read_u32s
from boxtrace.tracer.events import Arg
from boxtrace.tracer.tables.seccomp import (
    SECCOMP_FILTER_FLAGS,
    SECCOMP_GET_ACTION_AVAIL,
    SECCOMP_OPS,
    SECCOMP_RET_ACTIONS,
    SECCOMP_SET_MODE_FILTER,
    SECCOMP_SET_MODE_STRICT,
    SOCK_FPROG_SIZE,
)
from boxtrace.tracer.tables.xlat import enum_text

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import Any


_FPROG = struct.Struct("<H6xQ")


def fprog_arg(ctx: CallContext, name: str, addr: int) -> tuple[Arg, int | None]:
    """A ``struct sock_fprog *``: ``{len=12, filter=0x...}``; also returns the instruction count."""
    data = ctx.mem.read_bytes(addr, SOCK_FPROG_SIZE) if addr else None
    if data is None or len(data) < SOCK_FPROG_SIZE:
        return ptr_arg(name, addr), None
    length, filt = _FPROG.unpack(data)
    fields = {"len": length, "filter": f"{filt:#x}" if filt else "NULL"}
    return Arg(name, addr, f"{{len={length}, filter={fields['filter']}}}", fields=fields), length


def _seccomp(ctx: CallContext) -> Decoded:
    op, flags, addr = ctx.args[0] & U32, ctx.args[1] & U32, ctx.args[2]
    op_a = enum_arg("operation", op, SECCOMP_OPS)
    detail: dict[str, Any] = {"operation": SECCOMP_OPS.name(op)}
    args_a: Arg
    if op == SECCOMP_SET_MODE_FILTER:
        flags_a = flags_arg("flags", flags, SECCOMP_FILTER_FLAGS)
        args_a, length = fprog_arg(ctx, "args", addr)
        detail.update({"mode": "filter", "filter_len": length, "flags": flags_a.flags})
    elif op == SECCOMP_GET_ACTION_AVAIL:
        flags_a = Arg("flags", flags, str(flags))
        action = read_u32s(ctx, addr, 1)
        if action is None:
            args_a = ptr_arg("args", addr)
        else:
            args_a = Arg("args", addr, f"[{enum_text(action[0], SECCOMP_RET_ACTIONS)}]")
            detail["action"] = SECCOMP_RET_ACTIONS.name(action[0])
    else:
        flags_a = Arg("flags", flags, str(flags))
        args_a = ptr_arg("args", addr)
        if op == SECCOMP_SET_MODE_STRICT:
            detail["mode"] = "strict"
    return Decoded(category="security", args=[op_a, flags_a, args_a], detail=detail)


DECODERS = {"seccomp": _seccomp}
CATEGORIES = {"seccomp": "security"}
RESULTS: dict[str, str] = {}

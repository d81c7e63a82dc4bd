"""prctl(2): the option, then each option's own arguments (capabilities, signals, modes, names)."""

from __future__ import annotations

from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.decoders.common import U32, U64, enum_arg, flags_arg, hex_arg, s32, string_arg
from boxtrace.tracer.decoders.seccomp import fprog_arg
from boxtrace.tracer.events import Arg
from boxtrace.tracer.tables.capability import cap_name
from boxtrace.tracer.tables.prctl import (
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAP_AMBIENT_OPS,
    PR_CAPBSET_DROP,
    PR_CAPBSET_READ,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_DUMPABLE,
    PR_SET_KEEPCAPS,
    PR_SET_NAME,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    PR_SET_SECCOMP,
    PR_SET_SECUREBITS,
    PRCTL_OPTIONS,
    PRCTL_TRAPPED,
    SUID_DUMP_MODES,
)
from boxtrace.tracer.tables.seccomp import SECCOMP_MODE_FILTER, SECCOMP_MODES
from boxtrace.tracer.tables.securebits import SECUREBITS
from boxtrace.tracer.tables.signals import signal_name

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

    OptionDecoder: TypeAlias = Callable[[CallContext], tuple[list[Arg], dict[str, Any]]]


# The comm name is at most TASK_COMM_LEN - 1 bytes.
TASK_COMM_LEN = 16


def _cap(ctx: CallContext) -> tuple[list[Arg], dict[str, Any]]:
    cap = s32(ctx.args[1])
    name = cap_name(cap)
    return [Arg("cap", cap, name)], {"capability": name}


def _bool(key: str) -> OptionDecoder:
    def decode(ctx: CallContext) -> tuple[list[Arg], dict[str, Any]]:
        value = ctx.args[1] & U64
        return [Arg(key, value, str(value))], {key: bool(value)}

    return decode


def _pdeathsig(ctx: CallContext) -> tuple[list[Arg], dict[str, Any]]:
    sig = s32(ctx.args[1])
    name = signal_name(sig)
    return [Arg("signal", sig, name)], {"signal": name if sig else None}


def _dumpable(ctx: CallContext) -> tuple[list[Arg], dict[str, Any]]:
    arg = enum_arg("dumpable", ctx.args[1] & U64, SUID_DUMP_MODES)
    return [arg], {"dumpable": ctx.args[1] & U64}


def _name(ctx: CallContext) -> tuple[list[Arg], dict[str, Any]]:
    arg, name = string_arg(ctx, "name", ctx.args[1], TASK_COMM_LEN)
    if name is not None:
        name = name[: TASK_COMM_LEN - 1]
    return [arg], {"name": name}


def _seccomp(ctx: CallContext) -> tuple[list[Arg], dict[str, Any]]:
    mode = ctx.args[1] & U32
    mode_a = enum_arg("mode", mode, SECCOMP_MODES)
    detail: dict[str, Any] = {"mode": SECCOMP_MODES.name(mode)}
    if mode != SECCOMP_MODE_FILTER:
        return [mode_a], detail
    prog_a, length = fprog_arg(ctx, "filter", ctx.args[2])
    detail["filter_len"] = length
    return [mode_a, prog_a], detail


def _securebits(ctx: CallContext) -> tuple[list[Arg], dict[str, Any]]:
    arg = flags_arg("bits", ctx.args[1] & U64, SECUREBITS)
    return [arg], {"securebits": arg.flags}


def _cap_ambient(ctx: CallContext) -> tuple[list[Arg], dict[str, Any]]:
    op = ctx.args[1] & U64
    op_a = enum_arg("op", op, PR_CAP_AMBIENT_OPS)
    detail: dict[str, Any] = {"op": PR_CAP_AMBIENT_OPS.name(op)}
    if op == PR_CAP_AMBIENT_CLEAR_ALL:
        return [op_a], detail
    cap = s32(ctx.args[2])
    name = cap_name(cap)
    detail["capability"] = name
    return [op_a, Arg("cap", cap, name)], detail


OPTION_DECODERS: dict[int, OptionDecoder] = {
    PR_SET_PDEATHSIG: _pdeathsig,
    PR_SET_DUMPABLE: _dumpable,
    PR_SET_KEEPCAPS: _bool("keepcaps"),
    PR_SET_NAME: _name,
    PR_SET_SECCOMP: _seccomp,
    PR_CAPBSET_READ: _cap,
    PR_CAPBSET_DROP: _cap,
    PR_SET_SECUREBITS: _securebits,
    PR_SET_CHILD_SUBREAPER: _bool("subreaper"),
    PR_SET_NO_NEW_PRIVS: _bool("no_new_privs"),
    PR_CAP_AMBIENT: _cap_ambient,
}

# Options about the process's life and name rather than its privileges.
PROCESS_OPTIONS: frozenset[int] = frozenset({PR_SET_NAME, PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER})


def _prctl(ctx: CallContext) -> Decoded | None:
    option = s32(ctx.args[0])
    if option not in PRCTL_TRAPPED and not ctx.report_all:
        return None
    option_a = enum_arg("option", option & U32, PRCTL_OPTIONS)
    option_a.raw = option
    decode = OPTION_DECODERS.get(option)
    if decode is not None:
        rest, detail = decode(ctx)
    else:
        rest = [hex_arg(f"arg{i}", ctx.args[i - 1]) for i in range(2, 6)]
        detail = {}
    detail["option"] = PRCTL_OPTIONS.name(option & U32)
    return Decoded(
        category="process" if option in PROCESS_OPTIONS else "security",
        args=[option_a, *rest],
        detail=detail,
    )


DECODERS = {"prctl": _prctl}
CATEGORIES = {"prctl": "security"}
RESULTS: dict[str, str] = {}

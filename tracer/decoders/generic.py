"""The fallback for calls no family decodes (reported only with --all).

Argument names and C types come from python-ptrace's table of syscall prototypes: strings and paths
are read from the tracee like strace does, fds are shown with the path behind them (strace -y),
numbers in decimal, pointers in hex. python-ptrace is imported on first use only: it costs tens of
milliseconds, which the default (filtered) mode never pays. Calls it does not know keep hex args.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from boxtrace.tracer.arch import get_arch
from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.events import Arg

# Argument names that hold a NUL-terminated string (python-ptrace's FILENAME_ARGUMENTS plus these).
_STRING_NAMES = frozenset({"name", "dev_name", "dir_name", "type", "fstype", "special", "oldname", "newname"})
_FD_NAMES = frozenset({"fd", "dfd", "dirfd", "olddfd", "newdfd", "oldfd", "newfd", "sockfd", "epfd"})
_SIGNED32 = frozenset({"int", "pid_t", "clockid_t", "key_t", "mqd_t", "timer_t"})
_SIGNED64 = frozenset({"long", "loff_t", "off_t", "ssize_t"})

Prototype = tuple[tuple[str, str], ...]  # ((C type, argument name), ...)


@functools.cache
def prototypes() -> dict[str, Prototype]:
    from ptrace.syscall.prototypes import ALIASES, SYSCALL_PROTOTYPES

    table: dict[str, Prototype] = {name: args for name, (_ret, args) in SYSCALL_PROTOTYPES.items()}
    for name, aliases in ALIASES.items():
        for alias in aliases:
            if name in table:
                table.setdefault(alias, table[name])
    return table


@functools.cache
def _string_names() -> frozenset[str]:
    from ptrace.syscall.prototypes import FILENAME_ARGUMENTS

    return frozenset(FILENAME_ARGUMENTS) | _STRING_NAMES


def decode_raw(ctx: CallContext, category: str = "other") -> Decoded:
    """Every argument in hex: for calls nobody knows, and when a decoder failed."""
    count = get_arch(ctx.arch).nargs(ctx.name)
    return Decoded(
        category=category, args=[Arg(f"arg{i}", v, f"{v:#x}") for i, v in enumerate(ctx.args[:count])]
    )


def decode_generic(ctx: CallContext, category: str = "other") -> Decoded:
    plan = _plan(ctx.name)
    if plan is None:
        return decode_raw(ctx, category)
    return Decoded(
        category=category,
        args=[
            Arg(name, value, _FORMATS[kind](ctx, value))
            for (name, kind), value in zip(plan, ctx.args, strict=False)
        ],
    )


# How an argument is shown, worked out once per syscall from its C type and name (--all decodes
# thousands of calls a second, on the trace loop).
_POINTER, _STRING, _FD, _S32, _S64, _U32, _DECIMAL = range(7)
_UNSIGNED32 = frozenset({"unsigned int", "unsigned", "umode_t", "uid_t", "gid_t", "old_uid_t", "old_gid_t"})


@functools.cache
def _plan(name: str) -> tuple[tuple[str, int], ...] | None:
    proto = prototypes().get(name)
    if proto is None:
        return None
    return tuple((arg, _kind(ctype, arg, _string_names())) for ctype, arg in proto)


def _kind(ctype: str, name: str, strings: frozenset[str]) -> int:
    if ctype.endswith("*"):
        return _STRING if "char" in ctype and name in strings else _POINTER
    if name in _FD_NAMES:
        return _FD
    if ctype in _SIGNED32:
        return _S32
    if ctype in _SIGNED64:
        return _S64
    if ctype in _UNSIGNED32:
        return _U32
    return _DECIMAL


def _pointer(ctx: CallContext, value: int) -> str:
    return f"{value:#x}" if value else "NULL"


def _string(ctx: CallContext, value: int) -> str:
    if value == 0:
        return "NULL"
    text = ctx.mem.read_cstring(value)
    return f"{value:#x}" if text is None else _quote(text)


def _fd(ctx: CallContext, value: int) -> str:
    fd = _s32(value)
    if fd == -100:
        return "AT_FDCWD"
    path = ctx.proc.fd_path(fd) if fd >= 0 else None
    return f"{fd}<{path}>" if path else str(fd)


def _signed64(ctx: CallContext, value: int) -> str:
    return str(value - (1 << 64) if value >= 1 << 63 else value)


_FORMATS: tuple[Callable[[CallContext, int], str], ...] = (
    _pointer,
    _string,
    _fd,
    lambda ctx, value: str(_s32(value)),
    _signed64,
    lambda ctx, value: str(value & 0xFFFFFFFF),
    lambda ctx, value: str(value),
)


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped[:256]}"' + ("..." if len(escaped) > 256 else "")

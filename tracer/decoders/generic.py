"""The fallback for calls no family decodes (reported only with --all).

Argument names and C types come from python-ptrace's table of syscall prototypes: strings and paths
are read from the tracee like strace does, fds are shown with the path behind them (strace -y),
numbers in decimal, pointers in hex. python-ptrace is imported on first use only: it costs tens of
milliseconds, which the default (filtered) mode never pays. Calls it does not know keep hex args.
"""

from __future__ import annotations

import functools

from boxtrace.tracer.arch import get_arch
from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.events import Arg

_ARCH = get_arch("x86_64")
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
    count = _ARCH.nargs(ctx.name)
    return Decoded(
        category=category, args=[Arg(f"arg{i}", v, f"{v:#x}") for i, v in enumerate(ctx.args[:count])]
    )


def decode_generic(ctx: CallContext, category: str = "other") -> Decoded:
    proto = prototypes().get(ctx.name)
    if proto is None:
        return decode_raw(ctx, category)
    strings = _string_names()
    args = []
    for (ctype, name), value in zip(proto, ctx.args, strict=False):
        args.append(Arg(name, value, _text(ctx, ctype, name, value, strings)))
    return Decoded(category=category, args=args)


def _text(ctx: CallContext, ctype: str, name: str, value: int, strings: frozenset[str]) -> str:
    if ctype.endswith("*"):
        if value == 0:
            return "NULL"
        if "char" in ctype and name in strings:
            text = ctx.mem.read_cstring(value)
            return f"{value:#x}" if text is None else _quote(text)
        return f"{value:#x}"
    if name in _FD_NAMES:
        fd = _s32(value)
        if fd == -100:
            return "AT_FDCWD"
        path = ctx.proc.fd_path(fd) if fd >= 0 else None
        return f"{fd}<{path}>" if path else str(fd)
    if ctype in _SIGNED32:
        return str(_s32(value))
    if ctype in _SIGNED64:
        return str(value - (1 << 64) if value >= 1 << 63 else value)
    if ctype in ("unsigned int", "unsigned", "umode_t", "uid_t", "gid_t", "old_uid_t", "old_gid_t"):
        return str(value & 0xFFFFFFFF)
    return str(value)


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped[:256]}"' + ("..." if len(escaped) > 256 else "")

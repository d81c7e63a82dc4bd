"""The fallback for calls no family decodes (reported only with --all).

Argument names and C types come from python-ptrace's table of syscall prototypes: strings and paths
are read from the tracee like strace does, fds are shown with the path behind them (strace -y),
numbers in decimal, pointers in hex. python-ptrace is imported on first use only: it costs tens of
milliseconds, which the default (filtered) mode never pays. Calls it does not know keep hex args.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType

from boxtrace.tracer.arch import get_arch
from boxtrace.tracer.decoders.base import CallContext, Decoded, MemoryReader, ProcView
from boxtrace.tracer.events import Arg

# Argument names that hold a NUL-terminated string (python-ptrace's FILENAME_ARGUMENTS plus these).
_STRING_NAMES = frozenset({"name", "dev_name", "dir_name", "type", "fstype", "special", "oldname", "newname"})
_FD_NAMES = frozenset({"fd", "dfd", "dirfd", "olddfd", "newdfd", "oldfd", "newfd", "sockfd", "epfd"})
_SIGNED32 = frozenset({"int", "pid_t", "clockid_t", "key_t", "mqd_t", "timer_t"})
_SIGNED64 = frozenset({"long", "loff_t", "off_t", "ssize_t"})

Prototype = tuple[tuple[str, str], ...]  # ((C type, argument name), ...)


@functools.cache
def _ptrace_prototypes() -> ModuleType:
    """python-ptrace's ``ptrace.syscall.prototypes``: a module of data that imports nothing.

    Imported by name, it brings its packages' ``__init__`` along: python-ptrace's ptrace binding,
    ctypes.util, subprocess, socket, datetime, enum... (~12 ms of every --all trace's start, in
    the tracer and in its writer process). So its file is run on its own, as a module outside the
    package (from its cached bytecode); by name only if that cannot be done.
    """
    import sys

    known = sys.modules.get("ptrace.syscall.prototypes")
    if known is not None:
        return known
    from importlib.machinery import PathFinder, SourceFileLoader

    spec = PathFinder.find_spec("ptrace")
    folders = spec.submodule_search_locations if spec is not None else None
    if folders:
        path = f"{next(iter(folders))}/syscall/prototypes.py"
        loader = SourceFileLoader("boxtrace._ptrace_prototypes", path)
        module = ModuleType(loader.name)
        module.__file__ = path
        try:
            loader.exec_module(module)
        except (OSError, ImportError):
            pass
        else:
            return module
    import ptrace.syscall.prototypes as by_name

    return by_name


@functools.cache
def prototypes() -> dict[str, Prototype]:
    source = _ptrace_prototypes()
    table: dict[str, Prototype] = {name: args for name, (_ret, args) in source.SYSCALL_PROTOTYPES.items()}
    for name, aliases in source.ALIASES.items():
        for alias in aliases:
            if name in table:
                table.setdefault(alias, table[name])
    return table


@functools.cache
def _string_names() -> frozenset[str]:
    return frozenset(_ptrace_prototypes().FILENAME_ARGUMENTS) | _STRING_NAMES


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
    mem, proc = ctx.mem, ctx.proc
    # format_generic(read_generic(...)) in one pass: the trace loop runs this thousands of times a second.
    return Decoded(
        category=category,
        args=[
            Arg(name, value, _FORMATS[kind](value, _READS[kind](mem, proc, value)))
            for (name, kind), value in zip(plan, ctx.args, strict=False)
        ],
    )


# The two halves of decode_generic. ``read_generic`` runs while the tracee is stopped: it fetches
# what cannot be read later (strings from its memory, the paths behind its fds). ``format_generic``
# turns that into text and may run anywhere later: --all's writer process does it (tracer/relay.py).
Fetched = tuple[str | None, ...]  # per planned argument: the string or fd path read, or None


def read_generic(mem: MemoryReader, proc: ProcView, plan: Plan, args: tuple[int, ...]) -> Fetched:
    if plan not in _READING:  # no string, no fd (futex, nanosleep, mmap...): nothing to read
        return _NOTHING_READ
    return tuple([_READS[kind](mem, proc, value) for (_name, kind), value in zip(plan, args, strict=False)])


def format_generic(plan: Plan, args: tuple[int, ...], fetched: Fetched, category: str = "other") -> Decoded:
    return Decoded(
        category=category,
        args=[
            Arg(name, value, _FORMATS[kind](value, got))
            for (name, kind), value, got in zip(plan, args, fetched, strict=False)
        ],
    )


# How an argument is shown, worked out once per syscall from its C type and name (--all decodes
# thousands of calls a second, on the trace loop).
_POINTER, _STRING, _FD, _S32, _S64, _U32, _DECIMAL = range(7)
_UNSIGNED32 = frozenset({"unsigned int", "unsigned", "umode_t", "uid_t", "gid_t", "old_uid_t", "old_gid_t"})


Plan = tuple[tuple[str, int], ...]  # ((argument name, how it is shown), ...)


@functools.cache
def _plan(name: str) -> Plan | None:
    proto = prototypes().get(name)
    if proto is None:
        return None
    plan = tuple((arg, _kind(ctype, arg, _string_names())) for ctype, arg in proto)
    if any(kind in (_STRING, _FD) for _arg, kind in plan):
        _READING.add(plan)
    return plan


_READING: set[Plan] = set()  # the plans with an argument read from the tracee or /proc
_NOTHING_READ: Fetched = (None,) * 6
NOTHING_READ = _NOTHING_READ  # what read_generic gives for a plan that reads nothing


def reads_tracee(plan: Plan) -> bool:
    """Whether read_generic reads anything for ``plan`` (a string or an fd's path)."""
    return plan in _READING


def load_prototypes() -> None:
    """Import python-ptrace's prototype table now (it is otherwise imported at the first call):
    before --all's writer process is forked, so that both processes have it for one import."""
    prototypes()
    _string_names()


def plan_of(name: str) -> Plan | None:
    """How each argument of ``name`` is read and shown; None for a call without a prototype."""
    return _plan(name)


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


def _nothing(mem: MemoryReader, proc: ProcView, value: int) -> str | None:
    return None


def _read_string(mem: MemoryReader, proc: ProcView, value: int) -> str | None:
    return mem.read_cstring(value) if value else None


def _read_fd(mem: MemoryReader, proc: ProcView, value: int) -> str | None:
    fd = _s32(value)
    return proc.fd_path(fd) if fd >= 0 else None


_READS: tuple[Callable[[MemoryReader, ProcView, int], str | None], ...] = (
    _nothing,
    _read_string,
    _read_fd,
    _nothing,
    _nothing,
    _nothing,
    _nothing,
)


def _pointer(value: int, got: str | None) -> str:
    return f"{value:#x}" if value else "NULL"


def _string(value: int, got: str | None) -> str:
    if value == 0:
        return "NULL"
    return f"{value:#x}" if got is None else _quote(got)


def _fd(value: int, got: str | None) -> str:
    fd = _s32(value)
    if fd == -100:
        return "AT_FDCWD"
    return f"{fd}<{got}>" if got else str(fd)


def _signed64(value: int, got: str | None) -> str:
    return str(value - (1 << 64) if value >= 1 << 63 else value)


_FORMATS: tuple[Callable[[int, str | None], str], ...] = (
    _pointer,
    _string,
    _fd,
    lambda value, got: str(_s32(value)),
    _signed64,
    lambda value, got: str(value & 0xFFFFFFFF),
    lambda value, got: str(value),
)


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped[:256]}"' + ("..." if len(escaped) > 256 else "")

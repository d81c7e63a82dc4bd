"""Building blocks every decoder family shares: argument rendering, memory reads, path resolution.

Texts follow strace: strings quoted with C escapes, NULL pointers as ``NULL``, unreadable pointers as
their address, fds as ``3</path>`` (strace -y) when the path is known.
"""

from __future__ import annotations

import posixpath
from _collections_abc import Callable  # collections.abc's code, loaded at every start: not collections

from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.events import Arg
from boxtrace.tracer.tables.fcntl import AT_FDCWD
from boxtrace.tracer.tables.xlat import Xlat, enum_text, flags_text

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    import struct
    from typing import Any
else:
    # struct.py only re-exports _struct's functions: its import is ~0.5 M instructions more.
    import _struct as struct


# A family's entry decoder: None means "not worth reporting" (the engine then skips the exit stop).
EntryDecoder = Callable[[CallContext], Decoded | None]

U32 = 0xFFFFFFFF
U64 = (1 << 64) - 1

PATH_MAX = 4096
STR_SHOWN = 256  # longest string kept in an Arg's text; details keep the whole value

_U64_ARRAY = struct.Struct("<Q")


def s32(value: int) -> int:
    """The register's low 32 bits as a C ``int`` (fds, dirfds, uids given as -1)."""
    value &= U32
    return value - (1 << 32) if value & 0x80000000 else value


def s64(value: int) -> int:
    value &= U64
    return value - (1 << 64) if value & (1 << 63) else value


# --- text ---------------------------------------------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\v": "\\v", "\f": "\\f"}


def quote(text: str, limit: int = STR_SHOWN, truncated: bool = False) -> str:
    """``"text"`` with C escapes; ``"..."...`` when cut at ``limit`` or already truncated."""
    if len(text) > limit:
        text = text[:limit]
        truncated = True
    if not text.isprintable() or '"' in text or "\\" in text:
        out = []
        for ch in text:
            esc = _ESCAPES.get(ch)
            if esc is not None:
                out.append(esc)
            elif ch.isprintable():
                out.append(ch)
            else:
                code = ord(ch)
                # surrogateescape keeps undecodable bytes as U+DC80..U+DCFF
                out.append(f"\\x{code - 0xDC00 if 0xDC80 <= code <= 0xDCFF else code:02x}")
        text = "".join(out)
    return f'"{text}"...' if truncated else f'"{text}"'


def ptr_text(addr: int) -> str:
    return "NULL" if addr == 0 else f"{addr:#x}"


def ptr_arg(name: str, addr: int) -> Arg:
    return Arg(name, addr, ptr_text(addr))


def int_arg(name: str, value: int) -> Arg:
    """A C ``int`` argument."""
    value = s32(value)
    return Arg(name, value, str(value))


def uint_arg(name: str, value: int) -> Arg:
    return Arg(name, value, str(value))


def hex_arg(name: str, value: int) -> Arg:
    return Arg(name, value, f"{value:#x}")


def id_arg(name: str, value: int) -> Arg:
    """A uid_t/gid_t: -1 (0xffffffff) means "unchanged" in the set*id calls."""
    value &= U32
    return Arg(name, value, "-1" if value == U32 else str(value))


def flags_arg(name: str, value: int, table: Xlat) -> Arg:
    names, text = flags_text(value, table)
    return Arg(name, value, text, flags=names)


def flags_text_dflt(value: int, table: Xlat) -> tuple[list[str], str]:
    """:func:`flags_text`, but a value none of whose bits has a name reads like strace's
    ``printflags``: ``0x40 /* RESOLVE_??? */``."""
    names, text = flags_text(value, table)
    if not names and value and table.prefix:
        text = f"{text} /* {table.prefix}??? */"
    return names, text


def enum_arg(name: str, value: int, table: Xlat) -> Arg:
    return Arg(name, value, enum_text(value, table))


# --- memory -------------------------------------------------------------------------------------


def read_string(ctx: CallContext, addr: int, limit: int = PATH_MAX) -> str | None:
    """The string at ``addr``; None for NULL or unreadable memory."""
    if addr == 0:
        return None
    return ctx.mem.read_cstring(addr, limit)


def string_arg(ctx: CallContext, name: str, addr: int, limit: int = PATH_MAX) -> tuple[Arg, str | None]:
    """The argument and its value (None when NULL or unreadable: the text then shows the pointer)."""
    value = read_string(ctx, addr, limit)
    if value is None:
        return Arg(name, addr, ptr_text(addr)), None
    return Arg(name, addr, quote(value, truncated=len(value) >= limit)), value


def read_u64s(ctx: CallContext, addr: int, count: int) -> tuple[int, ...] | None:
    """``count`` little-endian u64 values at ``addr`` (structs of __aligned_u64 fields)."""
    if addr == 0:
        return None
    data = ctx.mem.read_bytes(addr, 8 * count)
    if data is None or len(data) < 8 * count:
        return None
    return struct.unpack_from(f"<{count}Q", data)


def read_u32s(ctx: CallContext, addr: int, count: int) -> tuple[int, ...] | None:
    if addr == 0:
        return None
    data = ctx.mem.read_bytes(addr, 4 * count)
    if data is None or len(data) < 4 * count:
        return None
    return struct.unpack_from(f"<{count}I", data)


def read_pointer_array(ctx: CallContext, addr: int, cap: int) -> tuple[list[int], bool] | None:
    """The pointers of a NULL-terminated array (argv/envp), at most ``cap``; ``(ptrs, complete)``."""
    if addr == 0:
        return None
    ptrs: list[int] = []
    chunk = 16
    pos = addr
    while len(ptrs) < cap:
        data = ctx.mem.read_bytes(pos, 8 * chunk)
        if data is None:
            if chunk == 1:
                return (ptrs, False) if ptrs else None
            # The array may end just before an unmapped page: retry one pointer at a time.
            chunk = 1
            continue
        for (ptr,) in _U64_ARRAY.iter_unpack(data):
            if ptr == 0:
                return ptrs, True
            ptrs.append(ptr)
            if len(ptrs) >= cap:
                return ptrs, False
        pos += len(data)
    return ptrs, False


# --- fds and paths ------------------------------------------------------------------------------


def fd_path(ctx: CallContext, fd: int) -> str | None:
    return None if fd < 0 else ctx.proc.fd_path(fd)


def fd_text(fd: int, path: str | None) -> str:
    return f"{fd}<{path}>" if path is not None else str(fd)


def fd_arg(ctx: CallContext, name: str, value: int) -> tuple[Arg, str | None]:
    """An fd argument shown strace -y style; also returns the fd's path."""
    fd = s32(value)
    path = fd_path(ctx, fd)
    return Arg(name, fd, fd_text(fd, path)), path


def dirfd_arg(ctx: CallContext, name: str, value: int, needed: bool = True) -> tuple[Arg, str | None]:
    """A dirfd: ``AT_FDCWD`` or an fd; its path is looked up only when ``needed`` (it costs a readlink)."""
    fd = s32(value)
    if fd == AT_FDCWD:
        return Arg(name, fd, "AT_FDCWD"), None
    path = fd_path(ctx, fd) if needed else None
    return Arg(name, fd, fd_text(fd, path)), path


def _proc_fd(ctx: CallContext, path: str) -> tuple[int, str] | None:
    """``(fd, rest)`` when ``path`` names one of the caller's own fds through /proc."""
    who, _, rest = path[6:].partition("/")
    if who not in ("self", "thread-self") and who != str(ctx.pid) and who != str(ctx.tid):
        return None
    if not rest.startswith("fd/"):
        return None
    num, slash, tail = rest[3:].partition("/")
    if not num.isdigit():
        return None
    return int(num), slash + tail


def resolve_path(
    ctx: CallContext, path: str, dirfd: int = AT_FDCWD, dirfd_path: str | None = None
) -> str | None:
    """The absolute path the kernel will look up, when it differs from ``path`` and can be known.

    Relative paths resolve against the cwd or the dirfd; ``/proc/self/fd/N`` and friends (runc
    mounts onto them) resolve through the fd table; an empty path (AT_EMPTY_PATH) is the dirfd itself.
    """
    if path.startswith("/"):
        if not path.startswith("/proc/"):
            return None
        found = _proc_fd(ctx, path)
        if found is None:
            return None
        base = ctx.proc.fd_path(found[0])
        if base is None or not base.startswith("/"):
            return None
        return base + found[1] if found[1] != "/" else base
    dirfd = s32(dirfd)
    if dirfd == AT_FDCWD:
        base = ctx.proc.cwd()
    else:
        base = dirfd_path if dirfd_path is not None else fd_path(ctx, dirfd)
    if base is None or not base.startswith("/"):
        return None
    if path == "":
        return base
    return posixpath.normpath(posixpath.join(base, path))


def path_arg(
    ctx: CallContext,
    name: str,
    addr: int,
    resolved: dict[str, str],
    dirfd: int = AT_FDCWD,
    dirfd_path: str | None = None,
) -> tuple[Arg, str | None]:
    """A path argument; records its absolute form in ``resolved[name]`` when that differs.

    Returns the path the call acts on (absolute when it could be resolved), None if unreadable.
    """
    arg, value = string_arg(ctx, name, addr)
    if value is None:
        return arg, None
    absolute = resolve_path(ctx, value, dirfd, dirfd_path)
    if absolute is not None and absolute != value:
        resolved[name] = absolute
        return arg, absolute
    return arg, value


def with_resolved(detail: dict[str, Any], resolved: dict[str, str]) -> dict[str, Any]:
    """Adds ``detail["resolved"]`` (arg name -> absolute path) when any path needed resolving."""
    if resolved:
        detail["resolved"] = resolved
    return detail

"""Writes to cgroup files and id maps: write, writev, pwrite64, pwritev, pwritev2.

On cgroupfs and /proc/PID/{uid_map,gid_map,setgroups} a write is a command to the kernel, whichever
of these calls makes it. By default a write is reported only when its fd is one of those files
(fds 0-2 only for a task the engine watches: a shell's ``echo 5 > pids.max`` writes fd 1); with
--all every write is reported as "file". The value written goes into ``detail["value"]`` (an id
map's lines also into ``detail["mappings"]``), whichever call wrote it.

What the value is depends on the file, as the kernel applies a vectored write:

* cgroupfs (kernfs) copies all the iovecs into one buffer and applies it as one write (up to a
  page): the value is their concatenation;
* the /proc id-map files have only a plain ``write`` method, so the kernel calls it once per iovec
  (do_loop_readv_writev) and refuses every write after the first (the offset is no longer 0):
  the value is the first non-empty iovec.
"""

from __future__ import annotations

from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.decoders.classify import parse_id_map, special_file
from boxtrace.tracer.decoders.common import (
    U64,
    fd_path,
    fd_text,
    flags_text_dflt,
    ptr_text,
    quote,
    read_u64s,
    s32,
    s64,
    uint_arg,
)
from boxtrace.tracer.events import Arg
from boxtrace.tracer.tables.rw import IOV_MAX, IOVEC_SIZE, RWF_FLAGS

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import Any, TypeAlias

    Special: TypeAlias = tuple[str, dict[str, Any]]


# What a write to cgroupfs or an id map may carry (a page); larger writes are cut.
WRITE_VALUE_MAX = 4096
# Bytes of an uninteresting write shown with --all, and iovecs shown of an array (strace's default -s).
WRITE_SHOWN = 32
IOV_SHOWN = 32


def _target(ctx: CallContext, fd: int) -> tuple[str | None, Special | None] | None:
    """``(path, special)`` of the file a write goes to; None when the write is not reported."""
    if fd <= 2 and not (ctx.report_all or ctx.watch_stdio):
        return None  # output, skipped before any readlink
    path = fd_path(ctx, fd)
    special = special_file(path, ctx.pid) if path is not None and path.startswith("/") else None
    if special is None and not ctx.report_all:
        return None
    return path, special


def _buffer(ctx: CallContext, addr: int, count: int, limit: int) -> tuple[str, bytes | None]:
    """strace's ``printstrn``: the quoted bytes (cut at ``limit``), ``NULL``, or the address when
    unreadable; and the bytes read."""
    if addr == 0:
        return "NULL", b"" if count == 0 else None
    data = ctx.mem.read_bytes(addr, min(count, limit)) if count else b""
    if data is None:
        return ptr_text(addr), None
    return quote(data.decode("utf-8", "surrogateescape"), truncated=count > len(data)), data


def _fd_arg(fd: int, path: str | None) -> Arg:
    return Arg("fd", fd, fd_text(fd, path))


def _value_text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace").strip()


def _decoded(path: str | None, special: Special | None, args: list[Arg], value: str | None) -> Decoded:
    detail: dict[str, Any] = {"path": path}
    if special is None:
        return Decoded(category="file", args=args, detail=detail)
    category, facts = special
    detail.update(facts)
    detail["value"] = value
    if category == "idmap" and facts["file"] != "setgroups" and value is not None:
        detail["mappings"] = parse_id_map(value)
    return Decoded(category=category, args=args, detail=detail)


# --- write, pwrite64 ----------------------------------------------------------------------------


def _write_common(ctx: CallContext, extra: list[Arg]) -> Decoded | None:
    fd = s32(ctx.args[0])
    target = _target(ctx, fd)
    if target is None:
        return None
    path, special = target
    buf, count = ctx.args[1], ctx.args[2]
    buf_text, data = _buffer(ctx, buf, count, WRITE_VALUE_MAX if special is not None else WRITE_SHOWN)
    args = [_fd_arg(fd, path), Arg("buf", buf, buf_text), uint_arg("count", count), *extra]
    return _decoded(path, special, args, _value_text(data))


def _write(ctx: CallContext) -> Decoded | None:
    return _write_common(ctx, [])


def _pwrite64(ctx: CallContext) -> Decoded | None:
    offset = s64(ctx.args[3])
    return _write_common(ctx, [Arg("offset", offset, str(offset))])


# --- writev, pwritev, pwritev2 ------------------------------------------------------------------


def _read_iovecs(ctx: CallContext, addr: int, count: int) -> tuple[list[tuple[int, int]], bool]:
    """Up to ``count`` ``(iov_base, iov_len)`` pairs; False when one could not be read (the ones
    before it are kept, as strace prints them)."""
    raw = read_u64s(ctx, addr, 2 * count)
    if raw is not None:
        return [(raw[i], raw[i + 1]) for i in range(0, 2 * count, 2)], True
    pairs: list[tuple[int, int]] = []
    for i in range(count):  # the array may end at an unmapped page: one element at a time
        one = read_u64s(ctx, addr + i * IOVEC_SIZE, 2)
        if one is None:
            return pairs, False
        pairs.append((one[0], one[1]))
    return pairs, True


def _iov_value(chunks: list[bytes | None], idmap: bool) -> str | None:
    """What the kernel takes from the iovecs: all of them (cgroupfs), the first non-empty (/proc)."""
    if idmap:
        first = next((c for c in chunks if c is None or c), b"")
        return _value_text(first)
    if any(c is None for c in chunks):
        return None
    return _value_text(b"".join(c for c in chunks if c is not None)[:WRITE_VALUE_MAX])


def _iov(ctx: CallContext, addr: int, iovcnt: int, special: Special | None) -> tuple[str, str | None]:
    """strace's ``[{iov_base="64\\n", iov_len=3}]`` for the iovec array, and the value written."""
    if addr == 0:
        return "NULL", "" if iovcnt == 0 else None
    if iovcnt == 0:
        return "[]", ""
    if iovcnt * IOVEC_SIZE > U64 - addr:
        return ptr_text(addr), None  # the array would wrap around the address space
    # strace shows IOV_SHOWN iovecs and reads one more before its "..."; an interesting write's
    # value may need them all (the kernel takes at most IOV_MAX).
    wanted = min(iovcnt, IOV_MAX if special is not None else IOV_SHOWN + 1)
    pairs, complete = _read_iovecs(ctx, addr, wanted)
    if not pairs:
        return ptr_text(addr), None
    limit = WRITE_VALUE_MAX if special is not None else WRITE_SHOWN
    shown: list[str] = []
    chunks: list[bytes | None] = []
    total = 0
    for index, (base, length) in enumerate(pairs):
        if index >= IOV_SHOWN and (special is None or total >= WRITE_VALUE_MAX):
            break
        text, data = _buffer(ctx, base, length, limit)
        if index < IOV_SHOWN:
            shown.append(f"{{iov_base={text}, iov_len={length}}}")
        chunks.append(data)
        total += len(data) if data is not None else 0
    if not complete and len(pairs) < IOV_SHOWN + 1:
        shown.append(f"... /* {ptr_text(addr + len(pairs) * IOVEC_SIZE)} */")
    elif iovcnt > IOV_SHOWN:
        shown.append("...")
    text = "[" + ", ".join(shown) + "]"
    # An iovec array the kernel cannot read whole, or too long, fails the call (EFAULT, EINVAL).
    if special is None or not complete or iovcnt > IOV_MAX:
        return text, None
    return text, _iov_value(chunks, special[0] == "idmap")


def _writev_common(ctx: CallContext, extra: list[Arg]) -> Decoded | None:
    fd = s32(ctx.args[0])
    target = _target(ctx, fd)
    if target is None:
        return None
    path, special = target
    addr, iovcnt = ctx.args[1], ctx.args[2]
    iov_text, value = _iov(ctx, addr, iovcnt, special)
    args = [_fd_arg(fd, path), Arg("iov", addr, iov_text), uint_arg("iovcnt", iovcnt), *extra]
    return _decoded(path, special, args, value)


def _writev(ctx: CallContext) -> Decoded | None:
    return _writev_common(ctx, [])


def _pwritev(ctx: CallContext) -> Decoded | None:
    # x86_64 passes the offset whole in the fourth register (pos_h, the fifth, is ignored).
    offset = s64(ctx.args[3])
    return _writev_common(ctx, [Arg("offset", offset, str(offset))])


def _pwritev2(ctx: CallContext) -> Decoded | None:
    offset = s64(ctx.args[3])
    names, text = flags_text_dflt(ctx.args[5], RWF_FLAGS)
    flags_a = Arg("flags", ctx.args[5], text, flags=names)
    return _writev_common(ctx, [Arg("offset", offset, str(offset)), flags_a])


DECODERS = {
    "write": _write,
    "pwrite64": _pwrite64,
    "writev": _writev,
    "pwritev": _pwritev,
    "pwritev2": _pwritev2,
}
CATEGORIES = {name: "file" for name in DECODERS}
RESULTS: dict[str, str] = {}

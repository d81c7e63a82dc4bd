"""Syscall decoders: what each trapped call means, as :class:`Decoded`/:class:`Completed` facts.

The engine calls :func:`decode_entry` at every syscall-entry stop and, when that returned a
:class:`Decoded`, :func:`decode_exit` at the matching exit stop. Dispatch is one dict lookup by
syscall name; each family module (clone, mount, fsmount, identity, prctl, capability, seccomp, bpf,
file, write, execve) contributes ``DECODERS`` (name -> entry decoder), ``CATEGORIES`` (name -> its usual
category) and ``RESULTS`` (name -> "fd" | "pid" for calls whose return value is one; a decoder
whose result depends on the arguments, as bpf's, puts ``result_kind`` in ``Decoded.state``).
"""

from __future__ import annotations

from boxtrace.tracer.decoders import (
    bpf,
    capability,
    clone,
    execve,
    file,
    fsmount,
    identity,
    mount,
    prctl,
    seccomp,
    write,
)
from boxtrace.tracer.decoders.base import CallContext, Completed, Decoded
from boxtrace.tracer.decoders.common import EntryDecoder, fd_text, s64
from boxtrace.tracer.decoders.generic import decode_generic, decode_raw
from boxtrace.tracer.tables.errnos import MAX_ERRNO, errno_name, errno_text

__all__ = [
    "CATEGORIES_OF",
    "CATEGORY_OF",
    "DECODERS",
    "RESULT_KIND",
    "decode_entry",
    "decode_exit",
    "number_result",
]

_FAMILIES = (clone, mount, fsmount, identity, prctl, capability, seccomp, bpf, file, write, execve)

DECODERS: dict[str, EntryDecoder] = {}
# The category a call is filed under when nothing more specific applies (consumers filter on it).
CATEGORY_OF: dict[str, str] = {}
RESULT_KIND: dict[str, str] = {}
for _family in _FAMILIES:
    DECODERS.update(_family.DECODERS)
    CATEGORY_OF.update(_family.CATEGORIES)
    RESULT_KIND.update(_family.RESULTS)

# Every category an event of each call can carry: the file family is filed by what it touches.
_FILE_CATEGORIES = frozenset({"cgroup", "idmap", "device", "file"})
CATEGORIES_OF: dict[str, frozenset[str]] = {name: frozenset({cat}) for name, cat in CATEGORY_OF.items()}
for _name in (*file.DECODERS, *write.DECODERS):
    CATEGORIES_OF[_name] = _FILE_CATEGORIES
CATEGORIES_OF.update(
    {
        "clone": frozenset({"namespace", "process"}),
        "clone3": frozenset({"namespace", "process", "cgroup"}),
        "unshare": frozenset({"namespace", "process"}),
        "prctl": frozenset({"security", "process"}),
        "bpf": frozenset({"security", "cgroup"}),
    }
)


def decode_entry(ctx: CallContext) -> Decoded | None:
    """Decode a call at its entry stop; None when it is not worth reporting (skip its exit stop)."""
    decoder = DECODERS.get(ctx.name)
    if decoder is None:
        return decode_generic(ctx) if ctx.report_all else None
    try:
        return decoder(ctx)
    except Exception as exc:  # a decoder bug must never stop the trace: report the raw call instead
        decoded = decode_raw(ctx, CATEGORY_OF.get(ctx.name, "other"))
        decoded.detail["decode_error"] = f"{type(exc).__name__}: {exc}"
        return decoded


def decode_exit(decoded: Decoded, ctx: CallContext, retval: int) -> Completed:
    """The call's result: ``-1 EPERM (Operation not permitted)`` on error, else the value."""
    value = s64(retval)
    if -MAX_ERRNO <= value < 0:
        return number_result(value)
    kind = decoded.state.get("result_kind") or RESULT_KIND.get(ctx.name)
    if kind == "fd":
        # strace -y: the new fd with what it refers to (a path, or anon_inode:[fscontext]...).
        return Completed(fd_text(value, ctx.proc.fd_path(value)), detail={"fd": value})
    if kind == "pid":
        return Completed(str(value), detail={"child_pid": value})
    return Completed(str(value))


def number_result(value: int) -> Completed:
    """The result of a call whose value is a plain number (every call the generic decoder shows):
    ``-1 EPERM (Operation not permitted)`` for an error, else the value. ``value`` is signed."""
    if -MAX_ERRNO <= value < 0:
        err = -value
        return Completed(f"-1 {errno_text(err)}", errno=errno_name(err))
    return Completed(str(value))

"""System calls the trace loop makes without giving up the GIL: they never block.

Python releases the GIL around every system call it makes (os.waitpid, os.readlink...). When the
delivery thread is busy serialising and printing events, taking the GIL back costs the tracer
thread up to a switch interval, each time. These calls go through ctypes.PyDLL instead, which keeps
the GIL for the duration of the call. Measured on ``--all`` traces of runc, a readlink of
``/proc/TID/fd/N`` took 30-42 us through os.readlink and 22-23 us this way (13 us with no delivery
work at all); most stops (7,000-8,000 of ~9,000) are collected by the non-blocking waitpid.
"""

from __future__ import annotations

import os

from boxtrace.tracer import lean_ctypes as ctypes  # not ctypes itself: ~4.5 M to import

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_libc = ctypes.PyDLL("libc.so.6", use_errno=True)
# No argtypes: arguments converted through argtypes cost ~2,000 instructions more a call (callgrind);
# every argument here is a small int, a bytes object or a pointer object, which ctypes passes as is.
_waitpid = _libc.waitpid
_waitpid.restype = ctypes.c_int
_readlink = _libc.readlink
_readlink.restype = ctypes.c_ssize_t

WNOHANG = 1
_PATH_MAX = 4096


class StatusBuffer:
    """The int waitpid fills in; one per trace loop (never shared between threads)."""

    __slots__ = ("ref", "value")

    def __init__(self) -> None:
        self.value = ctypes.c_int()
        self.ref = ctypes.byref(self.value)


def waitpid_ready(options: int, buffer: StatusBuffer) -> int:
    """waitpid(-1, &status, options | WNOHANG): a tid with a stop or exit to report (its status
    is then in ``buffer.value.value``), 0 when no child has one yet, -1 on error (e.g. ECHILD)."""
    return int(_waitpid(ANY_CHILD, buffer.ref, options | WNOHANG))


def raw_waitpid() -> Callable[[object, object, int], int]:
    """libc's waitpid(pid, status, options) itself, for a loop that calls it without a wrapper:
    ``status`` is a ``StatusBuffer``'s ``ref``, ``options`` must include WNOHANG; for pid -1,
    pass ``ANY_CHILD`` (ctypes tries a negative int as unsigned first: an exception set and
    cleared, ~270 instructions a call)."""
    return _waitpid


ANY_CHILD = ctypes.c_int(-1)


def readlink(path: str) -> str | None:
    """os.readlink for the short links under /proc; None when the link cannot be read."""
    buf = ctypes.create_string_buffer(_PATH_MAX)
    n = int(_readlink(os.fsencode(path), buf, _PATH_MAX))
    if n < 0:
        return None
    if n >= _PATH_MAX:  # possibly truncated: let the kernel tell the full length
        try:
            return os.readlink(path)
        except OSError:
            return None
    return os.fsdecode(buf.raw[:n])

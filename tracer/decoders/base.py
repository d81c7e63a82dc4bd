"""The contract between the ptrace engine and the syscall decoders.

The engine stops a tracee at syscall entry, builds a :class:`CallContext` and calls
``boxtrace.tracer.decoders.decode_entry``. A decoder reads what it needs from the tracee's memory
*now* (strings and structs can change after the call starts), and returns a :class:`Decoded`, or
None when the call is not worth reporting (e.g. a write to a pipe): then the engine lets the call run
without an exit stop. At syscall exit the engine calls ``decode_exit`` with the return value.

Decoders never call ptrace themselves and never block: they read memory through ``ctx.mem`` and the
process's fd table / cwd through ``ctx.proc``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from boxtrace.tracer.events import Arg


class MemoryReader(Protocol):
    """Reads the stopped tracee's memory."""

    def read_bytes(self, addr: int, size: int) -> bytes | None:
        """``size`` bytes at ``addr``, or None if the address is not readable."""
        ...

    def read_cstring(self, addr: int, limit: int = 4096) -> str | None:
        """A NUL-terminated string (decoded with surrogateescape), None if unreadable or NULL."""
        ...


class ProcView(Protocol):
    """What the engine knows about the process making the call."""

    def fd_path(self, fd: int) -> str | None:
        """The path behind an fd of this process (readlink of /proc/TID/fd/N), None if unknown."""
        ...

    def cwd(self) -> str | None:
        """The process's current directory (readlink of /proc/TID/cwd), None if unknown."""
        ...


@dataclass(slots=True)
class CallContext:
    pid: int  # thread group id
    tid: int
    nr: int
    name: str
    args: tuple[int, int, int, int, int, int]
    mem: MemoryReader
    proc: ProcView
    report_all: bool = False  # --all: report every call, even ones the default set filters out
    # The task opened a cgroup or id-map file for writing: its writes to fds 0-2 may go there too
    # (a shell's `echo 5 > pids.max` opens the file, moves it to fd 1 and writes fd 1).
    watch_stdio: bool = False
    # The tracee's architecture (tracer/arch NAME): argument order differs (clone on arm64).
    arch: str = "x86_64"


@dataclass(slots=True)
class Decoded:
    """A call decoded at entry.

    ``state`` is private to the decoder that made it (e.g. the path of the fd a write goes to) and
    is handed back to ``decode_exit``.
    """

    category: str
    args: list[Arg]
    detail: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Completed:
    """What ``decode_exit`` adds once the call returned."""

    result_text: str
    errno: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

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

from boxtrace.tracer.plain import Plain

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import Any, Protocol

    from boxtrace.tracer.events import Arg
else:
    Protocol = object  # the two protocols below are for type checkers: at run time plain bases


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


class CallContext(Plain):
    __slots__ = ("arch", "args", "mem", "name", "nr", "pid", "proc", "report_all", "tid", "watch_stdio")

    def __init__(
        self,
        pid: int,
        tid: int,
        nr: int,
        name: str,
        args: tuple[int, int, int, int, int, int],
        mem: MemoryReader,
        proc: ProcView,
        report_all: bool = False,
        watch_stdio: bool = False,
        arch: str = "x86_64",
    ) -> None:
        self.pid = pid  # thread group id
        self.tid = tid
        self.nr = nr
        self.name = name
        self.args = args
        self.mem = mem
        self.proc = proc
        self.report_all = report_all  # --all: report every call, even ones the default set filters out
        # The task opened a cgroup or id-map file for writing: its writes to fds 0-2 may go there too
        # (a shell's `echo 5 > pids.max` opens the file, moves it to fd 1 and writes fd 1).
        self.watch_stdio = watch_stdio
        # The tracee's architecture (tracer/arch NAME): argument order differs (clone on arm64).
        self.arch = arch


class Decoded(Plain):
    """A call decoded at entry.

    ``state`` is private to the decoder that made it (e.g. the path of the fd a write goes to) and
    is handed back to ``decode_exit``.
    """

    __slots__ = ("args", "category", "detail", "state")

    def __init__(
        self,
        category: str,
        args: list[Arg],
        detail: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        self.category = category
        self.args = args
        self.detail: dict[str, Any] = {} if detail is None else detail
        self.state: dict[str, Any] = {} if state is None else state


class Completed(Plain):
    """What ``decode_exit`` adds once the call returned."""

    __slots__ = ("detail", "errno", "result_text")

    def __init__(
        self, result_text: str, errno: str | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        self.result_text = result_text
        self.errno = errno
        self.detail: dict[str, Any] = {} if detail is None else detail

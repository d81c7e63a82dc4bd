"""The ptrace calls the engine makes, through ctypes on libc directly.

python-ptrace's binding would do for PTRACE_CONT and friends, but importing it costs ~40 ms
(``ctypes.util.find_library`` spawns subprocesses) and it lacks SEIZE, INTERRUPT, LISTEN,
GET_SYSCALL_INFO and the seccomp options; so the hot path calls libc itself. Every function here
must be called from the one thread that seized the tracees (the kernel ties a tracee to that task).
"""

from __future__ import annotations

import os

from boxtrace.tracer import lean_ctypes as ctypes  # not ctypes itself: ~4.5 M to import
from boxtrace.tracer.plain import Frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    import struct
    from collections.abc import Callable
else:
    # struct.py only re-exports _struct's functions: its import is ~0.5 M instructions more.
    import _struct as struct

# Requests (include/uapi/linux/ptrace.h).
PTRACE_CONT = 7
PTRACE_KILL = 8
PTRACE_DETACH = 17
PTRACE_SYSCALL = 24
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_GETSIGINFO = 0x4202
PTRACE_GETREGSET = 0x4204
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208
PTRACE_GET_SYSCALL_INFO = 0x420E

# Options.
PTRACE_O_TRACESYSGOOD = 0x1
PTRACE_O_TRACEFORK = 0x2
PTRACE_O_TRACEVFORK = 0x4
PTRACE_O_TRACECLONE = 0x8
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACESECCOMP = 0x80
PTRACE_O_EXITKILL = 0x100000

TRACE_OPTIONS = (
    PTRACE_O_TRACESYSGOOD
    | PTRACE_O_TRACEFORK
    | PTRACE_O_TRACEVFORK
    | PTRACE_O_TRACECLONE
    | PTRACE_O_TRACEEXEC
    | PTRACE_O_TRACESECCOMP
    | PTRACE_O_EXITKILL
)
# For tracees that must outlive the tracer (attached with --pid, or a runtime recorded in the
# background, which is let go once its container runs): no EXITKILL.
KEEP_ALIVE_OPTIONS = TRACE_OPTIONS & ~PTRACE_O_EXITKILL

# Events, as found in ``status >> 16`` of a stop.
EVENT_FORK = 1
EVENT_VFORK = 2
EVENT_CLONE = 3
EVENT_EXEC = 4
EVENT_VFORK_DONE = 5
EVENT_EXIT = 6
EVENT_SECCOMP = 7
EVENT_STOP = 128

# ptrace_syscall_info.op
OP_NONE = 0
OP_ENTRY = 1
OP_EXIT = 2
OP_SECCOMP = 3

WALL = 0x40000000  # __WALL: wait for threads and non-SIGCHLD children too

# PyDLL: calls keep the GIL. A ptrace request takes microseconds and never blocks, but giving the GIL
# up and taking it back costs the tracer thread up to a switch interval whenever the delivery thread
# is busy serialising and printing: several times per stop. Only waitpid (os.waitpid) lets it go.
_libc = ctypes.PyDLL("libc.so.6", use_errno=True)
_ptrace = _libc.ptrace
_ptrace.restype = ctypes.c_long
_ptrace.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
# The same function without argtypes, for the requests every stop makes (resume, syscall info):
# converting four arguments through argtypes costs ~5,200 instructions a call, passing them as they
# are ~2,700 (callgrind). Without argtypes a Python int goes as a C int, which libffi widens to the
# register (sign-extended), so only small numbers (requests, tids, signals, sizes) are passed so;
# a buffer goes as a ctypes.byref made once (``Buffers``).
_ptrace_hot = _libc["ptrace"]  # indexing makes a function object of its own (attributes are cached)
_ptrace_hot.restype = ctypes.c_long
_get_errno = ctypes.get_errno

# struct ptrace_syscall_info: op u8, pad[3], arch u32, ip u64, sp u64, then the union.
# entry/seccomp: nr u64, args[6] u64 (seccomp adds ret_data u32); exit: rval s64, is_error u8.
_INFO_SIZE = 88
_HEAD = struct.Struct("<B3xI16x")
_ENTRY = struct.Struct("<B3xI16xQQQQQQQ")
_EXIT = struct.Struct("<B3xI16xqB")


class PtraceError(OSError):
    """A ptrace request failed; ``errno`` is ESRCH when the tracee vanished or is not stopped."""


def _fail(request: int, tid: int) -> PtraceError:
    err = _get_errno()
    return PtraceError(err, f"ptrace({request:#x}, {tid}): {os.strerror(err)}")


def ptrace(request: int, tid: int, addr: int = 0, data: int = 0) -> int:
    ret: int = _ptrace(request, tid, addr, data)
    if ret == -1:
        err = _get_errno()
        if err:
            raise PtraceError(err, f"ptrace({request:#x}, {tid}): {os.strerror(err)}")
    return ret


def seize(tid: int, options: int = TRACE_OPTIONS) -> None:
    ptrace(PTRACE_SEIZE, tid, 0, options)


def cont(tid: int, sig: int = 0) -> None:
    if _ptrace_hot(PTRACE_CONT, tid, 0, sig) == -1:
        raise _fail(PTRACE_CONT, tid)


def syscall(tid: int, sig: int = 0) -> None:
    """Resume until the next syscall entry or exit stop."""
    if _ptrace_hot(PTRACE_SYSCALL, tid, 0, sig) == -1:
        raise _fail(PTRACE_SYSCALL, tid)


def hot_ptrace() -> Callable[[int, int, int, object], int]:
    """ptrace(request, tid, addr, data) for a trace loop that inlines its calls: small ints only
    (see ``_ptrace_hot``), a buffer as ``ctypes.byref`` of it; -1 and errno on failure."""
    return _ptrace_hot


def fail(request: int, tid: int) -> PtraceError:
    """The error of the ptrace request that just returned -1 (errno read now)."""
    return _fail(request, tid)


def listen(tid: int) -> None:
    """Leave a group-stopped tracee stopped but let it see SIGCONT (only after PTRACE_SEIZE)."""
    ptrace(PTRACE_LISTEN, tid)


def interrupt(tid: int) -> None:
    ptrace(PTRACE_INTERRUPT, tid)


def detach(tid: int, sig: int = 0) -> None:
    ptrace(PTRACE_DETACH, tid, 0, sig)


_unpack_entry = _ENTRY.unpack_from
_unpack_exit = _EXIT.unpack_from
INFO_SIZE = _INFO_SIZE
unpack_entry = _unpack_entry  # (op, arch, nr, arg0..arg5) of a ptrace_syscall_info buffer
unpack_exit = _unpack_exit  # (op, arch, rval, is_error)

# PTRACE_GETREGSET with NT_PRSTATUS gives the general registers on every arch (arm64 has no
# PTRACE_GETREGS). Per arch: (words in the set, index of the syscall number, index of the first
# argument). x86_64's struct user_regs_struct: 27 words, orig_rax 15 (rax itself already holds
# -ENOSYS), rdi 14. arm64's struct user_pt_regs: regs[0..30], sp, pc, pstate; the number is in x8
# (strace's aarch64 get_scno.c) and the first argument in x0. orig_x0 is not in user_pt_regs, but x0
# keeps the argument until the call returns, so at a clone event stop it still holds the flags.
NT_PRSTATUS = 1
REGS_LAYOUT: dict[str, tuple[int, int, int]] = {"x86_64": (27, 15, 14), "aarch64": (34, 8, 0)}


class _Iovec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


class Buffers:
    """The buffers the kernel fills for PTRACE_GET_SYSCALL_INFO, GETEVENTMSG and GETREGS.

    One per tracer thread (the engine owns one): allocated once, so a stop costs no ctypes object,
    and never shared, so two traces in one process cannot overwrite each other's results.
    """

    __slots__ = ("info", "info_bytes", "info_ptr", "msg", "msg_addr", "regs", "regs_index", "regs_iov")

    def __init__(self, arch: str = "x86_64") -> None:
        self.info = ctypes.create_string_buffer(_INFO_SIZE)
        self.info_ptr = ctypes.byref(self.info)  # cheaper to pass than a c_void_p (~250 instructions)
        # The buffer's bytes as ints, for reading ``op`` without making a bytes object.
        self.info_bytes = memoryview(self.info).cast("B")
        self.msg = ctypes.c_ulong()
        self.msg_addr = ctypes.addressof(self.msg)
        words, nr_index, arg0_index = REGS_LAYOUT[arch]
        self.regs = (ctypes.c_uint64 * words)()
        self.regs_iov = _Iovec(ctypes.addressof(self.regs), ctypes.sizeof(self.regs))
        self.regs_index = (nr_index, arg0_index)

    def geteventmsg(self, tid: int) -> int:
        """The new child's pid after a fork/vfork/clone event, the former tid after an exec event."""
        if _ptrace(PTRACE_GETEVENTMSG, tid, 0, self.msg_addr) == -1:
            raise _fail(PTRACE_GETEVENTMSG, tid)
        return self.msg.value

    def fetch_syscall_info(self, tid: int) -> int:
        """Fetch the tracee's ptrace_syscall_info into the buffer; returns its op.

        Read the rest with :meth:`entry_fields` or :meth:`exit_fields` (one ptrace call per stop).
        """
        if _ptrace_hot(PTRACE_GET_SYSCALL_INFO, tid, _INFO_SIZE, self.info_ptr) == -1:
            raise _fail(PTRACE_GET_SYSCALL_INFO, tid)
        return self.info_bytes[0]

    def entry_fields(self) -> tuple[int, int, int, int, int, int, int, int, int]:
        """(op, arch, nr, arg0..arg5) of the last fetched info."""
        return _unpack_entry(self.info)

    def exit_fields(self) -> tuple[int, int, int, int]:
        """(op, arch, rval, is_error) of the last fetched info."""
        return _unpack_exit(self.info)

    def syscall_entry(self, tid: int) -> tuple[int, int, int, int, int, int, int, int, int]:
        """At a seccomp or syscall-entry stop: (op, arch, nr, arg0..arg5)."""
        self.fetch_syscall_info(tid)
        return _unpack_entry(self.info)

    def syscall_exit(self, tid: int) -> tuple[int, int, int, int]:
        """At a syscall-exit stop: (op, arch, rval, is_error); rval is -errno when is_error."""
        self.fetch_syscall_info(tid)
        return _unpack_exit(self.info)

    def getregs(self, tid: int) -> CallRegs:
        """The syscall number and first argument at any stop (e.g. a clone event stop, where
        PTRACE_GET_SYSCALL_INFO only says "no syscall")."""
        self.regs_iov.len = ctypes.sizeof(self.regs)  # the kernel writes back how much it filled
        if _ptrace(PTRACE_GETREGSET, tid, NT_PRSTATUS, ctypes.addressof(self.regs_iov)) == -1:
            raise _fail(PTRACE_GETREGSET, tid)
        nr_index, arg0_index = self.regs_index
        return CallRegs(self.regs[nr_index], self.regs[arg0_index])


class CallRegs(Frozen):
    __slots__ = ("arg0", "orig_syscall")
    orig_syscall: int
    arg0: int

    def __init__(self, orig_syscall: int, arg0: int) -> None:
        self._assign(orig_syscall, arg0)


# ---- used by the forked child before exec (no ptrace there, but the same libc) ----

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

_prctl = _libc.prctl
_prctl.restype = ctypes.c_int
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong)


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    if _prctl(option, arg2, arg3, 0, 0) != 0:
        err = _get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")

"""Starting the command under the tracer, the way strace does.

The child installs the seccomp filter, stops itself with SIGSTOP and, once the tracer has seized it and
sent SIGCONT, execs the command: so the tracer sees the command from its very first syscall (the
execve). The filter goes in *without* no_new_privs when we may (root): no_new_privs would be inherited
by the container and change what it may do. Only if the kernel refuses (not root) does the child set
no_new_privs and retry, like strace; if that fails too the tracer stops on every syscall instead.

Once the filter is installed, every trapped syscall fails with ENOSYS until a tracer is attached, so
the child tells its parent what happened *before* the last install attempt, through a pipe.
"""

from __future__ import annotations

import errno
import os

from boxtrace.tracer import lean_ctypes as ctypes  # not ctypes itself: ~4.5 M to import
from boxtrace.tracer import ptrace_api
from boxtrace.tracer.plain import Plain
from boxtrace.tracer.seccomp_filter import make_fprog

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
else:
    # signal's C part: the same functions and numbers, as plain ints. signal.py makes enums of
    # them, and imports enum: ~7 M instructions of every trace's start (docs/benchmarks.md).
    import _signal as signal

PR_SET_PDEATHSIG = 1

# One byte per step, written by the child before the step that may seal the pipe off.
_TRY_FILTER = b"F"  # about to install the filter without no_new_privs
_TRY_NNP = b"N"  # refused: setting no_new_privs and retrying
_NO_FILTER = b"X"  # could not install: the tracer must stop on every syscall


class Spawned(Plain):
    __slots__ = ("filtered", "no_new_privs", "pid")

    def __init__(self, pid: int, filtered: bool, no_new_privs: bool) -> None:
        self.pid = pid
        self.filtered = filtered  # the seccomp filter is installed
        self.no_new_privs = no_new_privs  # the child had to set no_new_privs to install it


class SpawnError(OSError):
    """The command could not be started under the tracer. An OSError: every caller reports it as
    it reports a command that cannot be executed, in one line."""


# Why a seize of our own child fails with EPERM: what the user can check, in the error's words.
_SEIZE_REFUSED = (
    "the kernel does not let boxtrace trace it ({reason}): is boxtrace itself running under a "
    "tracer (strace, gdb), or is ptrace restricted here (kernel.yama.ptrace_scope, a container "
    "without CAP_SYS_PTRACE)?"
)


def spawn_traced(
    path: str,
    argv: list[str],
    env: dict[str, str] | None,
    program: bytes | None,
    stdout_fd: int | None = None,
    stderr_fd: int | None = None,
    cwd: str | None = None,
    options: int = ptrace_api.TRACE_OPTIONS,
) -> Spawned:
    """Fork, set the child up, seize it with the engine's options and let it exec ``path``.

    Must run on the thread that will make every later ptrace call for this trace.
    """
    fprog = make_fprog(program) if program is not None else None
    env_b = None if env is None else {k.encode(): v.encode() for k, v in env.items()}
    # Worked out here, not in the child: each page the child writes is a copy of one of ours.
    resets = _handled_signals()
    argv_b = [os.fsencode(arg) for arg in argv]
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, covered by every engine test
        try:
            os.close(ready_r)
            _child(path, argv_b, env_b, fprog, resets, stdout_fd, stderr_fd, cwd, ready_w)
        finally:
            os._exit(127)
    os.close(ready_w)
    try:
        _, status = os.waitpid(pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            raise SpawnError(f"the child exited before exec (status {status:#x})")
        os.set_blocking(ready_r, False)
        try:
            steps = os.read(ready_r, 16)
        except BlockingIOError:
            steps = b""
        filtered = fprog is not None and _NO_FILTER not in steps
        try:
            ptrace_api.seize(pid, options)
        except OSError as exc:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            reason = f"PTRACE_SEIZE: {os.strerror(exc.errno or 0)}"
            if exc.errno == errno.EPERM:
                raise SpawnError(_SEIZE_REFUSED.format(reason=reason)) from exc
            raise SpawnError(f"cannot trace it ({reason})") from exc
        os.kill(pid, signal.SIGCONT)
    finally:
        os.close(ready_r)
    return Spawned(pid=pid, filtered=filtered, no_new_privs=filtered and _TRY_NNP in steps)


def _handled_signals() -> list[int]:
    """The signals the command must get back at their default, as subprocess's restore_signals
    does: the child runs Python until its exec, and a handler the tracing process installed
    (Textual's SIGCONT handler, say) would run there on the SIGCONT that ends the seize; Python
    itself ignores SIGPIPE and SIGXFSZ, which exec would pass on to the command."""
    resets: list[int] = []
    for sig in signal.valid_signals():
        handler = signal.getsignal(sig)
        if callable(handler) or (sig in (signal.SIGPIPE, signal.SIGXFSZ) and handler == signal.SIG_IGN):
            resets.append(sig)
    return resets


def _child(
    path: str,
    argv: list[bytes],
    env: dict[bytes, bytes] | None,
    fprog: tuple[ptrace_api.ctypes.Structure, object] | None,
    resets: list[int],
    stdout_fd: int | None,
    stderr_fd: int | None,
    cwd: str | None,
    ready_w: int,
) -> None:  # pragma: no cover - child side
    for sig in resets:
        signal.signal(sig, signal.SIG_DFL)
    # If the tracer thread dies before the seize, do not linger SIGSTOPped forever.
    ptrace_api.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if stdout_fd is not None:
        os.dup2(stdout_fd, 1)
    if stderr_fd is not None:
        os.dup2(stderr_fd, 2)
    if cwd is not None:
        os.chdir(cwd)
    if fprog is not None:
        prog_addr = ctypes.addressof(fprog[0])
        os.write(ready_w, _TRY_FILTER)
        try:
            ptrace_api.prctl(ptrace_api.PR_SET_SECCOMP, ptrace_api.SECCOMP_MODE_FILTER, prog_addr)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM):
                os.write(ready_w, _NO_FILTER)
            else:
                os.write(ready_w, _TRY_NNP)
                try:
                    ptrace_api.prctl(ptrace_api.PR_SET_NO_NEW_PRIVS, 1)
                    ptrace_api.prctl(ptrace_api.PR_SET_SECCOMP, ptrace_api.SECCOMP_MODE_FILTER, prog_addr)
                except OSError:
                    os.write(ready_w, _NO_FILTER)
    os.kill(os.getpid(), signal.SIGSTOP)
    try:
        if env is None:
            os.execv(path, argv)
        else:
            os.execve(path, argv, env)
    except OSError as exc:
        os.write(2, f"boxtrace: cannot run {path}: {exc.strerror}\n".encode())
        os._exit(126 if exc.errno == errno.EACCES else 127)

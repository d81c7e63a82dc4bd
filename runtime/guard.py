"""The cleanup guard: a small process outside the traced tree that removes what a container's
runtime made when that runtime dies, even by SIGKILL, as conmon and containerd's shim outlive the
commands they run.

One pipe between the runtime and its guard. Before the runtime makes its state directory PATH it
writes "+PID PATH\\n"; once the container is gone (run) or handed over (a successful create) it
writes "-PID PATH\\n". Each line is one write(2) shorter than PIPE_BUF, so it arrives whole or not
at all. The guard holds a pidfd of every runtime that registered; when one dies with PATH still
registered, the guard removes what PATH's state.json records, which the runtime wrote before
making each thing (runtime/leftovers.py). It removes nothing whose state.json names another
runtime.

Who starts it:

* untraced (`boxtrace-runtime run|create`, `boxtrace run --no-trace`): the runtime, before its
  first container (double fork + setsid: not our child, so no waitpid of ours ever sees it, and
  not in our process group, so a Ctrl-C on the terminal does not reach it);
* traced (`boxtrace run`, `boxtrace trace`): the boxtrace CLI, before it spawns the command. A
  tracee's child is traced too and would die with the tracer (PTRACE_O_EXITKILL). The CLI passes
  the pipe down as an inherited fd named by BOXTRACE_GUARD=FD:INODE; the inode tells our pipe from
  an unrelated fd with that number in a process that inherited only the variable.

The guard also watches the process that started it; once that one is gone and nothing is
registered, it exits: a normal run leaves no guard behind.
"""

from __future__ import annotations

import os
import stat
import time

from boxtrace.runtime.quiet import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

GUARD_ENV = "BOXTRACE_GUARD"
PROCESS_NAME = b"boxtrace-guard"
# Traced: after the tracer died, how long to wait for a runtime's registration still on its way
# (a tracee killed by EXITKILL in the middle of its write) before the guard gives up and exits.
LATE_REGISTRATION_WAIT = 2.0
# How long a state directory may stay busy (a dying container's mounts) before the guard gives up.
REMOVE_TIMEOUT = 5.0

# --- the runtime's side -------------------------------------------------------------------------------


def protect(path: str, writer: int = -1) -> tuple[int, int]:
    """Register the state directory PATH with this process's guard, before it is made; start a
    guard first when none was passed down (the untraced runtime). Returns our end of the guard's
    pipe (``writer``, when one is given) and the pid of the process that forked the guard (0 when
    none was started), both for ``release``: that process is reaped there, not here, so that the
    start does not wait for it to be scheduled (13 ms median on a loaded 2-CPU host)."""
    forker = 0
    if writer < 0:
        writer = _inherited_writer()
    if writer < 0:
        writer, forker = _fork_guard(for_tracees=False)
    _send(writer, "+", path)
    return writer, forker


def release(writer: int, path: str, forker: int = 0) -> None:
    """The container at PATH is gone or handed over: nothing for the guard to do about it.
    ``forker``: protect's intermediate process, reaped now (it exited right after its fork)."""
    if writer >= 0:
        _send(writer, "-", path)
    if forker > 0:
        with suppress(ChildProcessError):
            os.waitpid(forker, 0)


def _send(writer: int, sign: str, path: str) -> None:
    with suppress(OSError):  # a guard that is gone cannot be told
        os.write(writer, f"{sign}{os.getpid()} {path}\n".encode())


def _inherited_writer() -> int:
    value = os.environ.pop(GUARD_ENV, "")
    fd_text, _, inode = value.partition(":")
    try:
        fd = int(fd_text)
        info = os.fstat(fd)
    except (ValueError, OSError):
        return -1
    if not stat.S_ISFIFO(info.st_mode) or str(info.st_ino) != inode:
        return -1
    os.set_inheritable(fd, False)  # not to hooks or the container
    return fd


# --- the CLI's side -----------------------------------------------------------------------------------


def guard_tracees() -> int:
    """Start a guard for the runtimes the command about to be traced will run, and pass its pipe
    down to that command (inherited fd + BOXTRACE_GUARD). Returns the pipe's write end.

    The process that forks the guard is not waited for: the tracer's waitpid(-1) collects it like
    any child that is no tracee. Waiting here held every trace's start ~2.5 ms (that process's
    fork of a ~20 MB interpreter and its exit), in which the traced command could already run."""
    writer, _forker = _fork_guard(for_tracees=True)
    os.set_inheritable(writer, True)
    os.environ[GUARD_ENV] = f"{writer}:{os.fstat(writer).st_ino}"
    return writer


# --- the guard ----------------------------------------------------------------------------------------


def start_guard(*, for_tracees: bool) -> int:
    """Fork the guard of this process; returns the write end (close-on-exec) of its pipe."""
    writer, forker = _fork_guard(for_tracees=for_tracees)
    os.waitpid(forker, 0)
    return writer


def _fork_guard(*, for_tracees: bool) -> tuple[int, int]:
    """Fork the guard (double fork + setsid: not our child); returns the write end of its pipe and
    the pid of the intermediate process, which the caller must reap."""
    watched = os.pidfd_open(os.getpid())  # opened here: we cannot die before the guard holds it
    reader, writer = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked processes
        try:
            os.setsid()
            if os.fork() == 0:
                _guard_main(watched, reader, for_tracees)
        finally:
            os._exit(0)
    os.close(watched)
    os.close(reader)
    return writer, child


def _guard_main(watched: int, reader: int, for_tracees: bool) -> NoReturn:  # pragma: no cover - forked
    import gc

    # Forked while our start may have had it off (runtime/usage.py's collect_from_here). What was
    # inherited is frozen first: a collection over it would copy every page it shares with the
    # process that forked us, on a CPU the traced command's start shares with the guard.
    gc.freeze()
    gc.enable()
    try:
        _detach(keep=(watched, reader))
        _Guard(watched, reader, for_tracees).run()
    finally:
        os._exit(0)


def _detach(keep: tuple[int, ...]) -> None:
    """Drop everything inherited: handlers, blocked signals, the terminal, every other fd (the
    caller's stdout may be a pipe someone reads to its end, and must see that end)."""
    if TYPE_CHECKING:
        import signal
    else:
        # signal's C part (plain ints): signal.py's enums would cost the guard ~16 M instructions,
        # on a CPU the runtime's start shares with it.
        import _signal as signal

    signal.set_wakeup_fd(-1)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # prctl(PR_SET_NAME) without ctypes (~5 M instructions, on the CPU the traced command's start
    # shares with the guard): proc(5), /proc/pid/comm.
    with suppress(OSError), open("/proc/self/comm", "wb", buffering=0) as comm:
        comm.write(PROCESS_NAME)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            with suppress(OSError):
                os.close(fd)
    os.chdir("/")


class _Guard:
    def __init__(self, watched: int, reader: int, for_tracees: bool) -> None:
        self.watched = watched
        self.reader = reader
        self.for_tracees = for_tracees
        self.watched_alive = True
        self.eof = False
        self.pending = b""
        self.registered: dict[tuple[int, str], int] = {}  # (runtime pid, state dir) -> its pidfd
        os.set_blocking(reader, False)

    def run(self) -> None:
        import select  # the guard's alone: not loaded by the commands that start it

        give_up_at: float | None = None
        while True:
            self._read()
            self._clean_dead()
            if not self.watched_alive and not self.registered:
                if not self.for_tracees or self.eof:
                    return
                if give_up_at is None:
                    give_up_at = time.monotonic() + LATE_REGISTRATION_WAIT
                elif time.monotonic() >= give_up_at:
                    return
            poller = select.poll()
            if self.watched_alive:
                poller.register(self.watched, select.POLLIN)
            if not self.eof:
                poller.register(self.reader, select.POLLIN)
            for fd in self.registered.values():
                poller.register(fd, select.POLLIN)
            timeout = None if give_up_at is None else max(0, int((give_up_at - time.monotonic()) * 1000))
            ready = {fd for fd, _ in poller.poll(timeout)}
            if self.watched in ready:
                self.watched_alive = False

    def _read(self) -> None:
        while not self.eof:
            try:
                chunk = os.read(self.reader, 65536)
            except BlockingIOError:
                break
            if not chunk:
                self.eof = True
                break
            self.pending += chunk
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            self._apply(line.decode(errors="replace"))

    def _apply(self, line: str) -> None:
        pid_text, _, path = line[1:].partition(" ")
        if not pid_text.isdigit() or not path:
            return
        key = (int(pid_text), path)
        if line.startswith("+") and key not in self.registered:
            try:
                self.registered[key] = os.pidfd_open(key[0])
            except ProcessLookupError:
                self.registered[key] = -1  # died already: clean up right away
        elif line.startswith("-") and key in self.registered:
            fd = self.registered.pop(key)
            if fd >= 0:
                os.close(fd)

    def _clean_dead(self) -> None:
        import select

        for key, fd in list(self.registered.items()):
            if fd >= 0 and not select.select([fd], [], [], 0)[0]:
                continue
            del self.registered[key]
            if fd >= 0:
                os.close(fd)
            with suppress(Exception):  # a guard must go on to the next one
                clean_up(*key)


def clean_up(runtime_pid: int, path: str) -> None:
    """Remove the container at PATH that runtime_pid was making or running: only if its
    state.json says so (another runtime may own PATH), and the one it was building aside."""
    from boxtrace.runtime import leftovers

    why = f"its runtime {runtime_pid} was killed"
    items = []
    state = leftovers.read_state(path)
    if state is not None and state.get("runtime_pid") == runtime_pid:
        items += leftovers.container_leftovers(path, state, why)
    creating = os.path.join(
        os.path.dirname(path), leftovers.creating_name(os.path.basename(path), runtime_pid)
    )
    if os.path.lexists(creating):
        items += leftovers.container_leftovers(creating, leftovers.read_state(creating) or {}, why)
    deadline = time.monotonic() + REMOVE_TIMEOUT
    while items:
        failed = []
        for item in items:
            try:
                leftovers.remove(item)
            except OSError:
                failed.append(item)
        if not failed or time.monotonic() > deadline:
            return
        items = failed
        time.sleep(0.05)

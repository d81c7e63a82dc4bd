"""Recording a runtime call in the background (``boxtrace-runc``, ``boxtrace-runtime`` with
recording on): the caller gets the runtime's exit status as soon as the runtime's main process
ends, while a detached recorder process goes on tracing what the runtime left running (the
container's init) until the container's program starts, then files the trace in the spool."""

from __future__ import annotations

import os
import sys

from boxtrace.tracer.lean import suppress

# signal.py and contextlib bring enum, functools and collections: a few ms of every recorded call,
# which the caller waits for.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
else:
    import _signal as signal


def record_in_background(
    command: list[str], label: str, prog: str, starts_container: bool = True, undo: list[str] | None = None
) -> int:
    """Run ``command`` under a background recorder; return its exit code (128+N if killed by N).

    ``starts_container``: the command may leave a process running (a container's init, an exec'd
    process), to be let go at its exec: the recorder steps through every syscall, with no seccomp
    filter (one would stay in that process and fail its calls with ENOSYS once let go). Else (runc
    start, delete...) the recorder installs the tracer's filter and stops only at the calls it
    reports; every process of the command is then traced to its end, never let go.
    ``undo``: the command that removes the container ``command`` makes, run by the recorder if we
    die before we got the runtime's status (boxtrace/caller_watch.py)."""
    from boxtrace.tracer.spool import new_trace_path

    try:
        path = new_trace_path(label)
    except OSError as exc:
        print(f"{prog}: cannot write to the trace spool: {exc}", file=sys.stderr)
        return 1
    status_r, status_w = os.pipe()
    # A Ctrl-C from now on is for the runtime: the recorder and the runtime are in a session of
    # their own, out of reach of the terminal; it is forwarded once the runtime's pid is known,
    # and the runtime's status (it ends as on a Ctrl-C of its own) is then ours. Blocked over the
    # fork, so that the recorder never gets one before it has left our process group.
    forward = _Forward()
    previous = signal.signal(signal.SIGINT, forward.on_signal)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the recorder process; covered by the wrapper's tests
        code = 1
        try:
            os.setsid()  # out of the caller's process group: its signals and terminal are not ours
            signal.signal(signal.SIGINT, previous)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            os.close(status_r)
            code = _recorder(command, path, status_w, starts_container, undo)
        finally:
            os._exit(code)
    os.close(status_w)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        reply = _read_reply(status_r, forward)
    finally:
        signal.signal(signal.SIGINT, previous)
    os.close(status_r)
    # The recorder is not waited for: it outlives us (our caller, a subreaper, reaps it later).
    try:
        return int(reply)
    except ValueError:
        message = reply.decode(errors="replace").strip() or "the recorder ended before the runtime did"
        print(f"{prog}: {message}", file=sys.stderr)
        return 1


class _Forward:
    """SIGINT to the runtime, once its pid is known (a signal that came before waits for it)."""

    def __init__(self) -> None:
        self.runtime = 0
        self.pending = False

    def on_signal(self, signum: int, frame: object) -> None:
        self.pending = True
        self.send()

    def send(self) -> None:
        if self.pending and self.runtime > 0:
            self.pending = False
            with suppress(OSError):
                os.kill(self.runtime, signal.SIGINT)


def _read_reply(status_r: int, forward: _Forward) -> bytes:
    """The recorder's last line: the runtime's exit status, or why it could not run; a line
    "runtime PID" comes first."""
    reply = b""
    while chunk := os.read(status_r, 64):
        reply += chunk
        while b"\n" in reply:
            line, _, reply = reply.partition(b"\n")
            if not line.startswith(b"runtime "):
                return line
            forward.runtime = int(line.split()[1])
            forward.send()
    return reply


def _recorder(  # pragma: no cover
    command: list[str], path: str, status_w: int, starts_container: bool, undo: list[str] | None
) -> int:
    from boxtrace.caller_watch import CallerWatch
    from boxtrace.runtime.usage import collect_from_here
    from boxtrace.tracer.session import CommandNotFound, TraceConfig, TraceSession
    from boxtrace.tracer.spool import finish_trace

    caller = CallerWatch(status_w, undo)

    def on_root_exit(status: int | None, signum: int | None) -> None:
        caller.tell(str(128 + signum if signum is not None else status if status is not None else 1))

    if undo is not None and caller.caller_gone():
        return 1  # our caller was killed before the runtime ran: nothing to record or undo
    config = TraceConfig(
        command=command,
        output=path,
        capture_output=False,
        release_container=starts_container,
        on_root_exit=on_root_exit,
    )
    collect_from_here()  # bin/boxtrace-runc starts with the collector off
    try:
        session = TraceSession(config)
        session.start()
    except (CommandNotFound, OSError) as exc:
        caller.tell(f"cannot start {command[0]}: {exc}")
        return 1
    caller.send(f"runtime {session.engine.root_pid}")
    caller.watch(session.engine.root_pid)
    _let_go_of_callers_files()
    result = session.wait()
    if result is not None:
        caller.tell(str(result.exit_code))  # the root never reported its end (a tracer error)
    caller.finish()
    with suppress(OSError):
        finish_trace(path)
    return 0


def _let_go_of_callers_files() -> None:  # pragma: no cover - recorder side
    """The runtime has its copies of the caller's files: drop ours (stdio, fds passed with
    --preserve-fds), or a caller reading a pipe to its end would wait for the recorder too."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with suppress(OSError):
                if os.get_inheritable(fd):
                    os.close(fd)

"""The background recorder's watch on its caller: a recorded ``create`` (or ``run``) whose caller
died before it got the runtime's status is undone.

podman's conmon and containerd's shim learn that a container exists from the exit status of
``runtime create``. When the process they ran (``boxtrace-runc``, or ``boxtrace-runtime --record``)
is killed before it passed that status on, they treat the create as failed and never delete the
container; a recorder that finished the create anyway would leave a container waiting for a
``start`` that never comes. So the recorder watches the status pipe: once its read end is closed
(the caller exited or died: POLLERR on our write end, pipe(7)), the create is undone if the status
was never read, that is if it was not written yet or is still in the pipe (FIONREAD, which reports
the bytes in the pipe from either end). A caller that read the status passed it on (or died a
moment after, as a plain ``runc create`` killed after its exit status was decided).

Undoing is what a user would type: SIGTERM to the runtime (boxtrace-runtime then removes what it
made; runc dies), SIGKILL if it is still there after ``STOP_GRACE`` seconds (boxtrace-runtime's
guard then removes its half-made container), then ``RUNTIME [global options] delete --force ID``
(untraced) for a create that had finished. The trace is still filed: it ends with the runtime's
SIGTERM, a readable record of what was undone.
"""

from __future__ import annotations

import _thread
import fcntl
import os
import select
import struct
import termios

from boxtrace.tracer.lean import Worker, suppress

# Not signal, contextlib, threading nor subprocess (only an undo runs a command): with enum, re
# and collections they cost ~10 ms of every recorded runtime call, which its caller waits for.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:
    import _signal

# How long a runtime has to end after our SIGTERM before it gets SIGKILL: longer than the 2 s
# boxtrace-runtime gives a container to stop after a forwarded signal.
STOP_GRACE = 5.0
DELETE_TIMEOUT = 60.0


class CallerWatch:
    """The status pipe's write end, shared by the tracer thread (``tell``) and a watching thread."""

    def __init__(self, status_w: int, undo: list[str] | None) -> None:
        self.status_w = status_w
        self.undo = undo  # the delete command; None: nothing is undone (start, exec, delete)
        self.told = False
        self.closed = False
        self.undone = False
        self._lock = _thread.allocate_lock()
        self._thread: Worker | None = None

    def caller_gone(self) -> bool:
        """Whether the caller has closed its end of the status pipe (exited or died)."""
        poller = select.poll()
        poller.register(self.status_w, 0)  # POLLERR is reported whatever is asked for
        return bool(poller.poll(0))

    def send(self, line: str) -> None:
        """A line for the caller (the runtime's pid); lost if it is gone."""
        with suppress(OSError):
            os.write(self.status_w, line.encode() + b"\n")

    def tell(self, status: str) -> None:
        """The runtime's exit status (or why it could not run), once. The pipe stays open: whether
        the caller read it is asked of the pipe when the caller goes."""
        with self._lock:
            if self.told or self.closed:
                return
            with suppress(OSError):  # EPIPE: the caller is gone, the watch undoes
                os.write(self.status_w, status.encode() + b"\n")
                self.told = True

    def watch(self, runtime_pid: int) -> None:
        """Start watching the caller (a daemon thread) once the runtime runs."""
        if self.undo is None:
            return
        try:
            runtime = os.pidfd_open(runtime_pid)
        except OSError:
            runtime = -1  # it ended and was reaped already
        # Not joined unless it undoes (finish): the recorder leaves without waiting for it.
        self._thread = Worker(self._watch, (runtime,), name="boxtrace-caller")

    def finish(self) -> None:
        """The recording is over: stop watching, but let an undo under way complete."""
        with self._lock:
            self.closed = True
            undoing = self.undone
        if undoing and self._thread is not None:
            self._thread.join()
        with suppress(OSError):
            os.close(self.status_w)

    def _watch(self, runtime: int) -> None:
        try:
            poller = select.poll()
            poller.register(self.status_w, 0)
            poller.poll()  # until the caller closes its end
            with self._lock:
                if self.closed or (self.told and _unread(self.status_w) == 0):
                    return
                self.undone = True
            self._undo(runtime)
        finally:
            if runtime >= 0:
                os.close(runtime)

    def _undo(self, runtime: int) -> None:
        assert self.undo is not None
        if runtime >= 0:
            for sig in (_signal.SIGTERM, _signal.SIGKILL):
                with suppress(OSError):
                    _signal.pidfd_send_signal(runtime, sig)
                if select.select([runtime], [], [], STOP_GRACE)[0]:
                    break
        # Our tracer thread waits for any child (waitpid(-1)) and may reap this one first:
        # subprocess then reports status 0, which is all right, the status is not used.
        import subprocess

        with suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                self.undo,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=DELETE_TIMEOUT,
                check=False,
            )


def _unread(fd: int) -> int:
    """Bytes still in the pipe of fd (FIONREAD works on either end)."""
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])
    except OSError:
        return 0

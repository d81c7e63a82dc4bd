"""The writer process of an --all trace: decoding, the trace file and the consumer, beside the tracer.

An ``--all`` trace stops the command some ten thousand times; at each stop the tracer process's
work keeps the tracee waiting, and what it does after the tracee goes on (the text of each call,
the event objects, the JSON lines, the console lines) shares one interpreter lock with the trace
loop. Here that second part runs in another process, on the other CPU: the session's delivery
thread sends each batch of messages as compact records (``relay.to_records``, ``marshal``) down
a pipe, and this process rebuilds the messages, writes the trace file and calls the consumer (the
plain printer) exactly as the delivery thread would have.

Its life: forked (twice, so that it is no child of the tracer: the trace loop's ``waitpid(-1)``
must see tracees only, and the middle process, which exits at once) before the session starts any
thread; it ignores SIGINT, SIGTERM and
SIGHUP, so a Ctrl-C on the terminal or a ``kill`` of boxtrace stops the trace through the tracer as
before, and it writes every record it got, then exits, once the pipe ends: after the last message
(``Ended``), or when the tracer process died (even by SIGKILL: what was sent is written). The
tracer waits for it before it returns, so the trace file is complete when boxtrace exits.

Pipe protocol: frames of a 4-byte length (little-endian) and a ``marshal`` dump of a list of
records. Back on a second pipe, one byte at a time: ``P`` the consumer's output is a closed pipe,
``C`` the consumer failed otherwise (the trace is then stopped, as the delivery thread does), ``X``
the writer itself failed (followed by the error's text), ``0`` all written.
"""

from __future__ import annotations

import contextlib
import ctypes
import marshal
import os
from collections.abc import Callable

from boxtrace.tracer.events import Event
from boxtrace.tracer.messages import Ended, Message, ProcessEvent, Started, SyscallFinished
from boxtrace.tracer.relay import from_records, to_records
from boxtrace.tracer.tracefile import TraceWriter

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
else:
    import _signal as signal  # signal.py imports enum: ~2 ms of every --all trace's start

Consumer = Callable[[list[Message]], None]

DONE, CLOSED_PIPE, CONSUMER_FAILED, FAILED = b"0", b"P", b"C", b"X"
NAME = b"boxtrace-writer"  # its comm (15 characters at most)
_PR_SET_NAME = 15


class WriterGone(Exception):
    """The writer process ended before the trace did (killed, or it failed: the message says)."""


class WriterProcess:
    """The tracer process's side: ``send`` batches, ``problems`` while tracing, ``finish`` once.

    ``finish`` returns when the writer has written everything (it then exits at once: a process
    that waited for its exit, address space freed, would wait a few more milliseconds)."""

    def __init__(self, output: str | None, consumer: Consumer | None) -> None:
        data_r, data_w = os.pipe()
        status_r, status_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked processes
            code = 0
            try:
                if os.fork() == 0:
                    os.close(data_w)
                    os.close(status_r)
                    code = _writer_main(data_r, status_w, output, consumer)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(data_r)
        os.close(status_w)
        # The middle process is not waited for here (its fork of this ~20 MB interpreter and its
        # exit took ~2.5 ms of every start): the trace loop's waitpid(-1) collects it, as a child
        # that is no tracee.
        self._data = data_w
        self._status = status_r
        os.set_blocking(status_r, False)
        self._done = False  # DONE was read

    def send(self, batch: list[Message]) -> None:
        """Hand a batch over (blocks only while the pipe is full). WriterGone if it has ended."""
        if self._data < 0:
            return
        records = to_records(batch)
        if not records:
            return
        body = marshal.dumps(records)
        data = memoryview(len(body).to_bytes(4, "little") + body)
        try:
            while data:
                data = data[os.write(self._data, data) :]
        except BrokenPipeError:
            os.close(self._data)
            self._data = -1
            raise WriterGone(self._read_problem() or "the writer process ended") from None

    def problems(self) -> BaseException | None:
        """What the writer reported since the last call (a consumer that failed), or None."""
        try:
            got = os.read(self._status, 1)
        except BlockingIOError:
            return None
        if got == DONE:  # it wrote everything (the last batch was just sent): finish() needs to know
            self._done = True
            return None
        return _problem(got, self._status)

    def finish(self) -> BaseException | None:
        """No more batches: wait until everything is written. Returns a problem it reported last."""
        if self._data >= 0:
            os.close(self._data)
            self._data = -1
        os.set_blocking(self._status, True)
        problem: BaseException | None = None
        done = self._done
        while not done:  # DONE comes once the file is closed and the consumer's output flushed
            got = os.read(self._status, 1)
            if not got:
                break  # it ended without DONE
            if got == DONE:
                done = True
                break
            problem = _problem(got, self._status) or problem
        os.close(self._status)
        if not done and problem is None:
            problem = WriterGone("the writer process ended before writing everything")
        return problem

    def _read_problem(self) -> str | None:
        os.set_blocking(self._status, True)
        try:
            got = os.read(self._status, 1)
            problem = _problem(got, self._status)
            return None if problem is None else str(problem)
        finally:
            os.set_blocking(self._status, False)


def _problem(got: bytes, fd: int) -> BaseException | None:
    if got == CLOSED_PIPE:
        return BrokenPipeError("the consumer's output was closed")
    if got == CONSUMER_FAILED:
        return RuntimeError("the consumer failed in the writer process")
    if got == FAILED:
        os.set_blocking(fd, True)
        text = b""
        while chunk := os.read(fd, 4096):
            text += chunk
        return WriterGone(text.decode("utf-8", "replace").strip() or "the writer process failed")
    return None


def _writer_main(data_fd: int, status_fd: int, output: str | None, consumer: Consumer | None) -> int:
    """The writer process: records in, trace file and consumer out. Returns its exit status."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        # Its name in ps and top (PR_SET_NAME), where it would otherwise look like a second boxtrace.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NAME, NAME, 0, 0, 0)
    _close_other_fds({data_fd, status_fd})
    writer: TraceWriter | None = None
    try:
        with os.fdopen(data_fd, "rb") as data:
            while True:
                head = data.read(4)
                if len(head) < 4:
                    break  # the tracer process is done, or died
                size = int.from_bytes(head, "little")
                body = data.read(size)
                if len(body) < size:
                    break
                batch = from_records(marshal.loads(body))
                if output is not None and writer is None and batch and type(batch[0]) is Started:
                    writer = TraceWriter(output, batch[0].header)
                if writer is not None:
                    events: list[Event] = [
                        m.event for m in batch if type(m) is SyscallFinished or type(m) is ProcessEvent
                    ]
                    if events:
                        writer.write_events(events)
                if consumer is not None:
                    try:
                        consumer(batch)
                    except BaseException as exc:
                        consumer = None
                        os.write(
                            status_fd, CLOSED_PIPE if isinstance(exc, BrokenPipeError) else CONSUMER_FAILED
                        )
                if batch and type(batch[-1]) is Ended:
                    break
        if writer is not None:
            writer.close()
        os.write(status_fd, DONE)
        return 0
    except BaseException:
        import traceback  # only now: it imports re, tokenize, linecache...

        with contextlib.suppress(OSError):
            os.write(status_fd, FAILED + traceback.format_exc(limit=4).encode("utf-8", "replace"))
        return 1


def _close_other_fds(keep: set[int]) -> None:
    """Close what the tracer process had open but this one must not hold (stdin and pipes of the
    session, the cleanup guard's pipe): stdout and stderr stay, for the consumer."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)

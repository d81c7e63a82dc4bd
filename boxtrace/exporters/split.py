"""A large export in two processes, one per half of the trace file, with the same output as one.

Reading a trace (JSON to events) is most of an export's time, and a line can be read without the
lines before it: the file is cut at a line boundary, a forked child reads and renders the second
half into a temporary file while this process does the first, and this process writes the whole.

What one event's text depends on from the events before it is small, and each format says what:
the phase tracker's state, which phases have had a chapter, the spawns whose child has not shown
up yet. That is worked out from the first half before it is rendered (``Halves.hand_over``) and
handed to the child, which has read its half meanwhile. What the first half's text needs from the
second (the events per phase, in the heading) comes back as soon as the child has its phases
(``Halves.tally``), so that this process writes its half while the child renders; what the end of
the file needs (the processes' names) comes back with the child's text (``Halves.finish``).

A malformed line is reported as the one-process export reports it: the first one in the file, by
its line number in the file. A child that fails otherwise (killed, out of memory) costs time, not
the export: this process then renders the second half itself.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import pickle
import signal
import stat
import tempfile
import traceback
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import IO, Any, Protocol, TextIO

from boxtrace.annotate import Annotated, Annotator
from boxtrace.lessons.phases import PhaseTracker
from boxtrace.tracer.events import Event, TraceHeader
from boxtrace.tracer.tracefile import TraceFormatError, TraceReader

# Below this a trace is exported in one process: forking and handing over cost more than they save.
MIN_BYTES = 4 << 20
# The first half's share of the file's events: a little less than half, as this process also copies
# the second half's text into place at the end.
FIRST_SHARE = 0.46

_event = itemgetter(0)
_source = itemgetter(1)
# Errors of sendfile(2) that mean "not between these two files": copied by read and write instead.
_NO_SENDFILE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV})


class Halves(Protocol):
    """What a format does to be exported in two halves (the md, html, json and perfetto exporters).

    One object per export, used by this process; ``render_second`` runs in the child on a copy.
    """

    # Traces larger than this are exported in one process (None: no limit). Each half is held in
    # memory, about 2 KB an event: a format whose one-process export streams keeps that bounded.
    max_bytes: int | None
    # Whether each Annotated comes with its event's text as the file has it (``source``).
    keeps_sources: bool

    def hand_over(self, first: list[Annotated]) -> Any:
        """What rendering the second half starts from (picklable), called before ``render_first``."""

    def render_first(self, header: TraceHeader, first: list[Annotated], out: TextIO) -> None:
        """Render the first half: written to ``out`` now, or kept for ``finish``."""

    def tally(self, second: list[Annotated]) -> Any:
        """What writing the first half needs from the annotated second (picklable); called in the
        child before it renders."""

    def write_first(self, header: TraceHeader, tally: Any, out: TextIO) -> None:
        """Write what can be written once the second half's tally is known."""

    def render_second(self, state: Any, second: list[Annotated], out: TextIO) -> Any:
        """Render the second half to ``out`` from ``state``; returns what ``finish`` needs (picklable)."""

    def finish(self, header: TraceHeader, second: Any, out: TextIO, copy_second: Callable[[], None]) -> None:
        """Write what is still to write, calling ``copy_second`` where the second half's text goes."""


def worth_splitting(reader: TraceReader, halves: Halves) -> bool:
    """Whether this machine and this file gain from two processes (a regular file, large enough,
    not too large for the format)."""
    try:
        cpus = len(os.sched_getaffinity(0))
        info = os.stat(reader.path)
    except OSError:
        return False
    largest = halves.max_bytes
    return (
        cpus >= 2
        and stat.S_ISREG(info.st_mode)
        and info.st_size >= MIN_BYTES
        and (largest is None or info.st_size <= largest)
    )


def export_in_halves(
    halves: Halves,
    reader: TraceReader,
    out: TextIO,
    spool: str | None = None,
    cut: int | None = None,
    fork: bool = True,
) -> None:
    """Export the events of ``reader`` to ``out`` in two halves, cut where a line begins (at
    ``cut``, else near ``FIRST_SHARE`` of the events' bytes). The second half's text waits in an
    unnamed file in the directory ``spool`` (default: the temporary directory) until it is copied
    to ``out``. ``fork=False`` renders both here, one after the other: the same steps without a
    child (what the tests compare at every cut)."""
    start = reader.events_start
    if cut is None:
        size = os.stat(reader.path).st_size
        cut = reader.line_start_after(start + int((size - start) * FIRST_SHARE))
    cut = max(cut, start)
    encoding, errors = _text_encoding(out)
    sent: list[Any] = []  # what the first half hands over, kept for doing the second half here
    with tempfile.TemporaryFile(dir=spool) as second_file, _Mailbox() as mailbox:
        reports_read, reports_write = os.pipe()  # child -> this process: how its half goes
        child = _fork() if fork else None
        if child == 0:
            os.close(reports_read)
            mailbox.receiving()
            _child(halves, reader, cut, mailbox, second_file, encoding, errors, reports_write)
        os.close(reports_write)
        mailbox.sending()
        try:

            def send(message: Any) -> None:
                sent.append(message)
                if child:
                    mailbox.send(message)

            first = _first_half(halves, reader, start, cut, send)
            mailbox.close()  # nothing more to say: a child still waiting gives up
            halves.render_first(reader.header, first, out)
            del first

            tallied = False

            def tell(tally: Any) -> None:
                nonlocal tallied
                if not tallied:
                    halves.write_first(reader.header, tally, out)
                    tallied = True

            report: tuple[str, Any] = _receive_report(reports_read) if child else ("failed", None)
            kind, value = report
            if kind == "tally":
                tell(value)
                kind, value = _receive_report(reports_read)
            if child:
                os.waitpid(child, 0)
                child = 0
            if kind == "format":
                path, line, problem = value
                raise TraceFormatError(path, line, problem)
            if kind != "ok":
                # No child, or one that failed without a word about the trace: its half is done here.
                events, sources = _read(halves, reader, cut, None)
                second_file.seek(0)
                second_file.truncate()
                value = _second_half(
                    halves, events, sources, iter(sent).__next__, tell, second_file, encoding, errors
                )

            def copy_second() -> None:
                _copy(second_file, out, encoding, errors)

            halves.finish(reader.header, value, out, copy_second)
        finally:
            os.close(reports_read)
            if child:
                # An error or an interrupt here: the child's half is not wanted any more.
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)


def _fork() -> int | None:
    """``os.fork()``; None where no process can be made now: both halves are then done here."""
    try:
        return os.fork()
    except OSError:
        return None


def _first_half(
    halves: Halves, reader: TraceReader, start: int, cut: int, send: Callable[[Any], None]
) -> list[Annotated]:
    """Read and annotate the first half, sending the child what its half starts from as soon as it
    is known: the phase tracker once the first half's phases are, then the format's state."""
    events, sources = _read(halves, reader, start, cut)
    tracker = PhaseTracker()
    annotator = Annotator(classify=tracker.phase)
    phase = annotator.phase
    phases = [phase(e) for e in events]
    send(tracker)
    explain = annotator.explain
    first = [Annotated(*a) for a in zip(events, map(explain, events), phases, sources, strict=True)]
    send(halves.hand_over(first))
    return first


def _read(
    halves: Halves, reader: TraceReader, start: int, stop: int | None
) -> tuple[list[Event], Iterable[str | None]]:
    """The events of a byte range, and their text from the file if the format wants it."""
    if halves.keeps_sources:
        records = list(reader.records_between(start, stop))
        return list(map(_event, records)), list(map(_source, records))
    events = list(map(_event, reader.records_between(start, stop)))
    return events, itertools.repeat(None, len(events))


class _Gone(Exception):
    """The first half gave up (its own malformed line, an interrupt): the second is not wanted."""


def _second_half(
    halves: Halves,
    events: list[Event],
    sources: Iterable[str | None],
    receive: Callable[[], Any],
    tell: Callable[[Any], None],
    second_file: IO[bytes],
    encoding: str,
    errors: str,
) -> Any:
    """Annotate and render the second half: explanations first (they depend on nothing before),
    phases once the tracker arrives; the tally goes back before rendering. Returns what
    ``Halves.finish`` needs."""
    explain = Annotator().explain
    explanations = [explain(e) for e in events]
    tracker = receive()
    phase = Annotator(classify=tracker.phase).phase
    second = [Annotated(*a) for a in zip(events, explanations, map(phase, events), sources, strict=True)]
    tell(halves.tally(second))
    state = receive()
    with open(second_file.fileno(), "w", encoding=encoding, errors=errors, closefd=False) as text:
        return halves.render_second(state, second, text)


def _child(
    halves: Halves,
    reader: TraceReader,
    cut: int,
    mailbox: _Mailbox,
    second_file: IO[bytes],
    encoding: str,
    errors: str,
    reports: int,
) -> None:
    """The forked child: read the second half, render it from what the first hands over, report
    how it went; never returns."""
    code = 0
    try:

        def tell(tally: Any) -> None:
            _send_report(reports, "tally", tally)

        report: tuple[str, Any]
        try:
            events, sources = _read(halves, reader, cut, None)
            value = _second_half(
                halves, events, sources, mailbox.receive, tell, second_file, encoding, errors
            )
            report = ("ok", value)
        except _Gone:
            report = ("gone", None)
        except TraceFormatError as exc:
            report = ("format", (exc.path, exc.line, exc.problem))
        except BaseException:  # whatever it is, the parent does this half itself
            report = ("failed", traceback.format_exc())
        _send_report(reports, *report)
    except BaseException:  # the parent sees no report and does this half itself
        code = 1
    finally:
        # Never back into the caller: its cleanup (removing OUT.tmp...) and its buffered output
        # belong to the parent.
        os._exit(code)


def _send_report(fd: int, kind: str, value: Any) -> None:
    data = pickle.dumps((kind, value), pickle.HIGHEST_PROTOCOL)
    _write_all(fd, len(data).to_bytes(8, "little") + data)


def _receive_report(fd: int) -> tuple[str, Any]:
    head = _read_exactly(fd, 8)
    data = _read_exactly(fd, int.from_bytes(head, "little")) if head is not None else None
    if data is None:
        return ("failed", None)  # the child died without a word
    kind, value = pickle.loads(data)
    return kind, value


def _read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes from a pipe; None if it ends first."""
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class _Mailbox:
    """Messages from the parent to the child: each pickled into a temporary file and its length
    sent down a pipe. A pipe alone would block the parent on a message larger than its buffer while
    the child is still reading its half."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        self._read, self._write = os.pipe()
        self._offset = 0  # each process keeps its own: the parent's writing, the child's reading

    def send(self, message: Any) -> None:
        data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        fd = self._file.fileno()
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, self._offset)
            view = view[written:]
            self._offset += written
        # A child that has ended already (a malformed line in its half) has said why in its report.
        with contextlib.suppress(BrokenPipeError):
            os.write(self._write, len(data).to_bytes(8, "little"))

    def receive(self) -> Any:
        """The next message; raises _Gone once the parent has closed the box without sending it."""
        head = _read_exactly(self._read, 8)
        if head is None:
            raise _Gone
        size = int.from_bytes(head, "little")
        data = os.pread(self._file.fileno(), size, self._offset)
        self._offset += size
        return pickle.loads(data)

    def sending(self) -> None:
        """This process only sends (the parent, after the fork)."""
        os.close(self._read)
        self._read = -1

    def receiving(self) -> None:
        """This process only receives (the child): the parent closing its end is an end of file."""
        os.close(self._write)
        self._write = -1

    def close(self) -> None:
        for fd in (self._read, self._write):
            if fd >= 0:
                os.close(fd)
        self._read = self._write = -1

    def __enter__(self) -> _Mailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        self._file.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _text_encoding(out: TextIO) -> tuple[str, str]:
    """How ``out`` encodes text, so that the child's half is the bytes ``out`` would have written. A
    stream without an encoding (StringIO) gets UTF-8 that keeps every code point."""
    encoding = getattr(out, "encoding", None)
    if not encoding:
        return "utf-8", "surrogatepass"
    return encoding, getattr(out, "errors", None) or "strict"


def _copy(second_file: IO[bytes], out: TextIO, encoding: str, errors: str) -> None:
    """Append the second half's bytes to ``out``: in the kernel when ``out`` is a file or a pipe."""
    source = second_file.fileno()
    size = os.fstat(source).st_size
    try:
        target: int | None = out.fileno()
    except (AttributeError, OSError, ValueError):
        target = None
    if target is None:
        out.write(os.pread(source, size, 0).decode(encoding, errors))
        return
    out.flush()
    offset = 0
    try:
        while offset < size:
            sent = os.sendfile(target, source, offset, size - offset)
            if sent == 0:
                break
            offset += sent
    except OSError as exc:
        if exc.errno not in _NO_SENDFILE:
            raise
    while offset < size:
        block = os.pread(source, min(size - offset, 1 << 20), offset)
        _write_all(target, block)
        offset += len(block)

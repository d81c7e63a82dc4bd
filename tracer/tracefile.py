"""Trace files: JSON Lines, a header line then one event per line (``docs/trace-format.md``).

The writer appends events as they arrive and flushes after each batch, so a crash leaves a readable
prefix. The reader names the line and the problem for malformed input and refuses unknown major
versions, except a last line cut off mid-write (``cut_off_line``): the events before it are read,
and the command says once that the rest was ignored (``CutOff.warning``).
"""

from __future__ import annotations

import gc
import io
import os
import time
from _operator import itemgetter  # operator.py's C part: operator.py itself is ~1 M instructions

from boxtrace.tracer.events import EVENT_BUILDERS, Event, TraceHeader, event_from_json

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from types import TracebackType
    from typing import IO, Any


FORMAT_VERSION = "1.0"
# Header extra: CLOCK_MONOTONIC (seconds) at the trace's time 0, the same clock in every process.
MONOTONIC_START = "monotonic_start"
SUPPORTED_MAJOR = 1


def _not_serializable(obj: object) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _compact_dumps() -> Callable[[Any], str]:
    """json.dumps(obj, ensure_ascii=False, separators=(",", ":")), without its per-call set-up.

    JSONEncoder.encode builds a new C encoder at every call, which costs more than encoding an
    event; the writer encodes one line per event on the delivery thread, beside the trace loop.
    The C encoder is taken from _json itself (json.encoder's c_make_encoder and encode_basestring
    are these): the json package imports re, and re enum, ~10 M instructions of a trace's start
    (docs/benchmarks.md, "Start-up"). Reading a trace imports json (_scanner).
    """
    try:
        from _json import encode_basestring, make_encoder
    except ImportError:  # a Python without the _json accelerator
        import json

        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    encode = make_encoder(None, _not_serializable, encode_basestring, None, ":", ",", False, False, True)
    join = "".join
    return lambda obj: join(encode(obj, 0))


_dumps = _compact_dumps()


def _scanner() -> Callable[[str, int], tuple[Any, int]]:
    """json.loads's own decoder, without its wrappers: (value, end) for the JSON text at an index."""
    import json

    return json.JSONDecoder().scan_once  # type: ignore[attr-defined]


_first = itemgetter(0)


# What building an event (or the header) from a parsed line raises for a field of the wrong type or
# value: int(10**400 as a float) is an OverflowError, not a ValueError.
BAD_EVENT = (KeyError, TypeError, ValueError, AttributeError, OverflowError)
# json's scanner recurses once per nested array or object: a line of 100,000 "[" exhausts the stack.
NESTED_TOO_DEEP = "not valid JSON (nested too deeply)"


class TraceFormatError(ValueError):
    """A trace file that cannot be read; the message names the file, the line and the problem."""

    def __init__(self, path: str, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class CutOff:
    """The last line of a trace file, cut off mid-write by a recorder that crashed or was killed:
    no newline at its end and not a whole JSON object. Readers stop where it begins."""

    __slots__ = ("offset", "path")

    def __init__(self, path: str, offset: int) -> None:
        self.path = path
        self.offset = offset

    def line(self) -> int:
        """Its line number (a pass over the file: only for the warning)."""
        count = 1
        with open(self.path, "rb") as f:
            left = self.offset
            while left > 0:
                block = f.read(min(left, COUNT_BLOCK))
                if not block:
                    break
                count += block.count(b"\n")
                left -= len(block)
        return count

    def warning(self) -> str:
        """The one line a command prints on stderr (after its name) when it read such a file."""
        return (
            f"warning: {self.path}:{self.line()}: the last line is cut off (the recorder stopped "
            "mid-write); ignored it, used every complete line before it"
        )


COUNT_BLOCK = 1 << 20  # bytes read at a time when looking for a line's start or counting lines


def cut_off_line(f: IO[bytes], path: str, events_start: int) -> CutOff | None:
    """The cut-off last line of the open trace file ``f`` whose events begin at ``events_start``, or
    None. Only the last line can be one (a bad line before it is an error, as is a cut-off header):
    a recorder appends whole lines, so a crash can leave only the last one unfinished. A last line
    without a newline that is a whole JSON object is an ordinary line."""
    fd = f.fileno()
    size = os.fstat(fd).st_size
    if size <= events_start or os.pread(fd, 1, size - 1) == b"\n":
        return None
    begin, pos = events_start, size
    while pos > events_start:
        n = min(COUNT_BLOCK, pos - events_start)
        newline = os.pread(fd, n, pos - n).rfind(b"\n")
        if newline >= 0:
            begin = pos - n + newline + 1
            break
        pos -= n
    tail = os.pread(fd, size - begin, begin)
    if not tail.strip():
        return None
    import json  # reading a trace only: the recorder's start path does without it

    try:
        json.loads(tail.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return CutOff(path, begin)
    except RecursionError:
        return None  # whole, but nested too deeply: the reader names the line
    return None  # whole JSON: read (and judged) as any other line


def _lines_before_end(f: IO[bytes], end: int) -> Iterator[bytes]:
    """The lines of ``f`` from where it is up to ``end`` (a line start)."""
    pos = f.tell()
    for raw in f:
        pos += len(raw)
        if pos > end:
            return
        yield raw


def _utc_now() -> str:
    """ISO 8601 UTC with microseconds, e.g. 2026-11-28T05:13:14.123456Z (datetime costs ~4 ms to import)."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


def make_header(command: list[str], mode: str, extra: dict[str, Any] | None = None) -> TraceHeader:
    # Imported here: only a recording session needs it, and start-up time counts (bench/tracer.py).
    from boxtrace import __version__

    return TraceHeader(
        version=FORMAT_VERSION,
        boxtrace_version=__version__,
        kernel=os.uname().release,
        arch=os.uname().machine,
        command=list(command),
        start_time=_utc_now(),
        mode=mode,
        extra=dict(extra or {}),
    )


def encode_line(obj: dict[str, Any]) -> str:
    return _utf8_safe(_dumps(obj) + "\n")


def _utf8_safe(text: str) -> str:
    # Strings read from a tracee may hold undecodable bytes (kept as surrogate escapes): write them as
    # \\udcXX escapes rather than failing.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class TraceWriter:
    """Writes one trace file. Not thread-safe: one thread (the session's delivery thread) writes."""

    def __init__(self, path: str, header: TraceHeader) -> None:
        self.path = path
        self._file: IO[str] | None = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._file.write(encode_line(header.to_json()))
        self._file.flush()
        self.count = 0

    def write_events(self, events: Iterable[Event]) -> None:
        f = self._file
        if f is None:
            raise ValueError("trace file already closed")
        dumps = _dumps
        f.write(_utf8_safe("".join([dumps(e.to_json()) + "\n" for e in events])))
        f.flush()

    def write(self, event: Event) -> None:
        self.write_events((event,))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def header_from_json(data: dict[str, Any], path: str = "<trace>", line: int = 1) -> TraceHeader:
    if data.get("type") != "header" or data.get("format") != TraceHeader.FORMAT:
        raise TraceFormatError(
            path, line, f"not a boxtrace trace (first line must be a {TraceHeader.FORMAT} header)"
        )
    version = data.get("version")
    if not isinstance(version, str) or not version.split(".")[0].isdigit():
        raise TraceFormatError(path, line, f"bad format version {version!r}")
    major = int(version.split(".")[0])
    if major != SUPPORTED_MAJOR:
        raise TraceFormatError(
            path, line, f"format version {version} is not supported (this boxtrace reads {SUPPORTED_MAJOR}.x)"
        )
    try:
        return TraceHeader(
            version=version,
            boxtrace_version=str(data["boxtrace_version"]),
            kernel=str(data["kernel"]),
            arch=str(data["arch"]),
            command=[str(c) for c in data["command"]],
            start_time=str(data["start_time"]),
            mode=str(data.get("mode", "filtered")),
            extra=dict(data.get("extra", {})),
        )
    except BAD_EVENT as exc:
        raise TraceFormatError(path, line, f"bad header: {_problem(exc)}") from None


def _problem(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc)


class TraceReader:
    """Reads a trace file: ``header`` at once, events lazily by iterating."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed in close()
        try:
            first = self._file.readline()
            if not first.strip():
                raise TraceFormatError(path, 1, "empty file, expected a header line")
            self.header = header_from_json(self._parse(first, 1), path, 1)
            # Where the events begin: a byte range of them can be read on its own (records_between).
            self.events_start = self._file.tell()
            self.cut_off = cut_off_line(self._file, path, self.events_start)
            # Where the events end: before a cut-off last line (None: at the end of the file).
            self.events_end = None if self.cut_off is None else self.cut_off.offset
        except BaseException:
            self._file.close()
            raise

    def _parse(self, raw: bytes, line: int) -> dict[str, Any]:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TraceFormatError(self.path, line, f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
        import json

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TraceFormatError(
                self.path, line, f"not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        except RecursionError:
            raise TraceFormatError(self.path, line, NESTED_TOO_DEEP) from None
        if not isinstance(data, dict):
            raise TraceFormatError(self.path, line, f"expected a JSON object, got {type(data).__name__}")
        return data

    def __iter__(self) -> Iterator[Event]:
        return map(_first, self.records())

    def records(self) -> Iterator[tuple[Event, str | None]]:
        """Each event with the text of its JSON object as the file has it.

        The text is None for a line that is not one compact object alone (leading spaces, a CRLF
        ending...): such lines are read all the same. An exporter that writes events as they are in
        the file (the json export) copies the text instead of encoding the event again.
        """
        end = self.events_end
        lines = self._file if end is None else _lines_before_end(self._file, end)
        return _records(self.path, lines, 1, self._parse)

    def records_between(self, start: int, stop: int | None) -> Iterator[tuple[Event, str | None]]:
        """``records()`` of the bytes ``[start, stop)`` of the file (``stop`` None: to its end).

        ``start`` and ``stop`` are where lines begin (``events_start``, ``line_start_after``); the range
        is read from the file on its own, not from where iterating the reader has got to. Errors name
        the line as the whole file counts it. A cut-off last line is never in a range.
        """
        end = self.events_end
        if end is not None:
            stop = end if stop is None else min(stop, end)
            start = min(start, stop)
        with open(self.path, "rb") as f:
            f.seek(start)
            data = f.read() if stop is None else f.read(max(0, stop - start))
        try:
            yield from _records(self.path, io.BytesIO(data), 0, self._parse)
        except TraceFormatError as exc:
            # Counted only now: a range that reads cleanly never needs the lines before it.
            line = exc.line + self._lines_before(start)
            raise TraceFormatError(exc.path, line, exc.problem) from None

    def _lines_before(self, offset: int) -> int:
        count = 0
        with open(self.path, "rb") as f:
            while offset > 0:
                block = f.read(min(offset, 1 << 20))
                if not block:
                    break
                count += block.count(b"\n")
                offset -= len(block)
        return count

    def line_start_after(self, offset: int) -> int:
        """The offset of the first line that begins at or after ``offset`` (the file's size if none)."""
        with open(self.path, "rb") as f:
            if offset <= 0:
                return 0
            f.seek(offset - 1)
            f.readline()  # the rest of the line that ``offset - 1`` is in, its newline included
            return f.tell()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TraceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _records(
    path: str, lines: Iterable[bytes], line: int, parse: Callable[[bytes, int], dict[str, Any]]
) -> Iterator[tuple[Event, str | None]]:
    """What ``TraceReader.records`` yields, for ``lines`` that follow line number ``line``."""
    # The fast path scans each line with json's C scanner directly: json.loads wraps the same
    # scan in three Python calls and two regex matches, a third of the cost of reading a line.
    # Whatever the fast path does not accept as it is (a blank line, surrounding whitespace, bad
    # UTF-8 or JSON, not an object) goes through _parse, which reads it exactly as json.loads
    # does and names the problem.
    scan = _scanner()
    builders = EVENT_BUILDERS
    for raw in lines:
        line += 1
        try:
            text = raw.decode("utf-8")
            data, end = scan(text, 0)
        except (ValueError, StopIteration, RecursionError):
            data = None
        else:
            tail = len(text) - end
            if tail and (tail != 1 or text[end] != "\n"):
                data = None
        if data.__class__ is dict:
            source = text[:end] if end != len(text) else text
        else:
            if not raw.strip():
                continue
            data = parse(raw, line)
            source = None
        try:
            # event_from_json without its own call; it still raises for an unknown type.
            event = (builders.get(data["type"]) or event_from_json)(data)
        except BAD_EVENT as exc:
            raise TraceFormatError(path, line, f"bad event: {_problem(exc)}") from None
        yield event, source


class gc_paused:
    """Pause the cyclic garbage collector while a whole trace is loaded or exported.

    A trace is hundreds of thousands of small objects without cycles; the collector's passes over
    them would double the time it takes to read one. A class, not contextlib.contextmanager:
    contextlib costs the recorder's start ~2 M instructions, and functools and collections with it.
    """

    __slots__ = ("_enabled",)

    def __init__(self) -> None:
        self._enabled = False

    def __enter__(self) -> None:
        self._enabled = gc.isenabled()
        gc.disable()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._enabled:
            gc.enable()


def read_trace(path: str) -> tuple[TraceHeader, list[Event]]:
    """The whole file at once."""
    with gc_paused(), TraceReader(path) as reader:
        return reader.header, list(reader)

"""Random access to the events of a trace file: where each line starts, from one pass over the file,
and any event parsed again from its line when it is wanted.

A viewer of a long trace (the TUI's replay) keeps a few bytes per event (the line's offset and
length) instead of every event object with its strings and dicts (a few KB each), and parses only the
lines it shows. Errors name the file, the line and the problem, as ``TraceReader``'s do, also for a
line read again later: a file rewritten while it is open says so instead of showing other events.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

from boxtrace.tracer.events import Event, TraceHeader, event_from_json
from boxtrace.tracer.tracefile import (
    BAD_EVENT,
    NESTED_TOO_DEEP,
    CutOff,
    TraceFormatError,
    cut_off_line,
    header_from_json,
)

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import IO, Any


COUNT_BLOCK = 1 << 20  # bytes read at a time when counting lines for an error message


def _parse_object(raw: bytes, path: str, line: int) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TraceFormatError(path, line, f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceFormatError(path, line, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise TraceFormatError(path, line, NESTED_TOO_DEEP) from None
    if not isinstance(data, dict):
        raise TraceFormatError(path, line, f"expected a JSON object, got {type(data).__name__}")
    return data


def parse_event_line(raw: bytes, path: str, line: int) -> Event:
    """One event line of a trace file; the problems are worded as ``TraceReader`` words them."""
    data = _parse_object(raw, path, line)
    try:
        return event_from_json(data)
    except BAD_EVENT as exc:
        problem = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        raise TraceFormatError(path, line, f"bad event: {problem}") from None


class TraceIndex:
    """An open trace file: ``header`` at once, ``scan()`` once for every event and where its line is,
    then ``read(offset, length)`` for any of them again (thread-safe: positional reads)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed in close()
        try:
            first = self._file.readline()
            if not first.strip():
                raise TraceFormatError(path, 1, "empty file, expected a header line")
            self.header: TraceHeader = header_from_json(_parse_object(first, path, 1), path, 1)
        except BaseException:
            self._file.close()
            raise
        self._header_size = len(first)
        # A last line cut off mid-write is left out of ``scan`` (tracefile.cut_off_line).
        self.cut_off: CutOff | None = cut_off_line(self._file, path, self._header_size)

    def scan(self) -> Iterator[tuple[int, int, Event]]:
        """``(offset, length, event)`` for every event line after the header, in file order.

        Raises :class:`TraceFormatError` at the first malformed line; blank lines are skipped; a
        cut-off last line (``cut_off``) ends the scan.
        """
        offset = self._header_size
        end = None if self.cut_off is None else self.cut_off.offset
        line = 1
        for raw in self._file:
            if offset == end:
                return
            line += 1
            if raw.strip():
                yield offset, len(raw), parse_event_line(raw, self.path, line)
            offset += len(raw)

    def read(self, offset: int, length: int) -> Event:
        """The event on the line at ``offset`` (from ``scan``), parsed again."""
        raw = os.pread(self._file.fileno(), length, offset)
        try:
            if len(raw) != length:
                raise TraceFormatError(self.path, 0, "the file is shorter than when it was opened")
            return parse_event_line(raw, self.path, 0)
        except TraceFormatError as exc:
            # Counting lines costs a pass over the file: only for an error message.
            raise TraceFormatError(self.path, self.line_at(offset), exc.problem) from None

    def line_at(self, offset: int) -> int:
        """The line number (from 1) of the line that starts at ``offset``."""
        fd = self._file.fileno()
        count, pos = 1, 0
        while pos < offset:
            block = os.pread(fd, min(COUNT_BLOCK, offset - pos), pos)
            if not block:
                break
            count += block.count(b"\n")
            pos += len(block)
        return count

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __enter__(self) -> TraceIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Several traces made into one timeline: the traces of one ``docker run`` (runc create, start,
delete, each recorded on its own by boxtrace-runc) read as one story.

Events are ordered by when they happened. Traces written since the header carries
``extra.monotonic_start`` (CLOCK_MONOTONIC at the trace's time 0, one clock for every process of
the machine) are placed exactly; older ones by their ``start_time`` (wall clock, a few milliseconds
after time 0). Events are numbered again from 1 and timed from the earliest trace's start.
"""

from __future__ import annotations

import calendar
import os
import time
from collections.abc import Callable, Iterable

from boxtrace.tracer.events import Event, TraceHeader
from boxtrace.tracer.tracefile import MONOTONIC_START, CutOff, TraceReader, TraceWriter, make_header

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import Any


def merge_traces(
    paths: Iterable[str], output: str, on_cut_off: Callable[[CutOff], None] | None = None
) -> tuple[TraceHeader, int]:
    """Write the events of ``paths`` to ``output`` as one trace; returns its header and event count.
    A trace whose last line was cut off mid-write gives its complete events and is passed to
    ``on_cut_off`` (the command warns).

    Raises TraceFormatError (naming the file and line) for a file that is not a readable trace, and
    ValueError when the traces come from different machines (their pids and clocks do not meet).
    """
    readers: list[TraceReader] = []
    try:
        for path in paths:
            readers.append(TraceReader(path))
            if readers[-1].cut_off is not None and on_cut_off is not None:
                on_cut_off(readers[-1].cut_off)
        if len(readers) < 2:
            raise ValueError("give two traces or more to merge")
        _check_same_machine(readers)
        # One clock for all: the monotonic one only if every trace has it.
        monotonic = all(isinstance(r.header.extra.get(MONOTONIC_START), int | float) for r in readers)
        starts = [_start(r.header, monotonic) for r in readers]
        t0 = min(starts)
        timeline: list[tuple[float, int, int, Event]] = []
        for index, (reader, start) in enumerate(zip(readers, starts, strict=True)):
            offset = start - t0
            timeline.extend((offset + ev.time, index, ev.seq, ev) for ev in reader)
        timeline.sort(key=lambda item: item[:3])
        header = _merged_header(readers, starts, monotonic)
        tmp = f"{output}.tmp{os.getpid()}"
        try:
            with TraceWriter(tmp, header) as writer:
                events = []
                for seq, (at, _, _, ev) in enumerate(timeline, 1):
                    ev.seq = seq
                    ev.time = at
                    events.append(ev)
                writer.write_events(events)
            os.replace(tmp, output)  # never half a merged trace under the name asked for
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return header, len(timeline)
    finally:
        for reader in readers:
            reader.close()


def _check_same_machine(readers: list[TraceReader]) -> None:
    first = readers[0].header
    for reader in readers[1:]:
        h = reader.header
        if (h.kernel, h.arch) != (first.kernel, first.arch):
            raise ValueError(
                f"{reader.path} was recorded on another machine ({h.kernel} {h.arch}, not "
                f"{first.kernel} {first.arch}): its pids and times do not go with the others"
            )


def _start(header: TraceHeader, monotonic: bool) -> float:
    """Time 0 of a trace, in seconds: on the monotonic clock, or else on the wall clock."""
    if monotonic:
        return float(header.extra[MONOTONIC_START])
    return _wall_seconds(header.start_time)


def _wall_seconds(stamp: str) -> float:
    # "2026-11-28T06:55:58.411415Z"; a stamp without a fraction or a Z is read all the same.
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds + (float(f"0.{fraction}") if fraction.isdigit() else 0.0)


def _merged_header(readers: list[TraceReader], starts: list[float], monotonic: bool) -> TraceHeader:
    earliest = readers[starts.index(min(starts))].header
    modes = {r.header.mode for r in readers}
    sources: list[dict[str, Any]] = [
        {
            "path": r.path,
            "command": r.header.command,
            "start_time": r.header.start_time,
            "mode": r.header.mode,
        }
        for r in readers
    ]
    mode = modes.pop() if len(modes) == 1 else "mixed"
    header = make_header(earliest.command, mode, {"merged_from": sources})
    header.start_time = earliest.start_time
    if monotonic:
        header.extra[MONOTONIC_START] = min(starts)
    return header

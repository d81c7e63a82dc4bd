"""Chrome Trace Event JSON, opened by ui.perfetto.dev and chrome://tracing.

* every traced process is a process track and every thread a thread track, named with metadata
  events (``ph: "M"``, ``process_name``/``thread_name``): ``sh [24363] (pid 1 inside)``;
* a syscall is a complete slice (``ph: "X"``, ``ts``/``dur`` in microseconds) whose ``args`` hold the
  decoded arguments, the result, the phase and the explanation's title;
* a spawn is a flow arrow (``ph: "s"`` → ``ph: "f"``, same ``id``) from a small ``clone`` slice on the
  parent's thread to a ``start`` slice on the child's, which is how both viewers draw causality;
* exec, exit and output are instant events (``ph: "i"``);
* the phases of the container story are slices on a track of their own ("container story").

Format: https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU (linked, not
fetched). The trace's ``time`` is seconds since the trace started; ts is that in µs.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring as _string
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from boxtrace.exporters.annotate import (
    Annotated,
    annotate,
    json_text,
    process_label,
)
from boxtrace.tracer.events import (
    Event,
    ExecEvent,
    ExitEvent,
    OutputEvent,
    SpawnEvent,
    SyscallEvent,
    TraceHeader,
)

if TYPE_CHECKING:
    from boxtrace.annotate import Classify, Explain

DESCRIPTION = "Chrome Trace Event JSON for ui.perfetto.dev and chrome://tracing"

# The "container story" track: a pid no kernel hands out (PID_MAX_LIMIT is 2^22).
STORY_PID = 2**22 + 1
# Spawn markers are drawn this long (µs) so the arrows have a slice to bind to at any zoom.
MARK_US = 1.0

# Trace events gathered before one write: a few large writes instead of one per event.
_CHUNK = 128


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def _syscall_args(ev: SyscallEvent, phase: str, title: str) -> dict[str, Any]:
    args: dict[str, Any] = {a.name: a.text for a in ev.args}
    args["result"] = ev.result_text if ev.result_text is not None else "?"
    if ev.errno:
        args["errno"] = ev.errno
    if ev.ns_changed:
        args["new namespaces"] = ", ".join(f"{k}:[{v}]" for k, v in ev.ns_changed.items())
    args["phase"] = phase
    args["explanation"] = title
    args["seq"] = ev.seq
    return args


def _syscall_slice(ev: SyscallEvent, pid: int, tid: int, ts: float, dur: float, args: dict[str, Any]) -> str:
    """The complete slice of one syscall as JSON text, as json_text would write the whole object.

    The slice's own fields are formatted here and only ``args`` goes through the encoder: a third
    less work on the export's commonest line. Anything unusual (a pid that is not an int, a time
    that is not a finite float) takes the encoder for all of it.
    """
    name, cat = ev.name, ev.category_name
    if (
        name.__class__ is str
        and cat.__class__ is str
        and pid.__class__ is int
        and tid.__class__ is int
        and ts.__class__ is float
        and dur.__class__ is float
        and ts - ts == 0.0  # finite: json writes NaN and Infinity its own way
        and dur - dur == 0.0
    ):
        text = (
            f'{{"ph":"X","name":{_string(name)},"cat":{_string(cat)},"dur":{dur!r},'
            f'"pid":{pid},"tid":{tid},"ts":{ts!r},"args":{json_text(args)}}}'
        )
        return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")
    slice_ = {"ph": "X", "name": name, "cat": cat, "dur": dur, "pid": pid, "tid": tid, "ts": ts, "args": args}
    return json_text(slice_)


class _Tracks:
    """Names of processes and threads as they become known (the last comm wins: exec renames)."""

    def __init__(self) -> None:
        self.process: dict[int, str] = {}
        self.thread: dict[tuple[int, int], str] = {}
        # What each name was made from: names change rarely, events come by the 100,000.
        self._process_from: dict[int, tuple[str, list[int] | None]] = {}
        self._thread_from: dict[tuple[int, int], str] = {}

    def see(self, ev: Event) -> None:
        pid, comm = ev.pid, ev.comm
        made_from = (comm, ev.nspid)
        if self._process_from.get(pid) != made_from:
            self._process_from[pid] = made_from
            self.process[pid] = process_label(ev)
        key = (pid, ev.tid)
        if self._thread_from.get(key) != comm:
            self._thread_from[key] = comm
            self.thread[key] = f"{comm} [{ev.tid}]"

    def metadata(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {"ph": "M", "name": "process_name", "pid": pid, "tid": pid, "args": {"name": name}}
            for pid, name in self.process.items()
        ]
        out += [
            {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}}
            for (pid, tid), name in self.thread.items()
        ]
        out += [
            {
                "ph": "M",
                "name": "process_name",
                "pid": STORY_PID,
                "tid": STORY_PID,
                "args": {"name": "container story"},
            },
            {
                "ph": "M",
                "name": "thread_name",
                "pid": STORY_PID,
                "tid": STORY_PID,
                "args": {"name": "phases"},
            },
            {
                "ph": "M",
                "name": "process_sort_index",
                "pid": STORY_PID,
                "tid": STORY_PID,
                "args": {"sort_index": -1},
            },
        ]
        return out


# A spawn whose child has not shown up yet: child tid -> (flow id, the child's pid, spawn time in µs).
Pending = dict[int, tuple[int, int, float]]


class _Timeline:
    """The trace events of an export, fed annotated events in trace order and written as JSON texts
    joined by ``,\\n``, a chunk at a time.

    Everything it keeps between events is in its attributes, so that it can be fed in two halves
    (``boxtrace.exporters.split``): the second half starts from what the first left (``flows_after``)
    and what both found out is merged at the end (``merge``).
    """

    def __init__(
        self, write: Callable[[str], object], flow_id: int = 0, pending: Pending | None = None
    ) -> None:
        self.tracks = _Tracks()
        self.flow_id = flow_id  # spawns so far: each one's flow arrow has the next id
        self.pending_children: Pending = dict(pending or {})
        self.runs: list[list[Any]] = []  # phase runs: [phase, start µs, end µs]
        self.sep = ""  # what goes before the next chunk: nothing before the first
        self._write = write
        self._parts: list[str] = []

    def _flush(self) -> None:
        if self._parts:
            self._write(self.sep + ",\n".join(self._parts))
            self._parts.clear()
            self.sep = ",\n"

    def emit(self, obj: dict[str, Any]) -> None:
        self._parts.append(json_text(obj))
        if len(self._parts) >= _CHUNK:
            self._flush()

    def feed(self, annotated: Iterable[Annotated]) -> None:
        emit = self.emit
        see = self.tracks.see
        parts = self._parts
        append = parts.append
        pending_children = self.pending_children
        runs = self.runs
        flow_id = self.flow_id
        run: list[Any] = runs[-1] if runs else [None, 0.0, 0.0]  # the current phase run, once there is one
        # The loop runs for every event: syscalls, nearly all of them, take the shortest way through.
        for a in annotated:
            ev = a.event
            phase = a.phase
            see(ev)
            ts = round(ev.time * 1e6, 3)  # _us, inline
            pid, tid = ev.pid, ev.tid
            if tid in pending_children:
                fid = pending_children.pop(tid)[0]
                base = {"pid": pid, "tid": tid, "ts": ts}
                emit({"ph": "X", "name": "start", "cat": "process", "dur": MARK_US, **base})
                emit({"ph": "f", "bp": "e", "name": "spawn", "cat": "spawn", "id": fid, **base})
            if isinstance(ev, SyscallEvent):
                duration = ev.duration
                dur = round(duration * 1e6, 3) if duration is not None else 0.0
                end = ts + dur
                append(_syscall_slice(ev, pid, tid, ts, dur, _syscall_args(ev, phase, a.explanation.title)))
                if len(parts) >= _CHUNK:
                    self._flush()
            else:
                end = ts
                base = {"pid": pid, "tid": tid, "ts": ts}
                if isinstance(ev, SpawnEvent):
                    flow_id += 1
                    what = "thread" if ev.thread else "process"
                    emit(
                        {
                            "ph": "X",
                            "name": ev.how,
                            "cat": "process",
                            "dur": MARK_US,
                            **base,
                            "args": {
                                "child": ev.child,
                                "flags": "|".join(ev.flags),
                                "new": what,
                                "seq": ev.seq,
                            },
                        }
                    )
                    emit({"ph": "s", "name": "spawn", "cat": "spawn", "id": flow_id, **base})
                    pending_children[ev.child] = (flow_id, ev.pid if ev.thread else ev.child, ts)
                elif isinstance(ev, ExecEvent):
                    emit(
                        {
                            "ph": "i",
                            "s": "p",
                            "name": f"exec {ev.path}",
                            "cat": "exec",
                            **base,
                            "args": {"argv": ev.argv, "seq": ev.seq},
                        }
                    )
                elif isinstance(ev, ExitEvent):
                    how = f"killed by {ev.signal}" if ev.signal else f"exited with {ev.status}"
                    emit(
                        {"ph": "i", "s": "t", "name": how, "cat": "process", **base, "args": {"seq": ev.seq}}
                    )
                elif isinstance(ev, OutputEvent):
                    emit(
                        {
                            "ph": "i",
                            "s": "t",
                            "name": ev.stream,
                            "cat": "output",
                            **base,
                            "args": {"text": ev.text, "seq": ev.seq},
                        }
                    )
            # min/max written out: equal results, fewer calls
            if run[0] == phase:
                if ts < run[1]:
                    run[1] = ts
                if end > run[2]:
                    run[2] = end
            else:
                run = [phase, ts, end]
                runs.append(run)
        self.flow_id = flow_id
        self._flush()

    def merge(self, second: Second) -> None:
        """Take over what a timeline fed the events after this one's found out."""
        self.pending_children = dict(second.pending)
        self.tracks.process.update(second.processes)  # the names last seen, in the order first seen
        self.tracks.thread.update(second.threads)
        runs = [list(r) for r in second.runs]
        if self.runs and runs and self.runs[-1][0] == runs[0][0]:
            # One phase across the cut is one run: the earliest start, the latest end.
            last, first = self.runs[-1], runs.pop(0)
            last[1] = min(last[1], first[1])
            last[2] = max(last[2], first[2])
        self.runs += runs
        if second.wrote:
            self.sep = ",\n"

    def finish(self) -> None:
        """Everything after the events: spawns whose child never showed up, the phases, the names."""
        tracks = self.tracks
        # A child that made no traced call after its spawn (or whose first call completed first)
        # still gets its arrow, landing where it was born.
        for child, (fid, pid, ts) in self.pending_children.items():
            self.emit(
                {
                    "ph": "X",
                    "name": "start",
                    "cat": "process",
                    "dur": MARK_US,
                    "pid": pid,
                    "tid": child,
                    "ts": ts,
                }
            )
            self.emit(
                {
                    "ph": "f",
                    "bp": "e",
                    "name": "spawn",
                    "cat": "spawn",
                    "id": fid,
                    "pid": pid,
                    "tid": child,
                    "ts": ts,
                }
            )
            tracks.process.setdefault(pid, f"[{pid}]")
            tracks.thread.setdefault((pid, child), f"[{child}]")
        # A chapter lasts until the next one begins. Slices on one track must not overlap, and events
        # arrive by completion (a run's last call can end after the next run's first began): clamp to
        # a cursor.
        runs = self.runs
        cursor = 0.0
        for i, (phase, start, stop) in enumerate(runs):
            start = max(start, cursor)
            if i + 1 < len(runs):
                stop = runs[i + 1][1]
            stop = max(stop, start)
            cursor = stop
            self.emit(
                {
                    "ph": "X",
                    "name": phase,
                    "cat": "phase",
                    "pid": STORY_PID,
                    "tid": STORY_PID,
                    "ts": start,
                    "dur": round(stop - start, 3),
                }
            )
        for meta in tracks.metadata():
            self.emit(meta)
        self._flush()


class Second(NamedTuple):
    """What the timeline of the second half found out, for the first to merge (picklable)."""

    wrote: bool
    pending: Pending
    runs: list[list[Any]]
    processes: dict[int, str]
    threads: dict[tuple[int, int], str]


def flows_after(
    annotated: Iterable[Annotated], flow_id: int = 0, pending: Pending | None = None
) -> tuple[int, Pending]:
    """The spawn bookkeeping of ``_Timeline.feed`` alone: the flow ids handed out and the children not
    yet seen after ``annotated``, what a timeline of the events after them starts from."""
    pending = dict(pending or {})
    for a in annotated:
        ev = a.event
        pending.pop(ev.tid, None)
        if isinstance(ev, SpawnEvent):
            flow_id += 1
            pending[ev.child] = (flow_id, ev.pid if ev.thread else ev.child, round(ev.time * 1e6, 3))
    return flow_id, pending


def write_head(header: TraceHeader, out: TextIO) -> None:
    out.write('{"displayTimeUnit":"ms","otherData":')
    out.write(
        json_text(
            {
                "format": "boxtrace",
                "command": shlex.join(header.command),
                "kernel": header.kernel,
                "arch": header.arch,
                "start_time": header.start_time,
            }
        )
    )
    out.write(',"traceEvents":[\n')


def write_tail(out: TextIO) -> None:
    out.write("\n]}\n")


def export(
    header: TraceHeader,
    events: Iterable[Event],
    out: TextIO,
    explain: Explain | None = None,
    classify: Classify | None = None,
) -> None:
    write_head(header, out)
    timeline = _Timeline(out.write)
    timeline.feed(annotate(events, explain, classify))
    timeline.finish()
    write_tail(out)


class Halves:
    """The trace events in two halves (``boxtrace.exporters.split``). The first half is written as it
    is rendered; the second starts from the spawns the first left pending, and what it found out
    (names, phase runs, spawns still pending) is merged before the events that end the file."""

    keeps_sources = False
    max_bytes: int | None = 256 << 20  # ~450,000 events; one process streams any size

    def __init__(self) -> None:
        self._timeline: _Timeline | None = None

    def hand_over(self, first: list[Annotated]) -> tuple[int, Pending]:
        return flows_after(first)

    def render_first(self, header: TraceHeader, first: list[Annotated], out: TextIO) -> None:
        write_head(header, out)
        self._timeline = _Timeline(out.write)
        self._timeline.feed(first)

    def tally(self, second: list[Annotated]) -> None:
        return None  # the first half is written as it is rendered

    def write_first(self, header: TraceHeader, tally: None, out: TextIO) -> None:
        pass

    def render_second(self, state: tuple[int, Pending], second: list[Annotated], out: TextIO) -> Second:
        timeline = _Timeline(out.write, *state)
        timeline.feed(second)
        tracks = timeline.tracks
        return Second(
            bool(timeline.sep), timeline.pending_children, timeline.runs, tracks.process, tracks.thread
        )

    def finish(
        self, header: TraceHeader, second: Second, out: TextIO, copy_second: Callable[[], None]
    ) -> None:
        timeline = self._timeline
        assert timeline is not None, "render_first comes first"
        if second.wrote:
            if timeline.sep:
                out.write(timeline.sep)
            copy_second()
        timeline.merge(second)
        timeline.finish()
        write_tail(out)

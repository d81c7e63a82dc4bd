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
from collections.abc import Iterable
from json.encoder import encode_basestring as _string
from typing import Any, TextIO

from boxtrace.exporters.annotate import Classify, Explain, annotate, json_text, process_label
from boxtrace.tracer.events import (
    Event,
    ExecEvent,
    ExitEvent,
    OutputEvent,
    SpawnEvent,
    SyscallEvent,
    TraceHeader,
)

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


def export(
    header: TraceHeader,
    events: Iterable[Event],
    out: TextIO,
    explain: Explain | None = None,
    classify: Classify | None = None,
) -> None:
    tracks = _Tracks()
    flow_id = 0
    # child tid -> (flow id, the child's pid, spawn time) for spawns whose child has not shown up yet
    pending_children: dict[int, tuple[int, int, float]] = {}
    # phase runs: [phase, start µs, end µs]
    runs: list[list[Any]] = []
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
    # Encoded trace events, joined by ",\n" and written a chunk at a time.
    parts: list[str] = []
    sep = ""

    def emit(obj: dict[str, Any]) -> None:
        nonlocal sep
        parts.append(json_text(obj))
        if len(parts) >= _CHUNK:
            out.write(sep + ",\n".join(parts))
            parts.clear()
            sep = ",\n"

    see = tracks.see
    append = parts.append
    run: list[Any] = [None, 0.0, 0.0]  # the current phase run (runs[-1]), once there is one
    # The loop runs for every event: syscalls, nearly all of them, take the shortest way through.
    for a in annotate(events, explain, classify):
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
                out.write(sep + ",\n".join(parts))
                parts.clear()
                sep = ",\n"
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
                        "args": {"child": ev.child, "flags": "|".join(ev.flags), "new": what, "seq": ev.seq},
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
                emit({"ph": "i", "s": "t", "name": how, "cat": "process", **base, "args": {"seq": ev.seq}})
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
    # A child that made no traced call after its spawn (or whose first call completed first) still gets
    # its arrow, landing where it was born.
    for child, (fid, pid, ts) in pending_children.items():
        emit(
            {"ph": "X", "name": "start", "cat": "process", "dur": MARK_US, "pid": pid, "tid": child, "ts": ts}
        )
        emit(
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
    # A chapter lasts until the next one begins. Slices on one track must not overlap, and events arrive
    # by completion (a run's last call can end after the next run's first began): clamp to a cursor.
    cursor = 0.0
    for i, (phase, start, stop) in enumerate(runs):
        start = max(start, cursor)
        if i + 1 < len(runs):
            stop = runs[i + 1][1]
        stop = max(stop, start)
        cursor = stop
        emit(
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
        emit(meta)
    if parts:
        out.write(sep + ",\n".join(parts))
    out.write("\n]}\n")

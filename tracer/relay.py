"""--all's calls as raw records: read at the stop, decoded into text in the writer process.

With ``--all`` nine calls in ten are ones no family decodes (futex, nanosleep, newfstatat...): the
generic decoder shows them from their prototype. What of such a call must be read while the
tracee is stopped is small: its registers, the strings its pointers name, the paths behind its fds
(``generic.read_generic``). :class:`RelayEngine` reads that and nothing else at the stop, and
records the call as a :class:`RawCall`; turning it into text (``generic.format_generic``, the
result's errno name), the event object, the JSON line and the console line happen in the writer
process (``writer_process.py``), on the other CPU. Calls a family decodes (mount, clone, openat,
write...) and process events are decoded in the trace loop as before and cross as their JSON
objects: they are one event in ten.

Records are tuples of ints, floats, strings, lists, tuples and dicts: ``marshal`` encodes a batch
of them in C. The text made from a record is the text the engine's own decoding makes (the same
functions run, in another process); tests/tracer/test_relay.py compares trace files.

Only consumers that never hold a tracee can be fed so (a plain printer, a recording): the TUI's
step mode needs the decoded event in this process while the tracee waits at the call's entry.
"""

from __future__ import annotations

import time

from boxtrace.tracer import decoders, ptrace_api
from boxtrace.tracer.decoders.base import Decoded
from boxtrace.tracer.decoders.common import s64
from boxtrace.tracer.decoders.generic import Fetched, format_generic, plan_of, read_generic
from boxtrace.tracer.engine import Engine, Pending, Task
from boxtrace.tracer.events import Event, SyscallEvent, event_from_json
from boxtrace.tracer.messages import (
    Ended,
    Message,
    Notice,
    ProcessEvent,
    Started,
    SyscallFinished,
    TraceResult,
)
from boxtrace.tracer.tracefile import header_from_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_SYSCALL, _EVENT, _STARTED, _NOTICE, _ENDED = range(5)  # a record's first field: what it is


class RawCall:
    """A generic call as read at its stops; stands in for its SyscallEvent in the trace loop
    (``Pending.event``): the engine sets ``duration`` and ``result``."""

    __slots__ = (
        "args",
        "comm",
        "duration",
        "fetched",
        "name",
        "nr",
        "nspid",
        "pid",
        "result",
        "seq",
        "tid",
        "time",
    )

    def __init__(
        self,
        seq: int,
        time: float,
        pid: int,
        tid: int,
        comm: str,
        nspid: list[int] | None,
        name: str,
        nr: int,
        args: tuple[int, ...],
        fetched: Fetched,
    ) -> None:
        self.seq = seq
        self.time = time
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.nspid = nspid
        self.name = name
        self.nr = nr
        self.args = args
        self.fetched = fetched
        self.result: int | None = None
        self.duration: float | None = None


class _NoContext:
    """Pending.ctx of a raw call: the engine touches ``mem`` and ``args`` of a pending call's
    context only for clone and exec calls, which are never raw; harmless if it ever does."""

    __slots__ = ("args", "mem")

    def __init__(self) -> None:
        self.args = (0, 0, 0, 0, 0, 0)
        self.mem: object = None


_NO_DECODED = Decoded(category="other", args=[])
_NO_CONTEXT = _NoContext()


class RelayEngine(Engine):
    """The engine for --all when a writer process decodes: generic calls become RawCalls.

    It never holds a tracee (no step mode, no breakpoints): see the module's docstring.
    """

    def _on_entry(self, task: Task, info: tuple[int, ...] | None = None) -> None:
        tid = task.tid
        if info is None:
            info = self.pt.syscall_entry(tid)
        _op, arch, nr, a0, a1, a2, a3, a4, a5 = info
        name = self._names.get(nr) if arch == self.arch.audit_arch else None
        if name is None or name in decoders.DECODED or not self.report_all:
            super()._on_entry(task, info)
            return
        plan = plan_of(name)
        if plan is None:
            super()._on_entry(task, info)
            return
        args = (a0, a1, a2, a3, a4, a5)
        fetched = read_generic(task.mem, task.view, plan, args)
        t = time.monotonic()
        comm, nspid = self._ident(task)
        seq = next(self.seq)
        self.events += 1
        try:
            ptrace_api.syscall(tid, 0)
        finally:
            # Made once the tracee runs again (it waits for nothing here); made even if it was
            # killed meanwhile, so that its exit reports the call, as the engine's own path does.
            raw = RawCall(seq, t - self.t0, task.pid, tid, comm, nspid, name, nr, args, fetched)
            task.pending = Pending(raw, _NO_DECODED, _NO_CONTEXT, t)  # type: ignore[arg-type]

    def _on_exit(self, task: Task, fetched: bool = False) -> None:
        pending = task.pending
        assert pending is not None
        raw = pending.event
        if type(raw) is not RawCall:
            super()._on_exit(task, fetched)
            return
        task.pending = None
        tid = task.tid
        if not fetched:
            self.pt.fetch_syscall_info(tid)
        rval = self.pt.exit_fields()[2]
        raw.duration = time.monotonic() - pending.t0
        raw.result = rval
        task.child_ns = None
        if self.step_all or task.watch_stdio:
            ptrace_api.syscall(tid, 0)
        else:
            ptrace_api.cont(tid, 0)
        self._finish(pending)


# ---- records: made on the session's delivery thread, read in the writer process ----


def to_records(batch: list[Message]) -> list[tuple[Any, ...]]:
    """What the writer needs of a batch, as marshal-able tuples. Entered, held and resumed
    messages are left out: the consumers fed so show calls once they are finished."""
    out: list[tuple[Any, ...]] = []
    append = out.append
    for msg in batch:
        kind = type(msg)
        if kind is SyscallFinished:
            ev = msg.event  # type: ignore[union-attr]
            if type(ev) is RawCall:
                append(
                    (
                        _SYSCALL,
                        ev.seq,
                        ev.time,
                        ev.pid,
                        ev.tid,
                        ev.comm,
                        ev.nspid,
                        ev.name,
                        ev.nr,
                        ev.args,
                        ev.fetched,
                        ev.result,
                        ev.duration,
                    )
                )
            else:
                append((_EVENT, ev.to_json()))
        elif kind is ProcessEvent:
            append((_EVENT, msg.event.to_json()))  # type: ignore[union-attr]
        elif kind is Started:
            assert isinstance(msg, Started)
            append((_STARTED, msg.header.to_json(), msg.pid))
        elif kind is Notice:
            assert isinstance(msg, Notice)
            append((_NOTICE, msg.text, msg.level))
        elif kind is Ended:
            assert isinstance(msg, Ended)
            r = msg.result
            append((_ENDED, tuple(getattr(r, name) for name in TraceResult._fields)))
    return out


def from_records(records: list[tuple[Any, ...]]) -> list[Message]:
    """The messages the records stand for, with every raw call decoded into its SyscallEvent."""
    out: list[Message] = []
    append = out.append
    for rec in records:
        what = rec[0]
        if what == _SYSCALL:
            append(SyscallFinished(syscall_event(*rec[1:])))
        elif what == _EVENT:
            event = event_from_json(rec[1])
            append(SyscallFinished(event) if type(event) is SyscallEvent else ProcessEvent(event))
        elif what == _STARTED:
            append(Started(header_from_json(rec[1]), rec[2]))
        elif what == _NOTICE:
            append(Notice(rec[1], rec[2]))
        elif what == _ENDED:
            append(Ended(TraceResult(*rec[1])))
    return out


def syscall_event(
    seq: int,
    time: float,
    pid: int,
    tid: int,
    comm: str,
    nspid: list[int] | None,
    name: str,
    nr: int,
    args: tuple[int, ...],
    fetched: Fetched,
    result: int | None,
    duration: float | None,
) -> SyscallEvent:
    """A raw call's event, as the engine's own decoding (decode_generic, decode_exit) makes it."""
    plan = plan_of(name)
    assert plan is not None  # the engine made a RawCall only for calls with a plan
    event = SyscallEvent(
        seq, time, pid, tid, comm, nspid, name, nr, "other", format_generic(plan, args, fetched).args
    )
    event.duration = duration
    if result is not None:
        event.result = result
        done = decoders.number_result(s64(result))
        event.result_text = done.result_text
        event.errno = done.errno
    return event


def materialize(batch: list[Message]) -> None:
    """Replace the raw calls of a batch by their events, in place (a relay engine whose writer
    process could not be started: the session then writes and prints in this process)."""
    for i, msg in enumerate(batch):
        if type(msg) is SyscallFinished and type(msg.event) is RawCall:
            raw: RawCall = msg.event
            event: Event = syscall_event(
                raw.seq,
                raw.time,
                raw.pid,
                raw.tid,
                raw.comm,
                raw.nspid,
                raw.name,
                raw.nr,
                raw.args,
                raw.fetched,
                raw.result,
                raw.duration,
            )
            batch[i] = SyscallFinished(event)

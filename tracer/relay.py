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
from collections.abc import Callable

from boxtrace.tracer import decoders, ptrace_api
from boxtrace.tracer.arch import Arch
from boxtrace.tracer.control import Control
from boxtrace.tracer.decoders.base import Decoded
from boxtrace.tracer.decoders.common import s64
from boxtrace.tracer.decoders.generic import (
    NOTHING_READ,
    Fetched,
    Plan,
    format_generic,
    plan_of,
    read_generic,
    reads_tracee,
)
from boxtrace.tracer.engine import Engine, Pending, Task
from boxtrace.tracer.events import SyscallEvent, event_from_json
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

_ptrace = ptrace_api.hot_ptrace()
_GET_SYSCALL_INFO = ptrace_api.PTRACE_GET_SYSCALL_INFO
_SYSCALL = ptrace_api.PTRACE_SYSCALL
_INFO_SIZE = ptrace_api.INFO_SIZE
_OP_EXIT = ptrace_api.OP_EXIT
_unpack_entry = ptrace_api.unpack_entry
_unpack_exit = ptrace_api.unpack_exit
_monotonic = time.monotonic

_RAW, _EVENT, _STARTED, _NOTICE, _ENDED = range(5)  # a record's first field: what it is

# A raw call's record: (_RAW, head, result, duration), where head is what its entry stop read:
# (seq, time, pid, tid, comm, nspid, name, nr, args, fetched). The trace loop emits the record itself
# (no event, no message object), the delivery thread passes it on as it is.
RawHead = tuple[int, float, int, int, str, "list[int] | None", str, int, "tuple[int, ...]", Fetched]
RawRecord = tuple[int, RawHead, "int | None", "float | None"]


class _NoContext:
    """Pending.ctx of a raw call: the engine touches ``mem`` and ``args`` of a pending call's
    context only for clone and exec calls, which are never raw; harmless if it ever does."""

    __slots__ = ("args", "mem")

    def __init__(self) -> None:
        self.args = (0, 0, 0, 0, 0, 0)
        self.mem: object = None


_NO_DECODED = Decoded(category="other", args=[])
_NO_CONTEXT = _NoContext()
_NO_HEAD: RawHead = (0, 0.0, 0, 0, "", None, "", 0, (), ())


class RawCall:
    """A generic call between its entry and exit stops, in ``Task.pending``: it stands in for the
    engine's Pending and for that Pending's event (the engine's own paths set ``duration`` and
    ``result`` through ``event`` when the call never returns, and emit ``SyscallFinished(event)``)."""

    __slots__ = ("duration", "effects", "head", "result", "t0")
    # What the engine reads of a Pending it did not make (clone and exec calls, which read more,
    # are never raw).
    decoded = _NO_DECODED
    ctx = _NO_CONTEXT
    ns_before = None

    def __init__(self) -> None:
        self.head: RawHead = _NO_HEAD
        self.t0 = 0.0
        self.effects: list[Message] | None = None
        self.result: int | None = None
        self.duration: float | None = None

    @property
    def event(self) -> RawCall:
        return self

    @property
    def seq(self) -> int:
        return self.head[0]

    @property
    def name(self) -> str:
        return self.head[6]

    def record(self) -> RawRecord:
        return (_RAW, self.head, self.result, self.duration)

    def reset(self) -> None:
        """Ready for the task's next call (its engine reuses it: one object less to make a call)."""
        self.effects = None
        self.result = None
        self.duration = None


class RelayEngine(Engine):
    """The engine for --all when a writer process decodes: generic calls become RawCalls.

    It never holds a tracee (no step mode, no breakpoints): see the module's docstring. Its syscall
    stops take a short path (callgrind counts every instruction of it: it runs ~9,000 times a
    runc): one PTRACE_GET_SYSCALL_INFO, its fields unpacked once, a per-number table of how the call
    is read, and the record emitted as a tuple at the exit.
    """

    def __init__(
        self,
        arch: Arch,
        emit: Callable[[Message], None],
        control: Control,
        report_all: bool,
        step_all: bool,
        t0: float,
    ) -> None:
        super().__init__(arch, emit, control, report_all, step_all, t0)
        # Per call number: (name, plan, whether the plan reads the tracee), or None for a call the
        # engine itself decodes (a family's call, one without a prototype, or not --all).
        self._raw: dict[int, tuple[str, Plan, bool] | None] = {}
        self._audit_arch = arch.audit_arch
        # Per tid, the RawCall its calls reuse (a task has one call in flight at most; a RawCall
        # leaves the task only as its record, a tuple: see _finish).
        self._spare: dict[int, RawCall] = {}
        self._info = self.pt.info
        self._info_ptr = self.pt.info_ptr
        self._info_bytes = self.pt.info_bytes

    def _raw_plan(self, nr: int) -> tuple[str, Plan, bool] | None:
        name = self._names.get(nr)
        found = None
        if name is not None and name not in decoders.DECODED and self.report_all:
            plan = plan_of(name)
            if plan is not None:
                found = (name, plan, reads_tracee(plan))
        self._raw[nr] = found
        return found

    def _on_syscall_stop(self, task: Task) -> None:
        if task.unreported_exit or not (self.step_all or task.watch_stdio):
            super()._on_syscall_stop(task)
            return
        tid = task.tid
        if _ptrace(_GET_SYSCALL_INFO, tid, _INFO_SIZE, self._info_ptr) == -1:
            raise ptrace_api.fail(_GET_SYSCALL_INFO, tid)
        if self._info_bytes[0] != _OP_EXIT:
            self._on_entry(task, _unpack_entry(self._info))
            # Resumed with PTRACE_SYSCALL; with nothing pending, its next syscall stop is the exit.
            task.unreported_exit = task.pending is None
            return
        pending = task.pending
        if type(pending) is not RawCall:
            if pending is not None:
                self._on_exit(task, fetched=True)
            elif _ptrace(_SYSCALL, tid, 0, 0) == -1:
                raise ptrace_api.fail(_SYSCALL, tid)
            return
        task.pending = None
        t = _monotonic()
        rval = _unpack_exit(self._info)[2]
        task.child_ns = None
        if _ptrace(_SYSCALL, tid, 0, 0) == -1:
            raise ptrace_api.fail(_SYSCALL, tid)
        emit = self.emit
        emit((_RAW, pending.head, rval, t - pending.t0))
        if pending.effects is not None:
            for effect in pending.effects:
                emit(effect)
            pending.effects = None

    def _on_entry(self, task: Task, info: tuple[int, ...] | None = None) -> None:
        tid = task.tid
        if info is None:
            info = self.pt.syscall_entry(tid)
        nr = info[2]
        raw: tuple[str, Plan, bool] | None = None
        if info[1] == self._audit_arch:
            try:
                raw = self._raw[nr]
            except KeyError:  # the first call of this number
                raw = self._raw_plan(nr)
        if raw is None:
            super()._on_entry(task, info)
            return
        name, plan, reads = raw
        args = info[3:]
        fetched = read_generic(task.mem, task.view, plan, args) if reads else NOTHING_READ
        t = _monotonic()
        if not task.fresh:
            self._ident(task)
        seq = next(self.seq)
        self.events += 1
        try:
            if _ptrace(_SYSCALL, tid, 0, 0) == -1:
                raise ptrace_api.fail(_SYSCALL, tid)
        finally:
            # Made once the tracee runs again (it waits for nothing here); made even if it was
            # killed meanwhile, so that its exit reports the call, as the engine's own path does.
            raw_call = self._spare.get(tid)
            if raw_call is None:
                raw_call = self._spare[tid] = RawCall()
            raw_call.head = (seq, t - self.t0, task.pid, tid, task.comm, task.nspid, name, nr, args, fetched)
            raw_call.t0 = t
            task.pending = raw_call  # type: ignore[assignment]

    def _on_exit(self, task: Task, fetched: bool = False) -> None:
        pending = task.pending
        assert pending is not None
        if type(pending) is not RawCall:
            super()._on_exit(task, fetched)
            return
        # Only when the short path of _on_syscall_stop was not taken (it never is while stepping).
        task.pending = None
        tid = task.tid
        if not fetched:
            self.pt.fetch_syscall_info(tid)
        pending.result = self.pt.exit_fields()[2]
        pending.duration = _monotonic() - pending.t0
        task.child_ns = None
        if self.step_all or task.watch_stdio:
            ptrace_api.syscall(tid, 0)
        else:
            ptrace_api.cont(tid, 0)
        self._finish(pending)

    def _finish(self, pending: Pending) -> None:
        if type(pending) is not RawCall:
            super()._finish(pending)
            return
        # Its record, not the object: the object is the task's, reused for its next call.
        emit = self.emit
        emit(pending.record())
        if pending.effects is not None:
            for effect in pending.effects:
                emit(effect)
        pending.reset()

    def _on_gone(self, tid: int, status: int) -> None:
        super()._on_gone(tid, status)
        self._spare.pop(tid, None)


# ---- records: made on the session's delivery thread, read in the writer process ----


def to_records(batch: list[Message]) -> list[tuple[Any, ...]]:
    """What the writer needs of a batch, as marshal-able tuples. Entered, held and resumed
    messages are left out: the consumers fed so show calls once they are finished."""
    out: list[tuple[Any, ...]] = []
    append = out.append
    for msg in batch:
        kind = type(msg)
        if kind is tuple:  # a raw call's record, as the trace loop emitted it
            append(msg)  # type: ignore[arg-type]
        elif kind is SyscallFinished:
            ev = msg.event  # type: ignore[union-attr]
            if type(ev) is RawCall:
                append(ev.record())
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
        if what == _RAW:
            append(SyscallFinished(syscall_event(rec[1], rec[2], rec[3])))
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


def raw_record(msg: object) -> RawRecord | None:
    """The raw call's record a message of a relay engine's outbox stands for, if it is one."""
    if type(msg) is tuple:
        return msg
    if type(msg) is SyscallFinished and type(msg.event) is RawCall:
        return msg.event.record()
    return None


def syscall_event(head: RawHead, result: int | None, duration: float | None) -> SyscallEvent:
    """A raw call's event, as the engine's own decoding (decode_generic, decode_exit) makes it."""
    seq, time, pid, tid, comm, nspid, name, nr, args, fetched = head
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
        rec = raw_record(msg)
        if rec is not None:
            batch[i] = SyscallFinished(syscall_event(rec[1], rec[2], rec[3]))

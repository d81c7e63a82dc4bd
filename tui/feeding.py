"""Feeding the app: a live session's batches of messages, a replay's chunks of events.

Threads (REFERENCE.md §8): the session's tracer thread owns every ptrace call; its delivery thread
hands batches of messages (at most every 20 ms) to :meth:`Feeding.feed`, which only posts them as
one textual message. Everything else runs on the UI thread. A replay reads its file on a worker
thread and posts chunks the same way, so both modes build the same model through the same code.
"""

from __future__ import annotations

import gc
import sys

from textual import work
from textual.message import Message as TMessage

from boxtrace.tracer.events import Event, OutputEvent, SyscallEvent, TraceHeader
from boxtrace.tracer.messages import (
    Ended,
    Held,
    Message,
    Notice,
    ProcessEvent,
    Resumed,
    Started,
    SyscallEntered,
    SyscallFinished,
)
from boxtrace.tui.app_state import AppState
from boxtrace.tui.loader import FileChunk, ReplayDigester
from boxtrace.tui.timeline import TraceModel

CHUNK = 5000  # events per replay chunk: the first screen shows after one chunk, not the whole file
FIRST_CHUNK = 1000  # a smaller first one: the first screen needs only a screenful
GC_YOUNG_THRESHOLD = 3000  # allocations between collections of the youngest generation (Python's: 700)


class TraceBatch(TMessage):
    """Messages the session's delivery thread handed over, in order."""

    def __init__(self, messages: list[Message]) -> None:
        super().__init__()
        self.messages = messages


class ReplayChunk(TMessage):
    """Events of a replay, ``done`` on the last chunk: in memory (``events``), or the digest of the
    next lines of a trace file read by the loader thread (``file``)."""

    def __init__(
        self,
        header: TraceHeader | None,
        events: list[Event],
        done: bool,
        error: str | None = None,
        file: FileChunk | None = None,
        warning: str | None = None,
    ):
        super().__init__()
        self.header = header
        self.events = events
        self.done = done
        self.error = error
        self.file = file
        self.warning = warning  # the file's last line was cut off (tracefile.CutOff)


class Feeding(AppState):
    """Takes what the session or the replay file delivers into the model (called on the session's
    delivery thread: ``feed`` only)."""

    def feed(self, batch: list[Message]) -> None:
        """The session's consumer: one post per batch, never a call per event (thread-safe).

        Batches that come before the app is mounted (the session starts first) are kept and
        posted from ``on_mount``, in order.
        """
        with self._feed_lock:
            if not self._accepting:
                self._early.append(batch)
                return
        self.post_message(TraceBatch(batch))

    def _accept_feed(self) -> None:
        with self._feed_lock:
            self._accepting = True
            early, self._early = self._early, []
        for batch in early:
            self.post_message(TraceBatch(batch))

    @work(thread=True, exclusive=True, group="replay-load")
    def _load(self, path: str) -> None:
        """Read the file once: each event is digested and folded here, then dropped (only its line's
        place is kept); the UI thread takes the digests chunk by chunk."""
        from boxtrace.tracer.trace_index import TraceIndex
        from boxtrace.tracer.tracefile import TraceFormatError

        assert self.store is not None
        try:
            index = TraceIndex(path)
        except (OSError, TraceFormatError) as exc:
            self.post_message(ReplayChunk(None, [], True, error=str(exc)))
            return
        self.store.attach(index)
        digester = ReplayDigester(self.timeline.every)
        size = FIRST_CHUNK
        try:
            for offset, length, event in index.scan():
                digester.add(offset, length, event)
                if len(digester) >= size:
                    # Back-pressure: wait until the app has taken the chunk and repainted, so
                    # the first screen shows after one chunk, not after the whole file.
                    self._chunk_taken.clear()
                    self.post_message(ReplayChunk(index.header, [], False, file=digester.take()))
                    size = CHUNK
                    while not self._chunk_taken.wait(0.5):
                        if not self.is_running:
                            return
            warning = None if index.cut_off is None else index.cut_off.warning()
            self.post_message(ReplayChunk(index.header, [], True, file=digester.take(), warning=warning))
        except (OSError, TraceFormatError) as exc:
            self.post_message(ReplayChunk(None, [], True, error=str(exc)))
        finally:
            if not self.is_running:
                index.close()  # the app is gone; otherwise on_unmount closes it

    def on_unmount(self) -> None:
        if self.store is not None and self.store.source is not None and self.loaded:
            self.store.source.close()
        if self._gc_threshold is not None:
            gc.unfreeze()  # what the app kept is garbage now, or soon: let the collector see it again
            gc.set_threshold(*self._gc_threshold)

    def _freeze(self) -> None:
        """The trace is all here (loaded, or the traced command ended): move every object the app has
        made so far out of the cyclic collector's reach, and collect the youngest objects less often.

        A full collection otherwise walks them all (textual's widgets and styles, the model, the world
        checkpoints): 50-90 ms of CPU every 10-15 keys in a 100,000-event replay, the slowest keys.
        And a paint makes thousands of short-lived objects (strips, segments): collected every 700
        allocations, many are still alive mid-paint and get promoted, so the old generations grow
        and full collections come sooner; every 3,000, most die first. Objects are still freed by
        refcount. Both are undone when the app ends (``on_unmount``)."""
        if self._gc_threshold is None:
            self._gc_threshold = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(GC_YOUNG_THRESHOLD, *self._gc_threshold[1:])

    def _store_error(self, problem: str) -> None:
        """An event of the replayed file cannot be read again (the file changed): say so, go on."""
        self.error = problem
        self.call_later(self.notify, problem, severity="error", timeout=10)
        self.call_later(self._update_status)

    def on_replay_chunk(self, chunk: ReplayChunk) -> None:
        if chunk.header is not None:
            self.header = chunk.header
        if chunk.error:
            self.error = chunk.error
            self.notify(chunk.error, severity="error", timeout=10)
        if chunk.warning:
            self.notify(chunk.warning, severity="warning", timeout=10)
        first = len(self.model) == 0
        if chunk.file is not None and self.store is not None:
            part = chunk.file
            self.store.extend(part.offsets, part.lengths, part.seqs)
            self.model.take(part.digest)
            self.timeline.add_checkpoints(part.checkpoints)
            self.output_indices.extend(part.outputs)
        for event in chunk.events:
            _intern(event)
            self._add(event)
        self.loaded = chunk.done
        if chunk.done:
            self._freeze()
        if first and len(self.model):
            self.cursor = self.model.nearest_visible(0) or 0
        self._refresh_all()
        self.call_after_refresh(self._chunk_taken.set)

    def on_trace_batch(self, batch: TraceBatch) -> None:
        for msg in batch.messages:
            self._handle(msg)
        self._refresh_all()

    def _add(self, event: Event) -> int:
        known = self.model.index_of_seq(event.seq)
        index = self.model.add(event)
        if known is not None:
            self.timeline.invalidate_from(index)
        elif isinstance(event, OutputEvent):
            self.output_indices.append(index)
        return index

    def _handle(self, msg: Message) -> None:
        kind = type(msg)
        if kind is SyscallEntered or kind is SyscallFinished or kind is ProcessEvent:
            index = self._add(msg.event)  # type: ignore[union-attr]
            if self.follow and self.held < 0:
                self.cursor = index
        elif kind is Held:
            assert isinstance(msg, Held)
            known = self.model.index_of_seq(msg.event.seq)
            index = known if known is not None else self._add(msg.event)
            self.held = index
            self.running = False
            self.follow = True
            self.cursor = index
            if (self.auto and msg.reason == "breakpoint") or self._is_lesson_break(msg.event):
                self._set_auto(False)
        elif kind is Resumed:
            self.held = -1
            self.running = not self.ended
        elif kind is Started:
            assert isinstance(msg, Started)
            self.header = msg.header
            self.running = True
        elif kind is Notice:
            assert isinstance(msg, Notice)
            self.notices.append(msg.text)
            severity = {"error": "error", "warning": "warning"}.get(msg.level, "information")
            self.notify(msg.text, severity=severity, timeout=8)  # type: ignore[arg-type]
            if msg.level == "error":
                self.error = msg.text
        elif kind is Ended:
            assert isinstance(msg, Ended)
            self.result = msg.result
            self.ended = True
            self._freeze()
            self.running = False
            self.held = -1
            self._set_auto(False)
            if msg.result.error:
                self.error = f"tracer error: {msg.result.error}"
            if self.quitting:
                self.exit(msg.result.exit_code)

    def _is_lesson_break(self, event: Event) -> bool:
        return TraceModel.matches_breakpoint(
            event, frozenset(self.options.break_names), frozenset(self.options.break_categories)
        )


def _intern(event: Event) -> None:
    """Share equal strings between events: a long trace repeats the same paths, flags and names,
    and each parsed JSON line would otherwise hold its own copies (most of a replay's memory)."""
    event.comm = sys.intern(event.comm)
    if isinstance(event, SyscallEvent):
        event.name = sys.intern(event.name)
        event.category_name = sys.intern(event.category_name)
        for arg in event.args:
            arg.name = sys.intern(arg.name)
            arg.text = sys.intern(arg.text)
            if arg.flags:
                arg.flags = [sys.intern(f) for f in arg.flags]
        detail = event.detail
        for key, value in detail.items():
            if isinstance(value, str):
                detail[key] = sys.intern(value)
        if event.result_text is not None:
            event.result_text = sys.intern(event.result_text)

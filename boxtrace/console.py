"""The plain console printer: one readable line per event, grouped by process.

A consumer of :class:`boxtrace.tracer.session.TraceSession` (it is called with batches of messages on
the session's delivery thread). Colours come from rich's style engine when the output is a terminal;
otherwise lines are plain text and rich is not even imported (importing rich.console costs ~80 ms,
more than tracing a whole container start). Lines are built as strings, not rich renderables: the
printer shares the interpreter with the trace loop and must stay cheap.
"""

from __future__ import annotations

import sys

from boxtrace.tracer.events import (
    CATEGORY_STYLES,
    Event,
    ExecEvent,
    ExitEvent,
    OutputEvent,
    SpawnEvent,
    SyscallEvent,
)
from boxtrace.tracer.messages import Ended, Message, Notice, ProcessEvent, Started, SyscallFinished

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    Styler = Callable[[str, str], str]


def _plain(text: str, style: str) -> str:
    return text


def rich_styler() -> Styler:
    """Render rich style names to ANSI codes, caching the escape pair per style."""
    from rich.color import ColorSystem
    from rich.style import Style

    cache: dict[str, tuple[str, str]] = {}

    def render(text: str, style: str) -> str:
        pair = cache.get(style)
        if pair is None:
            marked = Style.parse(style).render("\0", color_system=ColorSystem.STANDARD)
            start, _, end = marked.partition("\0")
            pair = cache[style] = (start, end)
        return f"{pair[0]}{text}{pair[1]}" if text else text

    return render


class PlainPrinter:
    """Prints finished syscalls, process events and the command's output as they arrive."""

    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        color: bool | None = None,
        explain: bool = True,
    ) -> None:
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        if color is None:
            color = self.out.isatty()
        self.style: Styler = rich_styler() if color else _plain
        self._last_pid: int | None = None
        self._explain = explain
        # Made at the first event, on the session's delivery thread: loading the catalogue then
        # overlaps with the traced command's own start instead of delaying it.
        self._annotator: _Chapters | None = None

    def __call__(self, batch: list[Message]) -> None:
        lines: list[str] = []
        for msg in batch:
            kind = type(msg)
            if kind is SyscallFinished or kind is ProcessEvent:
                self._event(msg.event, lines)  # type: ignore[union-attr]
            elif kind is Started:
                assert isinstance(msg, Started)
                self._note(f"tracing {' '.join(msg.header.command)} (pid {msg.pid}, mode {msg.header.mode})")
            elif kind is Notice:
                assert isinstance(msg, Notice)
                self._note(msg.text)
            elif kind is Ended:
                assert isinstance(msg, Ended)
                r = msg.result
                self._flush(lines)
                self._note(f"done: {r.outcome()}, {r.events} events, {r.stops} stops")
        self._flush(lines)

    def _flush(self, lines: list[str]) -> None:
        if lines:
            self.out.write("".join(lines))
            self.out.flush()
            lines.clear()

    def _note(self, text: str) -> None:
        self.err.write(self.style(f"boxtrace: {text}", "bold") + "\n")
        self.err.flush()

    def _event(self, ev: Event, lines: list[str]) -> None:
        s = self.style
        annotator = self._annotator
        if annotator is None and self._explain:
            annotator = self._annotator = _Chapters()
        note = None
        if annotator is not None:
            heading, note = annotator.annotate(ev)
            if heading is not None:
                lines.append("\n" + s(f"── {heading} ──", "bold reverse") + "\n")
                self._last_pid = None  # name the process again under a new chapter
        if ev.pid != self._last_pid:
            self._last_pid = ev.pid
            ns = f" ({'/'.join(str(p) for p in ev.nspid)})" if ev.nspid and len(ev.nspid) > 1 else ""
            lines.append(s(f"{ev.comm}[{ev.pid}]{ns}", "bold underline") + "\n")
        stamp = f"{ev.time:9.4f} "
        tid = f"<{ev.tid}> " if ev.tid != ev.pid else ""
        cat = ev.category
        lines.append(
            stamp + tid + s(f"{cat:<9}", CATEGORY_STYLES.get(cat, "")) + " " + self.describe(ev) + "\n"
        )
        if note is not None:
            lines.append(s(f"{'':20}↳ {note}", "dim italic") + "\n")

    def describe(self, ev: Event) -> str:
        s = self.style
        if isinstance(ev, SyscallEvent):
            args = ", ".join(a.text for a in ev.args)
            line = s(ev.name, "bold") + f"({args}) = "
            if ev.result_text is None:
                line += "?"
            elif ev.errno:
                line += s(ev.result_text, "red")
            else:
                line += ev.result_text
            if ev.ns_changed:
                line += s("  new " + ", ".join(f"{k}:[{v}]" for k, v in ev.ns_changed.items()), "magenta")
            return line
        if isinstance(ev, SpawnEvent):
            what = "thread" if ev.thread else "process"
            flags = f" [{'|'.join(ev.flags)}]" if ev.flags else ""
            return f"{ev.how} → new {what} {ev.child}{flags}"
        if isinstance(ev, ExecEvent):
            return s(ev.path, "bold") + "  " + " ".join(_shell_word(a) for a in ev.argv)
        if isinstance(ev, ExitEvent):
            if ev.signal:
                return s(f"killed by {ev.signal}", "red")
            return f"exited with {ev.status}"
        if isinstance(ev, OutputEvent):
            return s(f"│ {ev.stream}: ", "dim") + ev.text.rstrip("\n")
        return ev.kind


class NoticePrinter:
    """For a trace that is only recorded (--quiet): warnings and errors on stderr, nothing else."""

    def __init__(self, err: TextIO | None = None) -> None:
        self.err = err if err is not None else sys.stderr

    def __call__(self, batch: list[Message]) -> None:
        for msg in batch:
            if type(msg) is Notice and msg.level != "info":
                self.err.write(f"boxtrace: {msg.text}\n")
                self.err.flush()


class _Chapters:
    """Chapter headings and explanation notes for the plain output (see ``boxtrace.annotate``).

    Events the catalogue can only explain generically (most of what --all adds) get no note, so the
    annotated output stays as readable as the plain one.
    """

    def __init__(self) -> None:
        from boxtrace.annotate import Annotator
        from boxtrace.lessons.explain import note_title

        self._annotator = Annotator()
        # The note is the explanation's title alone: note_title finds it without building the
        # whole explanation (a third of the cost, on the thread that shares the GIL with the trace).
        self._note_title = note_title
        self._phase: str | None = None

    def annotate(self, ev: Event) -> tuple[str | None, str | None]:
        """(the new chapter's name when this event starts one, the event's note)."""
        if isinstance(ev, OutputEvent):
            return None, None
        phase = self._annotator.phase(ev)
        heading = None
        if phase != self._phase:
            self._phase = heading = phase
        if ev.category == "other":  # what --all adds: the catalogue has generic text only
            return heading, None
        return heading, self._note_title(ev)


def _shell_word(arg: str) -> str:
    if arg and all(c.isalnum() or c in "-_./=:,@%+" for c in arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"

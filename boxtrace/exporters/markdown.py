"""Markdown handout: the trace as chapters (one per phase of the container story), each event with its
explanation. Readable on GitHub and printable as it is.

Traced strings (paths, argv, written values, process names) appear only inside fenced code blocks and
code spans, where neither Markdown nor the HTML GitHub allows is interpreted; a fence is made longer
than any backtick run inside it. Consecutive events with the same explanation body (28 bounding-set
drops, a run of cgroup mkdirs) share one explanation, so the handout stays short.
"""

from __future__ import annotations

import itertools
import shlex
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TextIO

from boxtrace.exporters.annotate import (
    Annotated,
    annotate,
    plain_describer,
    process_label,
    write_parts,
)
from boxtrace.lessons.model import Explanation
from boxtrace.tracer.events import Event, TraceHeader

if TYPE_CHECKING:
    from boxtrace.annotate import Classify, Explain

DESCRIPTION = "Markdown handout: chapters by phase, each event with its explanation"


def code_span(text: str) -> str:
    """``text`` as an inline code span that no backtick inside can close."""
    text = text.replace("\n", " ")
    run = _longest_backtick_run(text)
    fence = "`" * (run + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(lines: list[str]) -> str:
    body = "\n".join(lines)
    fence = "`" * max(3, _longest_backtick_run(body) + 1)
    return f"{fence}text\n{body}\n{fence}\n"


def _longest_backtick_run(text: str) -> int:
    if "`" not in text:
        return 0
    best = run = 0
    for c in text:
        run = run + 1 if c == "`" else 0
        best = max(best, run)
    return best


def anchor(phase: str) -> str:
    """GitHub's heading anchor for ``## N. Phase`` headings."""
    return phase.replace(" ", "-")


def _body_key(ex: Explanation) -> tuple[str, str, str, str]:
    return (ex.what, ex.why, ex.without, ex.result or "")


def _explanation_md(ex: Explanation, flag_notes: dict[str, str]) -> list[str]:
    out = [
        f"**{_one_line(ex.title)}**" + (" *(generic: no specific catalogue entry)*" if ex.fallback else ""),
        "",
    ]
    out.append(ex.what)
    if ex.why:
        out += ["", f"*Why:* {ex.why}"]
    if ex.without:
        out += ["", f"*Without it:* {ex.without}"]
    if ex.result:
        out += ["", f"*Result:* {ex.result}"]
    if flag_notes:
        out += [""] + [f"- `{name}`: {meaning}" for name, meaning in flag_notes.items()]
    if ex.runtimes:
        out += ["", f"*runc, crun, Docker:* {ex.runtimes}"]
    refs = []
    if ex.man:
        refs.append("man " + ", ".join(ex.man))
    if ex.entries:
        refs.append("catalogue " + ", ".join(f"`{e}`" for e in ex.entries))
    if refs:
        out += ["", "<sub>" + "; ".join(refs) + "</sub>"]
    out.append("")
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _group_block(group: list[Annotated], describe_event: Callable[[Event], str]) -> str:
    """The calls of one group as a code block: ``#seq`` and the call, under each process's label."""
    if len(group) == 1:  # most groups: code_block of the two lines, without the lists
        ev = group[0].event
        body = f"{process_label(ev)}:\n  #{ev.seq} {describe_event(ev)}"
        fence = "```" if "`" not in body else "`" * max(3, _longest_backtick_run(body) + 1)
        return f"{fence}text\n{body}\n{fence}\n"
    lines = []
    last_pid: int | None = None
    for a in group:
        ev = a.event
        if ev.pid != last_pid:
            lines.append(f"{process_label(ev)}:")
            last_pid = ev.pid
        lines.append(f"  #{ev.seq} {describe_event(ev)}")
    return code_block(lines)


class _Groups:
    """Consecutive events whose explanations say the same form one group, explained once.

    Explanations repeat (the annotator hands out one object per distinct explanation): each one's
    grouping key and its rendering are worked out once, keyed by identity and holding the object so
    that an id cannot be reused while the export runs (hashing a frozen Explanation walks all its
    fields).
    """

    def __init__(self, describe_event: Callable[[Event], str]) -> None:
        self._describe = describe_event
        self._keys: dict[int, tuple[Explanation, tuple[str, ...]]] = {}
        self._texts: dict[int, tuple[Explanation, str]] = {}

    def same(self, ex: Explanation, other: Explanation) -> bool:
        """Whether events explained by ``ex`` and ``other`` belong in one group."""
        return ex is other or self._key(ex) == self._key(other)

    def _key(self, ex: Explanation) -> tuple[str, ...]:
        found = self._keys.get(id(ex))
        if found is None:
            found = self._keys[id(ex)] = (ex, (*_body_key(ex), ex.title.split("(")[0]))
        return found[1]

    def text(self, group: list[Annotated]) -> str:
        ex = group[0].explanation
        if len(group) == 1:
            # Most groups are one event; the same explanation recurs across a trace: render it once.
            found = self._texts.get(id(ex))
            if found is None:
                notes = {f.name: f.meaning for f in ex.flags}
                found = self._texts[id(ex)] = (ex, "\n".join(_explanation_md(ex, notes)))
            explanation = found[1]
        else:
            notes = {}
            for a in group:
                for f in a.explanation.flags:
                    notes.setdefault(f.name, f.meaning)
            explanation = "\n".join(_explanation_md(ex, notes))
        return f"{_group_block(group, self._describe)}\n{explanation}\n"


# Pieces of output gathered before one write: a few large writes instead of one per piece.
_CHUNK = 64


class _Chapters:
    """The handout's body: events in trace order, a heading where the phase changes, groups explained.

    Everything it keeps between events is in its attributes, so that the body can be written in two
    halves (``boxtrace.exporters.split``): the second half starts from what the first left.
    """

    def __init__(self, numbers: dict[str, int] | None = None, current: str | None = None) -> None:
        self.numbers: dict[str, int] = dict(numbers or {})  # phase -> chapter number, as first reached
        self.current = current  # the phase of the latest heading
        self.group: list[Annotated] = []  # the events of the group not written yet
        self._groups = _Groups(plain_describer())

    def feed(self, annotated: Iterable[Annotated], write: Callable[[str], object]) -> None:
        same, text = self._groups.same, self._groups.text
        numbers = self.numbers
        current, group = self.current, self.group
        parts: list[str] = []
        # The trace's order is kept: a phase that recurs later (the set-up of a second container in
        # one trace) gets its heading again, with its number.
        for a in annotated:
            if a.phase != current:
                if group:
                    parts.append(text(group))
                    group = []
                current = a.phase
                number = numbers.get(current)
                if number is None:
                    number = numbers[current] = len(numbers) + 1
                parts.append(f"\n## {number}. {current.capitalize()}\n\n")
            elif group and not same(group[0].explanation, a.explanation):
                parts.append(text(group))
                group = []
                if len(parts) >= _CHUNK:
                    write_parts(write, parts)
                    parts.clear()
            group.append(a)
        self.current, self.group = current, group
        write_parts(write, parts)

    def finish(self, write: Callable[[str], object]) -> None:
        """Write the last group."""
        if self.group:
            write(self._groups.text(self.group))
            self.group = []

    def last_group_start(self, annotated: list[Annotated]) -> int:
        """Where the last group of ``annotated`` begins: consecutive events of one phase whose
        explanations say the same are one group (``same`` is an equivalence, so the group is the
        longest such run at the end)."""
        i = len(annotated)
        if i:
            last = annotated[-1]
            same = self._groups.same
            while (
                i > 1
                and annotated[i - 2].phase == last.phase
                and same(last.explanation, annotated[i - 2].explanation)
            ):
                i -= 1
            i -= 1
        return i


def phase_counts(annotated: Iterable[Annotated]) -> dict[str, int]:
    """Events per phase, the phases in the order the trace reaches them."""
    counts: dict[str, int] = {}
    for a in annotated:
        counts[a.phase] = counts.get(a.phase, 0) + 1
    return counts


def write_head(header: TraceHeader, counts: dict[str, int], out: TextIO) -> None:
    """The title, the trace's facts and the list of chapters, numbered in the order the trace
    reaches them (normally the story's order, PHASES)."""
    command = shlex.join(header.command)
    out.write("# How this container was made, one system call at a time\n\n")
    out.write(f"Trace of {code_span(command)}\n\n")
    out.write("| | |\n| --- | --- |\n")
    for label, value in (
        ("recorded", header.start_time),
        ("kernel", f"{header.kernel} ({header.arch})"),
        ("boxtrace", f"{header.boxtrace_version}, trace format {header.version}, mode {header.mode}"),
        ("events", str(sum(counts.values()))),
    ):
        out.write(f"| {label} | {code_span(value)} |\n")
    out.write("\n## Chapters\n\n")
    for number, (phase, count) in enumerate(counts.items(), 1):
        out.write(f"{number}. [{phase.capitalize()}](#{number}-{anchor(phase)}) — {count} events\n")
    out.write(
        "\nEach chapter lists the calls as `boxtrace trace` printed them (`#seq` first), then what they do,"
        " why a container runtime makes them and what would go wrong without them.\n"
    )


def export(
    header: TraceHeader,
    events: Iterable[Event],
    out: TextIO,
    explain: Explain | None = None,
    classify: Classify | None = None,
) -> None:
    annotated = list(annotate(events, explain, classify))
    write_head(header, phase_counts(annotated), out)
    body = _Chapters()
    body.feed(annotated, out.write)
    body.finish(out.write)


class Halves:
    """The handout in two halves (``boxtrace.exporters.split``). The heading counts the events of
    both, so the first half's text is kept until the second's counts are known. The first half's
    last group may go on in the second: it is handed over unwritten, with the phase before it."""

    keeps_sources = False
    max_bytes: int | None = None  # one process holds the whole trace too

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._body = _Chapters()
        self._cut = 0
        self._parts: list[str] = []

    def hand_over(self, first: list[Annotated]) -> tuple[dict[str, int], str | None, list[Annotated]]:
        self._counts = phase_counts(first)
        self._cut = cut = self._body.last_group_start(first)
        numbers = {phase: number for number, phase in enumerate(self._counts, 1)}
        return numbers, first[cut - 1].phase if cut else None, first[cut:]

    def render_first(self, header: TraceHeader, first: list[Annotated], out: TextIO) -> None:
        self._body.feed(first[: self._cut], self._parts.append)
        self._body.finish(self._parts.append)

    def tally(self, second: list[Annotated]) -> dict[str, int]:
        return phase_counts(second)

    def write_first(self, header: TraceHeader, tally: dict[str, int], out: TextIO) -> None:
        counts = self._counts
        for phase, count in tally.items():
            counts[phase] = counts.get(phase, 0) + count
        write_head(header, counts, out)
        for part in self._parts:
            out.write(part)
        self._parts.clear()

    def render_second(
        self, state: tuple[dict[str, int], str | None, list[Annotated]], second: list[Annotated], out: TextIO
    ) -> None:
        numbers, current, group = state
        body = _Chapters(numbers, current)
        body.feed(itertools.chain(group, second), out.write)
        body.finish(out.write)

    def finish(self, header: TraceHeader, second: None, out: TextIO, copy_second: Callable[[], None]) -> None:
        copy_second()

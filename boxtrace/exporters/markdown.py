"""Markdown handout: the trace as chapters (one per phase of the container story), each event with its
explanation. Readable on GitHub and printable as it is.

Traced strings (paths, argv, written values, process names) appear only inside fenced code blocks and
code spans, where neither Markdown nor the HTML GitHub allows is interpreted; a fence is made longer
than any backtick run inside it. Consecutive events with the same explanation body (28 bounding-set
drops, a run of cgroup mkdirs) share one explanation, so the handout stays short.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from typing import TextIO

from boxtrace.exporters.annotate import (
    Annotated,
    Classify,
    Explain,
    annotate,
    plain_describer,
    process_label,
)
from boxtrace.lessons.model import Explanation
from boxtrace.tracer.events import Event, TraceHeader

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


def export(
    header: TraceHeader,
    events: Iterable[Event],
    out: TextIO,
    explain: Explain | None = None,
    classify: Classify | None = None,
) -> None:
    annotated = list(annotate(events, explain, classify))
    # Chapters are numbered in the order the trace reaches them (normally the story's order, PHASES).
    counts: dict[str, int] = {}
    for a in annotated:
        counts[a.phase] = counts.get(a.phase, 0) + 1
    numbers = {phase: i for i, phase in enumerate(counts, 1)}
    headings = {phase: f"\n## {number}. {phase.capitalize()}\n\n" for phase, number in numbers.items()}
    command = shlex.join(header.command)
    out.write("# How this container was made, one system call at a time\n\n")
    out.write(f"Trace of {code_span(command)}\n\n")
    out.write("| | |\n| --- | --- |\n")
    for label, value in (
        ("recorded", header.start_time),
        ("kernel", f"{header.kernel} ({header.arch})"),
        ("boxtrace", f"{header.boxtrace_version}, trace format {header.version}, mode {header.mode}"),
        ("events", str(len(annotated))),
    ):
        out.write(f"| {label} | {code_span(value)} |\n")
    out.write("\n## Chapters\n\n")
    for phase, number in numbers.items():
        out.write(f"{number}. [{phase.capitalize()}](#{number}-{anchor(phase)}) — {counts[phase]} events\n")
    out.write(
        "\nEach chapter lists the calls as `boxtrace trace` printed them (`#seq` first), then what they do,"
        " why a container runtime makes them and what would go wrong without them.\n"
    )
    groups = _Groups(plain_describer())
    same, text = groups.same, groups.text
    parts: list[str] = []
    # The trace's order is kept: a phase that recurs later (the set-up of a second container in one
    # trace) gets its heading again, with its number.
    current: str | None = None
    group: list[Annotated] = []
    for a in annotated:
        if a.phase != current:
            if group:
                parts.append(text(group))
                group = []
            current = a.phase
            parts.append(headings[current])
        elif not same(group[0].explanation, a.explanation):
            parts.append(text(group))
            group = []
            if len(parts) >= _CHUNK:
                out.write("".join(parts))
                parts.clear()
        group.append(a)
    if group:
        parts.append(text(group))
    out.write("".join(parts))

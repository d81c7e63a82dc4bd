"""``boxtrace diff``'s report of a :class:`~boxtrace.lessons.diff.TraceDiff`: text (plain or
coloured), Markdown, HTML and JSON. The comparison itself is ``boxtrace.lessons.diff``'s."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterator
from typing import Any

from boxtrace.lessons.diff import (
    CHANGED,
    MARK,
    ONLY_A,
    ONLY_B,
    SAME,
    LeftOut,
    Row,
    Step,
    TraceDiff,
    change_text,
)
from boxtrace.lessons.model import PHASES

Styler = Callable[[str, str], str]
TOP = 5  # steps named in each part of the summary
STYLE = {ONLY_A: "red", ONLY_B: "green", CHANGED: "yellow", SAME: "dim"}


def _plain(text: str, style: str) -> str:
    return text


def row_changes(row: Row) -> str:
    return "; ".join(change_text(*c) for c in row.changes())


class Group:
    """Consecutive rows of one kind that differ only in their item (11 × PR_CAPBSET_DROP): one line."""

    __slots__ = ("rows",)

    def __init__(self, row: Row) -> None:
        self.rows = [row]

    @property
    def first(self) -> Row:
        return self.rows[0]

    def label(self) -> str:
        step = self.first.step
        if len(self.rows) == 1:
            return step.label
        if not step.item:
            return f"{step.base} ×{len(self.rows)}"
        items = ", ".join(r.step.item for r in self.rows)
        return f"{step.base} ×{len(self.rows)}: {items}"

    def takes(self, row: Row) -> bool:
        first = self.first
        return (
            row.kind == first.kind
            and row.kind in (ONLY_A, ONLY_B)
            and not row.moved
            and not first.moved
            and (row.step.item == "") == (first.step.item == "")
            and row.step.base == first.step.base
            and row.step.title == first.step.title
            and row.left_out == first.left_out
        )


def listed(rows: list[Row], diff: TraceDiff) -> Iterator[tuple[LeftOut | None, Group]]:
    """The groups a phase lists, a left-out step's differences gathered under its marker's row
    (they may be apart in the phase, or in another phase: they are listed where the marker is)."""
    marked = {lo.marker.step.item: lo for lo in diff.left_out()}
    for group in groups(rows):
        row = group.first
        if row.left_out is None:
            yield None, group
        elif row.step.left_out is not None and row.left_out in marked:
            left_out = marked[row.left_out]
            yield left_out, group
            for inner in groups(left_out.rows):
                if inner.first is not row:
                    yield left_out, inner


def groups(rows: list[Row]) -> Iterator[Group]:
    """The rows a report lists (not those the same in both, in place), runs of like steps grouped."""
    current: Group | None = None
    for row in rows:
        if row.kind == SAME and not row.moved:
            continue
        if current is not None and current.takes(row):
            current.rows.append(row)
            continue
        if current is not None:
            yield current
        current = Group(row)
    if current is not None:
        yield current


def _kind_name(kind: str, diff: TraceDiff, left_out: str | None = None) -> str:
    if left_out is not None:
        return f"left out: {left_out}"
    return {
        ONLY_A: f"only in {diff.name_a}",
        ONLY_B: f"only in {diff.name_b}",
        CHANGED: "other arguments",
        SAME: "the same",
    }[kind]


def _summary_items(rows: list[Row], top: int) -> list[str]:
    """The ``top`` most important of ``rows`` (ranked), like steps counted once: "×49"."""
    seen: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        step = row.step
        changes = row_changes(row) if row.kind == CHANGED else ""
        seen.setdefault((step.title or step.base, step.phase, changes), []).append(row)
    out = []
    for (title, phase, changes), like in list(seen.items())[:top]:
        count = f" ×{len(like)}" if len(like) > 1 else ""
        items = [r.step.item for r in like if r.step.item]
        shown = ", ".join(items[:4]) + (", ..." if len(items) > 4 else "")
        text = title + count + (f" ({shown})" if shown and len(like) > 1 else "")
        if changes:
            text += f": {changes}"
        out.append(f"{text} [{phase}]")
    return out


def summary_lines(diff: TraceDiff, top: int = TOP) -> list[tuple[str, list[str]]]:
    """The summary: a sentence per kind of difference, with its most important steps."""
    if diff.identical:
        return [("no difference: the two traces make the same steps with the same arguments", [])]
    out: list[tuple[str, list[str]]] = []
    left_out = diff.left_out()
    if left_out:
        n = len(left_out)
        head = f"{n} step{'s' if n != 1 else ''} left out on purpose (boxtrace run --without):"
        out.append((head, [left_out_text(lo, diff) for lo in left_out]))
    for kind, this, other in ((ONLY_B, diff.name_b, diff.name_a), (ONLY_A, diff.name_a, diff.name_b)):
        rows = diff.ranked(kind)
        if rows:
            n = len(rows)
            head = f"{this} also does {n} thing{'s' if n != 1 else ''} {other} does not"
            out.append((_with_top(head, n, top), _summary_items(rows, top)))
    changed = diff.ranked(CHANGED)
    if changed:
        n = len(changed)
        head = f"{n} step{'s are' if n != 1 else ' is'} the same with other arguments"
        out.append((_with_top(head, n, top), _summary_items(changed, top)))
    same = diff.rows(SAME)
    moved = sum(1 for r in diff.rows() if r.moved)
    tail = f" ({moved} done in another order)" if moved else ""
    out.append((f"{len(same)} step{'s are' if len(same) != 1 else ' is'} the same in both{tail}", []))
    return out


def left_out_text(lo: LeftOut, diff: TraceDiff) -> str:
    """``left out: caps by B: 29 calls not made (prctl PR_CAPBSET_DROP ×27, capset, ...)``."""
    side = diff.name_a if lo.side == "a" else diff.name_b
    text = f"left out: {lo.step} by {side}"
    missing = lo.missing()
    if missing:
        text += f": {len(missing)} call{'s' if len(missing) != 1 else ''} not made ({_labels(missing)})"
    else:
        text += ": no call of the other side is missing"
    instead = lo.instead()
    if instead:
        text += f"; instead: {_labels(instead)}"
    return f"{text} [{lo.phase}]"


def _labels(rows: list[Row]) -> str:
    counted: dict[str, int] = {}
    for row in rows:
        label = row.step.base if row.step.item and row.kind != CHANGED else row.step.label
        counted[label] = counted.get(label, 0) + 1
    return ", ".join(f"{label} ×{n}" if n > 1 else label for label, n in counted.items())


def _with_top(head: str, n: int, top: int) -> str:
    if n <= 1:
        return head + ":"
    return head + (f"; the {top} that matter most:" if n > top else "; by importance:")


def _counts(diff: TraceDiff, rows: list[Row]) -> str:
    parts = []
    for kind in (SAME, ONLY_A, ONLY_B, CHANGED):
        n = sum(1 for r in rows if r.kind == kind and r.left_out is None)
        if n:
            parts.append(f"{n} {_kind_name(kind, diff)}")
    for name in dict.fromkeys(r.left_out for r in rows if r.left_out is not None):
        n = sum(1 for r in rows if r.left_out == name and r.step.left_out is None)
        parts.append(f"left out: {name} ({n} difference{'s' if n != 1 else ''})")
    return ", ".join(parts)


def render_text(diff: TraceDiff, sources: tuple[str, str], style: Styler = _plain) -> str:
    lines = [
        style(f"A: {diff.name_a}", "bold red") + f"  {sources[0]}",
        style(f"B: {diff.name_b}", "bold green") + f"  {sources[1]}",
        "",
    ]
    for head, items in summary_lines(diff):
        lines.append(style(head, "bold"))
        lines += [f"  • {item}" for item in items]
    if diff.identical:
        return "\n".join(lines) + "\n"
    lines += [
        "",
        f"- only in {diff.name_a}   + only in {diff.name_b}   ~ other arguments   ↕ in another order"
        + ("   ! left out on purpose" if diff.left_out() else ""),
    ]
    for phase in diff.phases:
        number = PHASES.index(phase.phase) + 1
        lines += ["", style(f"── {number}. {phase.phase} ── {_counts(diff, phase.rows)}", "bold reverse")]
        for left_out, group in listed(phase.rows, diff):
            row = group.first
            if row.step.left_out is not None:
                lines.append(style(f"!  left out: {row.step.left_out}", "bold magenta"))
                lines.append(style(f"     ↳ {row.step.title}", "dim italic"))
                continue
            indent = "   " if left_out is not None else ""
            mark = MARK[row.kind] + ("↕" if row.moved else " ")
            lines.append(indent + style(f"{mark} {group.label()}", STYLE[row.kind]))
            if row.kind == CHANGED:
                lines.append(f"{indent}     {row_changes(row)}")
            title = row.step.title
            if title:
                lines.append(indent + style(f"     ↳ {title}", "dim italic"))
    return "\n".join(lines) + "\n"


def render_markdown(diff: TraceDiff, sources: tuple[str, str]) -> str:
    def code(text: str) -> str:
        return "`" + text.replace("`", "'") + "`"

    lines = [
        f"# {diff.name_a} vs {diff.name_b}",
        "",
        f"- **A**: {diff.name_a} ({code(sources[0])})",
        f"- **B**: {diff.name_b} ({code(sources[1])})",
        "",
    ]
    for head, items in summary_lines(diff):
        lines += [f"**{head}**", ""]
        lines += [f"1. {item}" for item in items]
        if items:
            lines.append("")
    if diff.identical:
        return "\n".join(lines)
    for phase in diff.phases:
        lines += [f"## {PHASES.index(phase.phase) + 1}. {phase.phase}", "", _counts(diff, phase.rows), ""]
        shown = list(listed(phase.rows, diff))
        if not shown:
            continue
        lines += ["| | step | difference | explanation |", "| --- | --- | --- | --- |"]
        for left_out, group in shown:
            row = group.first
            mark = _row_mark(row, diff, left_out)
            diff_text = code(row_changes(row)) if row.kind == CHANGED else ""
            cells = [mark, code(group.label()), diff_text, row.step.title.replace("|", "\\|")]
            lines.append("| " + " | ".join(c.replace("\n", " ") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _row_mark(row: Row, diff: TraceDiff, left_out: LeftOut | None) -> str:
    """The first column of md/html: ``left out: caps`` for the marker, ``only in A (left out: caps)``
    for the differences in its place."""
    if row.step.left_out is not None:
        return f"left out: {row.step.left_out}"
    mark = _kind_name(row.kind, diff) + (", moved" if row.moved else "")
    return mark + (f" (left out: {left_out.step})" if left_out is not None else "")


_CSS = """body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.25rem .5rem;
text-align:left;vertical-align:top}code{font-size:.9em}.only_a{color:#a00}.only_b{color:#070}
.changed{color:#850}.same{color:#666}"""


def render_html(diff: TraceDiff, sources: tuple[str, str]) -> str:
    e = html.escape
    title = f"{diff.name_a} vs {diff.name_b}"
    out = [
        "<!doctype html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p><b>A</b>: {e(diff.name_a)} (<code>{e(sources[0])}</code>)<br>"
        f"<b>B</b>: {e(diff.name_b)} (<code>{e(sources[1])}</code>)</p>",
    ]
    for head, items in summary_lines(diff):
        out.append(f"<p><b>{e(head)}</b></p>")
        if items:
            out.append("<ol>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ol>")
    if not diff.identical:
        for phase in diff.phases:
            out.append(f"<h2>{PHASES.index(phase.phase) + 1}. {e(phase.phase)}</h2>")
            out.append(f"<p>{e(_counts(diff, phase.rows))}</p>")
            shown = list(listed(phase.rows, diff))
            if not shown:
                continue
            out.append("<table><tr><th></th><th>step</th><th>difference</th><th>explanation</th></tr>")
            for left_out, group in shown:
                row = group.first
                mark = _row_mark(row, diff, left_out)
                changes = row_changes(row) if row.kind == CHANGED else ""
                out.append(
                    f'<tr class="{row.kind}"><td>{e(mark)}</td><td><code>{e(group.label())}</code></td>'
                    f"<td><code>{e(changes)}</code></td><td>{e(row.step.title)}</td></tr>"
                )
            out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _step_json(step: Step | None) -> dict[str, Any] | None:
    if step is None:
        return None
    return {
        "seq": step.event.seq,
        "pid": step.event.pid,
        "syscall": step.event.name,
        "label": step.label,
        "category": step.category,
        "title": step.title,
        "key": list(step.key),
        "variant": dict(step.variant),
    }


def render_json(diff: TraceDiff, sources: tuple[str, str]) -> str:
    data = {
        "a": {"name": diff.name_a, "trace": sources[0]},
        "b": {"name": diff.name_b, "trace": sources[1]},
        "identical": diff.identical,
        "left_out": [
            {
                "step": lo.step,
                "side": lo.side,
                "phase": lo.phase,
                "title": lo.marker.step.title,
                "missing": [r.step.label for r in lo.missing()],
                "instead": [r.step.label for r in lo.instead()],
            }
            for lo in diff.left_out()
        ],
        "summary": [{"text": head, "top": items} for head, items in summary_lines(diff)],
        "phases": [
            {
                "phase": phase.phase,
                "rows": [
                    {
                        "kind": row.kind,
                        "moved": row.moved,
                        "left_out": row.left_out,
                        "a": _step_json(row.a),
                        "b": _step_json(row.b),
                        "changes": [{"field": f, "a": a, "b": b} for f, a, b in row.changes()],
                    }
                    for row in phase.rows
                ],
            }
            for phase in diff.phases
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


RENDERERS: dict[str, Callable[[TraceDiff, tuple[str, str]], str]] = {
    "md": render_markdown,
    "html": render_html,
    "json": render_json,
}

"""The diff view (`boxtrace diff --tui`): two traces aligned, the explanations follow the selection."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Label, Markdown

from boxtrace.lessons.diff import ONLY_A, SAME, Row, diff_traces
from boxtrace.tracer.tracefile import read_trace
from boxtrace.tui.diff_screen import DiffApp, DiffHelpScreen, DiffList, DiffScreen
from tests.tui.helpers import TRACE

pytestmark = pytest.mark.asyncio
SIZE = (160, 48)


def _without_hostname(tmp_path: Path) -> str:
    path = tmp_path / "other.jsonl"
    lines = [ln for ln in TRACE.read_text().splitlines() if '"name":"sethostname"' not in ln]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


async def test_pairs_are_aligned_and_n_jumps_to_the_difference(tmp_path: Path) -> None:
    other = _without_hostname(tmp_path)
    diff = diff_traces(read_trace(str(TRACE)), read_trace(other), ("before", "after"))
    app = DiffApp(diff, (str(TRACE), other))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen)
        listing = app.screen.query_one(DiffList)
        rows = [line for line in listing.lines if isinstance(line, Row)]
        # Every step of A is on a line with its twin in B, except the missing one.
        assert [r.kind for r in rows if r.kind != SAME] == [ONLY_A]
        first = listing.row()
        assert first is not None and first.kind == SAME
        await pilot.press("n")
        await pilot.pause()
        selected = listing.row()
        assert selected is not None and selected.kind == ONLY_A
        assert selected.a is not None and selected.a.event.name == "sethostname"
        change = app.screen.query_one("#diff-change", Label)
        assert "only in before" in str(change.render())
        pane_a = app.screen.query_one("#diff-explain-a", Markdown)
        pane_b = app.screen.query_one("#diff-explain-b", Markdown)
        assert "hostname" in pane_a.source
        assert "no such step" in pane_b.source
        await pilot.press("down")
        await pilot.pause()
        after = listing.row()
        assert after is not None and after is not selected
        assert after.a is not None and after.a.event.name in pane_a.source
        await pilot.press("q")


async def test_identical_traces_open_with_every_line_the_same() -> None:
    trace = read_trace(str(TRACE))
    app = DiffApp(diff_traces(trace, trace), (str(TRACE), str(TRACE)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        listing = app.screen.query_one(DiffList)
        rows = [line for line in listing.lines if isinstance(line, Row)]
        assert rows and all(r.kind == SAME for r in rows)
        await pilot.press("n")  # nothing to jump to: stays
        await pilot.pause()
        assert listing.row() is rows[0]


async def test_question_mark_lists_the_keys_and_marks() -> None:
    trace = read_trace(str(TRACE))
    app = DiffApp(diff_traces(trace, trace, ("before", "after")), (str(TRACE), str(TRACE)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, DiffHelpScreen)
        text = app.screen.query_one(Markdown).source
        assert "| `n` | Next difference |" in text and "| `p` | Previous difference |" in text
        assert "| `-` | only in A (before) |" in text and "| `+` | only in B (after) |" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen)

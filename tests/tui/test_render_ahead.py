"""Rendering ahead: once a step is painted, the app renders what the likely next key shows (repeating
the last move: a page, a phase, a search again; then a step each way), so that key paints from
caches: the list's rows, the explanation and the side panes. And what is rendered ahead is what the
widgets would have rendered themselves."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import Static

from boxtrace.tui import panes
from boxtrace.tui.app import BoxtraceApp, ReplaySource
from boxtrace.tui.event_list import EventList
from boxtrace.tui.explanation_view import ExplanationView
from boxtrace.tui.panes import explanation_markdown
from boxtrace.tui.text_pane import TextPane
from tests.tui.helpers import recorded

pytestmark = pytest.mark.asyncio

SIZE = (160, 48)


def replay_app() -> BoxtraceApp:
    header, events = recorded()
    return BoxtraceApp("replay", replay=ReplaySource(header=header, events=events))


async def settle(pilot: Pilot[int]) -> None:
    for _ in range(6):  # the paint, then one render ahead per callback
        await pilot.pause()


@pytest.mark.parametrize(
    ("key", "kind"),
    [("pagedown", "page"), ("N", "phase"), ("n", "step"), ("backspace", "step")],
)
async def test_repeating_a_move_paints_from_what_was_rendered_ahead(key: str, kind: str) -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", "n", "n", "n")  # room for a step back
        await pilot.press(key)
        await settle(pilot)
        assert app.last_move[0] == kind
        # Renders on the key's own path: the explanation while the key is handled, the rows while
        # the list is painted (what is rendered ahead after the paint, for the key after, is not).
        misses = {"rows": 0, "explanation": 0}
        inside = {"key": False, "paint": False}
        events = app.query_one(EventList)
        view = app.query_one(ExplanationView)
        render_row, render_line, render_blocks = events._render_row, events.render_line, view._render_blocks

        def row(*args: object) -> Strip:
            misses["rows"] += inside["paint"]
            return render_row(*args)  # type: ignore[arg-type]

        def line(y: int) -> Strip:
            inside["paint"] = True
            try:
                return render_line(y)
            finally:
                inside["paint"] = False

        def blocks(markdown: str, width: int) -> list[Strip]:
            misses["explanation"] += inside["key"]
            return render_blocks(markdown, width)

        events._render_row = row  # type: ignore[method-assign,assignment]
        events.render_line = line  # type: ignore[method-assign]
        view._render_blocks = blocks  # type: ignore[method-assign]
        keys = {"pagedown": app.event_list.action_page, "N": app.action_phase}
        before = app.cursor
        inside["key"] = True
        if key in keys:
            keys[key](1)
        elif key == "n":
            app.action_step()
        else:
            app.action_step_back()
        inside["key"] = False
        assert app.cursor != before
        await pilot.pause()  # the paint of the key
        assert app.shown["events"] == app.cursor
        assert misses == {"rows": 0, "explanation": 0}


async def test_the_side_panes_of_the_likeliest_step_are_rendered_ahead() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("pagedown")
        await settle(pilot)
        target = app.event_list.page_target(1)
        assert target is not None
        world = app.timeline.at(target)
        event = app.model.events[target]
        texts = {
            "#processes": panes.process_tree(world, event.pid),
            "#mounts": panes.derived_mounts(world),
            "#cgroups": panes.cgroups(world),
        }
        for selector, text in texts.items():
            pane = app.query_one(selector, TextPane)
            ahead = pane.prepared(text)
            assert ahead is not None, selector
            # What textual renders for the pane's Static when it shows the text, without the cache.
            pane.show(text)
            Static._render_content(pane)
            assert pane._render_cache.lines == ahead, selector


async def test_a_search_again_has_its_next_match_rendered_ahead() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"mount", "enter")
        await settle(pilot)
        assert app.last_move == ("search", 1)
        hit = app.model.search("mount", app.cursor, 1)
        assert hit is not None and hit != app.cursor
        view = app.query_one(ExplanationView)
        markdown = explanation_markdown(
            app.model.events[hit], app.model.phase_name(hit), held=False, explainer=app.explainer
        )
        assert view.prepared(markdown)

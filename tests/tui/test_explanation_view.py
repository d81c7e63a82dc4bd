"""The explanation pane (ExplanationView): it follows each key in the same paint as the list, shows
the current step's text from its title, and has the neighbouring steps' texts rendered ahead; and the
garbage collector's tuning while a complete trace is shown."""

from __future__ import annotations

import gc

import pytest
from textual.pilot import Pilot

from boxtrace.tui.app import GC_YOUNG_THRESHOLD, BoxtraceApp, ReplaySource
from boxtrace.tui.explanation_view import ExplanationView
from boxtrace.tui.panes import explanation_markdown
from tests.tui.helpers import recorded

pytestmark = pytest.mark.asyncio

SIZE = (160, 48)


def replay_app() -> BoxtraceApp:
    header, events = recorded()
    return BoxtraceApp("replay", replay=ReplaySource(header=header, events=events))


def markdown_at(app: BoxtraceApp, index: int) -> str:
    return explanation_markdown(
        app.model.events[index], app.model.phase_name(index), held=False, explainer=app.explainer
    )


async def settle(pilot: Pilot[int]) -> None:
    await pilot.pause()
    await pilot.pause()  # the neighbours are prepared after the paint


async def test_every_pane_is_brought_up_to_date_by_the_key_itself() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.query_one(ExplanationView)
        actions = (
            app.action_step,
            app.action_step,
            lambda: app.action_phase(1),
            app.action_step_back,
            lambda: app.event_list.action_page(1),
            lambda: app.event_list.action_move(1),
        )
        for action in actions:
            before = app.cursor
            action()
            # Checked before anything else runs: no pane waits for a later frame, so all show the
            # key's step in the paint that shows the list.
            assert app.cursor != before
            assert app.shown == dict.fromkeys(app.shown, app.cursor)
            assert set(app.shown) == {"events", "explanation", "processes", "mounts", "cgroups", "output"}
            assert view.markdown == markdown_at(app, app.cursor)
            await pilot.pause()


async def test_the_steps_around_the_current_one_are_rendered_ahead() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n")
        await settle(pilot)
        view = app.query_one(ExplanationView)
        assert view.prepared(markdown_at(app, app.cursor + 1))
        assert view.prepared(markdown_at(app, app.cursor - 1))
        assert not view.prepared(markdown_at(app, app.cursor + 2))


async def test_a_new_step_shows_its_explanation_from_the_title() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.query_one(ExplanationView)
        # A step whose explanation is taller than the pane: scroll it, then step on.
        for _ in range(len(app.model)):
            if view.max_scroll_y > 0:
                break
            await pilot.press("n")
        assert view.max_scroll_y > 0, "no explanation in the recording is taller than the pane"
        view.scroll_to(y=view.max_scroll_y, animate=False, immediate=True)
        await pilot.pause()
        assert view.scroll_y > 0
        await pilot.press("n")
        assert view.scroll_y == 0
        # The scrollbar took its columns: the text is as wide as a Static's beside it.
        lines = [strip.text for strip in view._strips]
        assert len(lines) == view.virtual_size.height
        assert all(len(line) == view.scrollable_content_region.width for line in lines)


async def test_the_collector_is_tuned_while_the_replay_is_shown_and_handed_back_after() -> None:
    before = gc.get_threshold()
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.loaded
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before

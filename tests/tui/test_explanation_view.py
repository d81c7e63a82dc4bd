"""The explanation pane (ExplanationView): it follows each key in the same paint as the list, shows
the current step's text from its title, and has the neighbouring steps' texts rendered ahead; renders
paragraph by paragraph what rich would render whole; and the garbage collector's tuning while a
complete trace is shown."""

from __future__ import annotations

import gc

import pytest
from rich.markdown import Markdown
from textual.pilot import Pilot
from textual.strip import Strip

from boxtrace.tui.app import GC_YOUNG_THRESHOLD, BoxtraceApp, ReplaySource
from boxtrace.tui.explanation_view import ExplanationView, _Markdown
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


async def test_paragraphs_rendered_one_by_one_make_the_lines_of_the_whole_text() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.query_one(ExplanationView)
        texts = {
            explanation_markdown(event, app.model.phase_name(i), held=held, explainer=app.explainer)
            for i, event in enumerate(app.model.events)
            for held in (False, True)
        }
        checked = 0
        for text in sorted(texts):
            for width in (24, 61):
                assert view._render_blocks(text, width) == view._render_markdown(text, width), text
                checked += 1
        assert checked > 200


async def test_a_text_that_differs_in_one_paragraph_renders_only_that_paragraph() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.query_one(ExplanationView)
        text = markdown_at(app, 3)
        view._render_blocks(text, 50)
        rendered: list[str] = []
        render = view._render_markdown

        def counting(markdown: str, width: int) -> list[Strip]:
            rendered.append(markdown)
            return render(markdown, width)

        view._render_markdown = counting  # type: ignore[method-assign]
        event = app.model.events[3]
        other = text.replace(f"#{event.seq} ", f"#{event.seq + 100000} ")
        assert other != text
        view._render_blocks(other, 50)
        assert len(rendered) == 1 and f"#{event.seq + 100000}" in rendered[0]


async def test_a_text_clearly_shorter_or_taller_than_the_pane_is_rendered_at_one_width() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.query_one(ExplanationView)
        widths: list[int] = []
        strips_at = view._strips_at

        def counting(markdown: str, width: int) -> list[Strip]:
            widths.append(width)
            return strips_at(markdown, width)

        view._strips_at = counting  # type: ignore[method-assign]
        wide = view.size.width - 2
        short = "## A title\n\nOne short paragraph."
        tall = "\n\n".join(f"Paragraph {i}, long enough to wrap: " + "word " * 40 for i in range(20))
        narrow = wide - view.styles.scrollbar_size_vertical
        for text, last_needed_scrollbar, width in ((short, True, wide), (tall, False, narrow)):
            view._narrow = last_needed_scrollbar  # the last text's, the opposite of this one's
            widths.clear()
            strips = view._fit(text)
            assert widths == [width]
            assert (len(strips) > view.size.height) == (text is tall)


async def test_the_shared_parser_markdown_sets_what_rich_sets() -> None:
    text = "## Title\n\n**bold** `code`\n\n- a\n- b"
    ours, richs = _Markdown(text), Markdown(text)
    assert vars(ours).keys() == vars(richs).keys()
    assert {k: v for k, v in vars(ours).items() if k != "parsed"} == {
        k: v for k, v in vars(richs).items() if k != "parsed"
    }
    assert [(t.type, t.content) for t in ours.parsed] == [(t.type, t.content) for t in richs.parsed]


async def test_a_step_repaints_only_the_explanation_lines_that_differ() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.query_one(ExplanationView)
        height = view.size.height
        for _ in range(len(app.model) - 1):
            before = view._strips[:height]
            app.action_step()
            after = view._strips[:height]
            top = view.content_offset.y  # the regions are the widget's, inside its border
            repainted = sorted(region.y - top for region in view._repaint_regions)
            if view.scroll_offset.y == 0 and 0 < len(repainted) < height and len(before) == len(after):
                break
            await settle(pilot)
        else:
            pytest.fail("no step in the recording shares lines with the one before")
        assert repainted == [y for y in range(len(after)) if before[y] != after[y]]
        await pilot.pause()
        # What the terminal shows: the new text, the lines that were not repainted included.
        screen = [strip.text for strip in app.screen._compositor.render_strips()]
        region = view.content_region
        shown = [
            screen[y][region.x : region.x + after[0].cell_length]
            for y in range(region.y, region.y + len(after))
        ]
        assert shown == [strip.text for strip in after]


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

"""The app over a recorded trace, driven with Pilot: stepping, phases, search, filter, breakpoints,
export, help and the key map."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import Input, SelectionList

from boxtrace.tracer.events import SyscallEvent
from boxtrace.tracer.tracefile import read_trace
from boxtrace.tui.app import BoxtraceApp, ReplaySource
from boxtrace.tui.options import TuiOptions
from boxtrace.tui.screens import FilterScreen, HelpScreen
from tests.tui.helpers import TRACE, recorded

pytestmark = pytest.mark.asyncio

SIZE = (160, 48)


def replay_app(options: TuiOptions | None = None, from_file: bool = False) -> BoxtraceApp:
    if from_file:
        return BoxtraceApp("replay", options, replay=ReplaySource(path=str(TRACE)))
    header, events = recorded()
    return BoxtraceApp("replay", options, replay=ReplaySource(header=header, events=events))


def index_of(app: BoxtraceApp, name: str) -> int:
    return next(i for i, e in enumerate(app.model.events) if isinstance(e, SyscallEvent) and e.name == name)


async def test_replay_loads_the_file_on_a_thread_and_starts_at_the_first_event() -> None:
    app = replay_app(from_file=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert app.loaded and len(app.model) == len(recorded()[1])
        assert app.cursor == 0
        assert app.header is not None and app.header.command[-1] == "echo CONTAINER-RAN"


async def test_step_forward_and_backward_moves_through_recorded_events() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for _ in range(3):
            await pilot.press("n")
        await pilot.press("space")
        assert app.cursor == 4
        await pilot.press("backspace", "backspace")
        assert app.cursor == 2
        # the list marks the future: rows after the cursor are dim, so the widget knows where
        assert app.event_list.future_from == 3


async def test_a_step_repaints_only_the_two_rows_that_changed_and_the_screen_shows_the_move() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        events = app.event_list
        top = events.scroll_offset.y
        app.action_step()
        assert events.scroll_offset.y == top  # no scroll: the rows stay where they are
        repainted = events._repaint_regions
        assert len(repainted) == 2 and all(region.height == 1 for region in repainted)
        await pilot.pause()
        # What the terminal shows: the cursor's mark on the new row, gone from the old one.
        screen = [strip.text for strip in app.screen._compositor.render_strips()]
        region = events.content_region
        rows = [screen[y][region.x : region.right] for y in range(region.y, region.bottom)]
        marked = [i for i, row in enumerate(rows) if row.startswith("▶")]
        assert marked == [events.model.event_row[app.cursor] - top]


async def test_stepping_past_pivot_root_rebases_the_derived_mounts() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        pivot = index_of(app, "pivot_root")
        app.cursor = pivot - 1
        await pilot.press("n")
        await pilot.pause()
        assert app.cursor == pivot
        world = app.timeline.at(app.cursor)
        targets = {m.target for m in world.mounts}
        assert {"/", "/proc", "/dev", "/sys"} <= targets
        assert not any(t.startswith("/run/boxtrace") for t in targets)
        assert any(m.old_root for m in world.mounts)  # pivot_root(".", ".") stacks the old root
        umount = index_of(app, "umount2")
        app.cursor = umount - 1
        await pilot.press("n")
        assert not any(m.old_root for m in app.timeline.at(app.cursor).mounts)
        # stepping back before the pivot shows the host paths again (checkpoints, not a refold)
        await pilot.press("backspace", "backspace", "backspace")
        assert any(m.target.startswith("/run/boxtrace") for m in app.timeline.at(app.cursor).mounts)


async def test_next_and_previous_phase() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first_phase = app.model.phase_name(0)
        await pilot.press("N")
        assert app.model.phase_name(app.cursor) != first_phase
        assert app.model.phase_name(app.cursor - 1) != app.model.phase_name(app.cursor)
        second = app.cursor
        await pilot.press("N")
        assert app.cursor > second
        await pilot.press("P")
        assert app.cursor == second


async def test_search_jumps_to_the_next_match_and_wraps() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("slash")
        await pilot.pause()
        app.screen.query_one(Input).value = "pivot_root"
        await pilot.press("enter")
        await pilot.pause()
        assert app.cursor == index_of(app, "pivot_root")
        assert app.event_list.search == "pivot_root"
        await pilot.press("slash", "enter")  # same text again: wraps round to the only match
        await pilot.pause()
        assert app.cursor == index_of(app, "pivot_root")


async def test_filter_by_category_keeps_only_those_rows_and_steps_over_the_rest() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, FilterScreen)
        selection = app.screen.query_one(SelectionList)
        selection.deselect_all()
        selection.select("mount")
        await pilot.click("#apply")
        await pilot.pause()
        assert app.model.categories == frozenset({"mount"})
        shown = [r for r in app.model.rows if r >= 0]
        assert shown and all(app.model.events[r].category == "mount" for r in shown)
        assert app.model.events[app.cursor].category == "mount"
        before = app.cursor
        await pilot.press("n")
        assert app.cursor > before and app.model.events[app.cursor].category == "mount"


async def test_breakpoint_on_a_syscall_then_continue_stops_there() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.cursor = index_of(app, "mount")
        app._refresh_all()
        await pilot.press("b")
        await pilot.pause()
        await pilot.press("enter")  # first option: every mount() call
        await pilot.pause()
        assert app.break_names == {"mount"}
        app.cursor = 0
        await pilot.press("c")
        assert app.cursor == index_of(app, "mount")
        await pilot.press("c")
        event = app.model.events[app.cursor]
        assert (
            isinstance(event, SyscallEvent) and event.name == "mount" and app.cursor > index_of(app, "mount")
        )


async def test_continue_without_breakpoints_runs_to_the_end_and_step_is_greyed_there() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("c")
        assert app.cursor == len(app.model) - 1
        assert app.check_action("step", ()) is None  # shown, greyed: nothing left to step to
        assert app.check_action("step_back", ()) is True


async def test_export_from_the_app_writes_a_readable_trace(tmp_path: Path) -> None:
    app = replay_app()
    target = tmp_path / "out.jsonl"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.click("#export")
        await app.workers.wait_for_complete()
        await pilot.pause()
    header, events = read_trace(str(target))
    assert [e.seq for e in events] == [e.seq for e in recorded()[1]]
    assert header.command == recorded()[0].command


async def test_export_uses_the_exporter_the_cli_hands_over(tmp_path: Path) -> None:
    calls: list[tuple[str, int, str]] = []

    def exporter(fmt: str, header: object, events: list[object], path: str) -> None:
        calls.append((fmt, len(events), path))
        Path(path).write_text("# exported\n")

    app = replay_app(TuiOptions(exporter=exporter, export_formats=("md", "html")))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#export-path", Input).value = str(tmp_path / "t.md")
        await pilot.click("#export")
        await app.workers.wait_for_complete()
    assert calls == [("md", len(recorded()[1]), str(tmp_path / "t.md"))]


async def test_a_bad_trace_file_shows_an_error_in_the_app(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(TRACE.read_text().splitlines()[0] + "\n{not json\n")
    app = BoxtraceApp("replay", replay=ReplaySource(path=str(bad)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert app.error is not None and "bad.jsonl:2" in app.error


async def test_help_lists_the_keys_and_remapped_keys_show_remapped() -> None:
    app = replay_app(TuiOptions(keymap={"step": "x"}))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("x")
        assert app.cursor == 1
        keys = dict((what, key) for key, what in app.key_map())
        assert keys["Step"] == "x"
        assert keys["Quit"] == "q"
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_presenter_auto_advance_pauses_at_the_lesson_breakpoint() -> None:
    app = replay_app(TuiOptions(present=True, pace=0.01, break_names=frozenset({"pivot_root"})))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("c")
        # Auto-advance started; at 10 ms a step it may already have reached the breakpoint by the
        # time Pilot's press returns (it waits up to a second for the app to go idle).
        assert app.auto or app.cursor > 0
        deadline = time.monotonic() + 30  # ~60 ticks; generous for a loaded machine
        while app.auto and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert not app.auto
        assert app.cursor == index_of(app, "pivot_root")


async def test_a_stopped_auto_advance_timer_that_ticks_late_does_not_step() -> None:
    """textual's Timer.stop() cancels the timer's task, but a timer running late (a busy machine)
    calls its callback once more before its task sees the cancel (its sleep of less than 0.5 ms
    does not yield). That tick came after the breakpoint had stopped auto-advance, and stepped over
    it. Here the late tick is made by calling the stopped timer's callback, as the timer would."""
    app = replay_app(TuiOptions(present=True, pace=30, break_names=frozenset({"pivot_root"})))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        target = index_of(app, "pivot_root")
        app.cursor = target - 1
        await pilot.press("c")
        timer = app._auto_timer
        assert app.auto and timer is not None
        tick = timer._callback
        assert tick is not None
        tick()  # reaches the breakpoint: auto-advance stops
        assert app.cursor == target and not app.auto
        tick()  # the stopped timer's late tick
        assert app.cursor == target
        await pilot.press("c")  # on again, then a pace change replaces the timer
        first = app._auto_timer
        await pilot.press("minus")
        assert first is not None and app._auto_timer is not first and app.auto
        old_tick = first._callback
        assert old_tick is not None
        old_tick()  # the replaced timer's late tick: not a step
        assert app.cursor == target


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
async def test_quit_keys_end_a_replay(key: str) -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press(key)
        await pilot.pause()
    assert app.return_value == 0


async def test_a_merged_trace_of_several_roots_replays_to_its_end(tmp_path: Path) -> None:
    from boxtrace.tracer.merge import merge_traces

    runc = Path(__file__).parent.parent / "lessons" / "data" / "runc-run.jsonl"
    merged = tmp_path / "merged.jsonl"
    _, count = merge_traces([str(TRACE), str(runc)], str(merged))
    app = BoxtraceApp("replay", None, replay=ReplaySource(path=str(merged)))
    async with app.run_test(size=SIZE) as pilot:
        deadline = time.monotonic() + 20
        while not app.loaded and time.monotonic() < deadline:
            await pilot.pause(0.1)
        assert app.loaded and len(app.model) == count
        app.event_list.focus()
        await pilot.press("end")
        await pilot.pause()
        assert app.cursor == count - 1
        await pilot.press("backspace")
        assert app.cursor == count - 2

"""The live app fed the messages a tracer thread sends, and steering a (fake, then real) session."""

from __future__ import annotations

import os
import sys

import pytest

from boxtrace.tracer.events import SyscallEvent
from boxtrace.tracer.messages import Message, Notice
from boxtrace.tracer.session import TraceConfig, TraceSession
from boxtrace.tui.app import BoxtraceApp, TraceBatch
from boxtrace.tui.options import TuiOptions
from tests.conftest import needs_root
from tests.tui.helpers import FakeSteering, ended, messages_for, recorded_syscalls, started

pytestmark = pytest.mark.asyncio

SIZE = (160, 48)


def live_app(options: TuiOptions | None = None) -> tuple[BoxtraceApp, FakeSteering]:
    steering = FakeSteering()
    app = BoxtraceApp("live", options or TuiOptions(step=True), steering=steering)
    return app, steering


async def feed(app: BoxtraceApp, pilot: object, messages: list[Message]) -> None:
    app.feed(messages)  # what the session's delivery thread calls
    await pilot.pause()  # type: ignore[attr-defined]


async def test_held_call_is_shown_before_it_runs_and_step_asks_the_session() -> None:
    header, events = recorded_syscalls()
    app, steering = live_app()
    async with app.run_test(size=SIZE) as pilot:
        first = messages_for(events[0], hold="step")
        await feed(app, pilot, [started(header), *first[:2]])  # entry + held, not resumed
        assert app.held == 0 and app.cursor == 0
        assert isinstance(app.model.events[0], SyscallEvent) and not app.model.events[0].finished
        assert app.check_action("pause", ()) is None  # held: nothing to pause
        assert app.check_action("resume", ()) is True
        await pilot.press("n")
        assert steering.calls == ["step"]
        await feed(app, pilot, first[2:])  # resumed, finished
        assert app.held == -1 and app.model.events[0].finished  # type: ignore[attr-defined]
        await pilot.press("c")
        assert steering.calls == ["step"]  # not held any more: continue is greyed and does nothing


async def test_continue_pause_and_breakpoints_go_to_the_session() -> None:
    header, events = recorded_syscalls()
    app, steering = live_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, pilot, [started(header), *messages_for(events[0], hold="step")[:2]])
        await pilot.press("b")
        await pilot.pause()
        await pilot.press("down", "enter")  # second option: the call's whole category
        await pilot.pause()
        assert steering.breakpoints == (set(), {"exec"})
        await pilot.press("c")
        assert steering.calls[-1] == "resume"
        await feed(app, pilot, messages_for(events[0], hold="step")[2:] + messages_for(events[1]))
        assert app.running
        await pilot.press("p")
        assert steering.calls[-1] == "pause"
        await pilot.press("n")  # running: a step means "hold at the next call"
        assert steering.calls[-1] == "pause"


async def test_the_cursor_follows_new_events_until_the_user_browses() -> None:
    header, events = recorded_syscalls()
    app, _ = live_app(TuiOptions())
    async with app.run_test(size=SIZE) as pilot:
        batch: list[Message] = [started(header)]
        for event in events[:20]:
            batch += messages_for(event)
        await feed(app, pilot, batch)
        assert app.cursor == 19
        await pilot.press("up", "up")
        assert app.cursor == 17 and not app.follow
        more: list[Message] = []
        for event in events[20:30]:
            more += messages_for(event)
        await feed(app, pilot, more)
        assert app.cursor == 17  # browsing: new events do not yank the selection away
        await pilot.press("end")
        assert app.follow and app.cursor == 29


async def test_tracer_errors_show_in_the_app_not_as_a_traceback() -> None:
    header, events = recorded_syscalls()
    app, _ = live_app(TuiOptions())
    async with app.run_test(size=SIZE) as pilot:
        await feed(
            app,
            pilot,
            [
                started(header),
                *messages_for(events[0]),
                Notice("tracer error: RuntimeError: boom; killing every traced process", "error"),
                ended(137, 1, error="RuntimeError: boom"),
            ],
        )
        assert app.ended and app.error == "tracer error: RuntimeError: boom"
        status = str(app.query_one("#status").render())
        assert "RuntimeError: boom" in status


async def test_quit_mid_trace_stops_the_session_and_waits_for_its_end() -> None:
    header, events = recorded_syscalls()
    app, steering = live_app()
    async with app.run_test(size=SIZE) as pilot:
        await feed(app, pilot, [started(header), *messages_for(events[0], hold="step")[:2]])
        await pilot.press("q")
        await pilot.pause()
        assert steering.calls == ["stop"] and app.quitting
        assert app.is_running  # still up until the session says every tracee is gone
        await pilot.press("q")
        assert steering.calls == ["stop", "stop!"]  # asked twice: kill now
        await feed(app, pilot, [ended(143, 1)])
    assert app.return_value == 143


async def test_batches_posted_before_the_app_runs_are_kept_in_order() -> None:
    header, events = recorded_syscalls()
    app, _ = live_app(TuiOptions())
    app.feed([started(header), *messages_for(events[0])])  # the session may start first
    app.feed(messages_for(events[1]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert [e.seq for e in app.model.events] == [events[0].seq, events[1].seq]
        app.post_message(TraceBatch(messages_for(events[2])))
        await pilot.pause()
        assert len(app.model) == 3


@needs_root
async def test_quitting_a_real_container_start_mid_trace_leaves_nothing_behind() -> None:
    command = [sys.executable, "-m", "boxtrace.runtime", "run", "--", "sh", "-c", "echo hi; sleep 30"]
    app = BoxtraceApp("live", TuiOptions(grace=3.0))
    session = TraceSession(TraceConfig(command=command, grace=3.0), app.feed)
    app.steering = session
    session.start()
    try:
        async with app.run_test(size=SIZE) as pilot:
            for _ in range(100):  # until the container runs (its output arrived)
                await pilot.pause(0.1)
                if app.output_indices:
                    break
            assert app.output_indices, "the container never started"
            root = session.engine.root_pid
            await pilot.press("q")
            for _ in range(100):
                await pilot.pause(0.1)
                if not app.is_running:
                    break
    finally:
        session.stop()
        result = session.wait(15)
    assert result is not None and result.stopped_by_user
    assert app.ended
    with pytest.raises(ProcessLookupError):
        os.kill(root, 0)
    # mounts, cgroups and stopped tracees: checked by the autouse host_left_clean fixture

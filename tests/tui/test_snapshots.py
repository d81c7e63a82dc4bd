"""SVG snapshots of the main screen (live and replayed), the help screen and presenter mode.

Stable by construction: textual and the snapshot tools are pinned (pyproject), the terminal size is
fixed, no clock is shown, the explanation comes from a fixed stand-in (catalogue edits must not
change these pictures; the Pilot tests cover the real catalogue), and the live screen is fed recorded
messages, so no /proc is read. Update after a deliberate change with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the new SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from boxtrace.tracer.messages import Message
from boxtrace.tui.app import BoxtraceApp, ReplaySource
from boxtrace.tui.options import TuiOptions
from tests.tui.helpers import FakeSteering, fixed_explanation, messages_for, recorded, started

SIZE = (150, 44)
SnapCompare = Callable[..., bool]


def replay_app(options: TuiOptions | None = None) -> BoxtraceApp:
    header, events = recorded()
    app = BoxtraceApp("replay", options, replay=ReplaySource(header=header, events=events))
    app.explainer = fixed_explanation
    return app


def test_main_screen_replayed(snap_compare: SnapCompare) -> None:
    # Step into the filesystem phase: every pane has something to show.
    assert snap_compare(replay_app(), press=["N", "N", "N", "N", "n", "n"], terminal_size=SIZE)


def test_main_screen_live_held(snap_compare: SnapCompare) -> None:
    header, events = recorded()
    app = BoxtraceApp("live", TuiOptions(step=True), steering=FakeSteering())
    app.explainer = fixed_explanation
    messages: list[Message] = [started(header)]
    for event in events[:30]:
        messages += messages_for(event)
    messages += messages_for(events[30], hold="step")[:2]  # held at entry: not run yet

    async def feed(pilot: Pilot[Any]) -> None:
        app.feed(messages)
        await pilot.pause()

    assert snap_compare(app, run_before=feed, terminal_size=SIZE)


def test_help_screen(snap_compare: SnapCompare) -> None:
    assert snap_compare(replay_app(), press=["question_mark"], terminal_size=SIZE)


def test_presenter_mode(snap_compare: SnapCompare) -> None:
    app = replay_app(TuiOptions(present=True, pace=4.0))
    pivot = next(i for i, e in enumerate(app.replay.events or []) if getattr(e, "name", "") == "pivot_root")
    assert snap_compare(app, press=["n"] * pivot, terminal_size=SIZE)

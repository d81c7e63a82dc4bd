"""Regenerate the screenshots in docs/tui.md, docs/diff.md and the README:
``.venv/bin/python -m tests.tui.screenshots``.

Real renderings (save_screenshot) of the recorded container start (and of its diff against a
recorded `runc run`), with the real catalogue.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot

from boxtrace.tracer.messages import Message
from boxtrace.tui.app import BoxtraceApp, ReplaySource
from boxtrace.tui.diff_screen import DiffApp
from boxtrace.tui.options import TuiOptions
from tests.tui.helpers import (
    DIFF_SOURCES,
    FakeSteering,
    messages_for,
    recorded,
    recorded_diff,
    started,
    to_first_change_of,
)

OUT = Path(__file__).resolve().parents[2] / "docs" / "images"
SIZE = (150, 44)


async def shoot(app: App[Any], name: str, keys: list[str], before: Any = None) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        if before is not None:
            await before(pilot)
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.3)
        app.save_screenshot(str(OUT / f"{name}.svg"))


def replay(options: TuiOptions | None = None) -> BoxtraceApp:
    header, events = recorded()
    return BoxtraceApp("replay", options, replay=ReplaySource(header=header, events=events))


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    await shoot(replay(), "tui-replay", ["N", "N", "N", "N", "n", "n"])
    header, events = recorded()
    live = BoxtraceApp("live", TuiOptions(step=True), steering=FakeSteering())
    messages: list[Message] = [started(header)]
    for event in events[:58]:
        messages += messages_for(event)
    messages += messages_for(events[58], hold="step")[:2]

    async def feed(pilot: Pilot[Any]) -> None:
        live.feed(messages)
        await pilot.pause()

    await shoot(live, "tui-live-held", [], feed)
    await shoot(replay(), "tui-help", ["question_mark"])
    pivot = next(i for i, e in enumerate(events) if getattr(e, "name", "") == "pivot_root")
    await shoot(replay(TuiOptions(present=True)), "tui-presenter", ["n"] * pivot)

    async def namespaces(pilot: Pilot[Any]) -> None:
        await to_first_change_of(pilot, "clone", "unshare")

    await shoot(DiffApp(recorded_diff(), DIFF_SOURCES), "tui-diff", [], namespaces)


if __name__ == "__main__":
    asyncio.run(main())

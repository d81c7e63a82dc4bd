"""The open dialog ('o' in a replay): the traces recorded in the spool, newest first."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import OptionList

from boxtrace.tui.app import BoxtraceApp, ReplaySource
from boxtrace.tui.options import TuiOptions
from boxtrace.tui.screens import OpenScreen
from tests.tui.helpers import TRACE

pytestmark = pytest.mark.asyncio

SIZE = (160, 48)
NAMES = (
    "20261128-065558.411415-runc-create-demo-1330.jsonl",
    "20261128-065559.714681-runc-start-demo-1368.jsonl",
)


@pytest.fixture
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "spool"
    directory.mkdir()
    for name in NAMES:
        shutil.copy(TRACE, directory / name)
    monkeypatch.setenv("BOXTRACE_SPOOL", str(directory))
    return directory


async def test_open_lists_the_spool_newest_first_and_picks_one(spool: Path) -> None:
    app = BoxtraceApp("replay", TuiOptions(), replay=ReplaySource(path=str(TRACE)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OpenScreen)
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert labels[0].startswith("2026-11-28 06:55:59  runc-start-demo  ")
        assert labels[1].startswith("2026-11-28 06:55:58  runc-create-demo  ")
        await pilot.press("enter")  # the highlighted (newest) one
        await pilot.pause()
    assert app.next_replay == str(spool / NAMES[1])


async def test_escape_keeps_the_current_trace(spool: Path) -> None:
    app = BoxtraceApp("replay", TuiOptions(), replay=ReplaySource(path=str(TRACE)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, OpenScreen)
    assert app.next_replay is None


async def test_an_empty_spool_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOXTRACE_SPOOL", str(tmp_path / "nothing"))
    app = BoxtraceApp("replay", TuiOptions(), replay=ReplaySource(path=str(TRACE)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OpenScreen) and not app.screen.query(OptionList)


async def test_a_live_trace_has_no_open(spool: Path) -> None:
    app = BoxtraceApp("live", TuiOptions())
    assert app.check_action("open", ()) is None

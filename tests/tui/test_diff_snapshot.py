"""An SVG snapshot of the diff view (`boxtrace diff A B`): boxtrace's runtime against `runc run`,
at the pair where one clones into new namespaces and the other unshares them.

Stable as test_snapshots.py's are: pinned tools, a fixed terminal size, a fixed stand-in for the
catalogue, real recorded traces. Update after a deliberate change with
``pytest tests/tui/test_diff_snapshot.py --snapshot-update`` and look at the new SVG; the README's
picture comes from ``python -m tests.tui.screenshots`` (with the real catalogue).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from boxtrace.tui.diff_screen import DiffApp
from tests.tui.helpers import DIFF_SOURCES, fixed_explanation, recorded_diff, to_first_change_of

SIZE = (150, 44)
SnapCompare = Callable[..., bool]


def test_diff_screen(snap_compare: SnapCompare) -> None:
    app = DiffApp(recorded_diff(), DIFF_SOURCES, explainer=fixed_explanation)

    async def select(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await to_first_change_of(pilot, "clone", "unshare")

    assert snap_compare(app, run_before=select, terminal_size=SIZE)

"""Loaded by the lane in the guest (`pytest -p tests.vm.plugin`): the tests of selection.py get
the cgroup_v2 mark there, so that `-m cgroup_v2` runs them with the marked ones."""

from __future__ import annotations

import pytest

from tests.vm.selection import selected


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if selected(item.nodeid):
            item.add_marker(pytest.mark.cgroup_v2)

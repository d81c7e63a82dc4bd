"""The short soak (bench/soak.py): 20 container starts of every kind, 5 interrupted by SIGINT,
SIGTERM or SIGKILL at random moments, 3 at once; nothing left on the host, every trace readable."""

from __future__ import annotations

import pytest

from bench.soak import soak
from tests.conftest import needs_root

pytestmark = [pytest.mark.slow, pytest.mark.root, needs_root]


def test_short_soak_leaves_nothing() -> None:
    result = soak(starts=20, interrupts=5, concurrency=3, seed=20)
    assert not result.failures, "\n".join(result.failures)
    assert not result.leftovers, "\n".join(result.leftovers)
    assert any(j.delivered for j in result.jobs), "no signal reached a running start"
    assert any(j.batch > 1 for j in result.jobs)

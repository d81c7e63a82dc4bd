"""Hypothesis settings for the fuzz tests.

`make test` runs the "default" profile: a bounded number of examples per target, derandomized
(the same examples at every run, so CI never fails on a new random draw) and no example database.
`make fuzz` (BOXTRACE_FUZZ=long) runs fifty times as many, randomized, for long runs; a failure found
there becomes an ``@example`` or a plain test. No deadline: the machine is shared and loaded.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG = os.environ.get("BOXTRACE_FUZZ") == "long"
_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}
settings.register_profile("default", max_examples=100, derandomize=True, database=None, **_COMMON)
settings.register_profile("long", max_examples=5000, derandomize=False, database=None, **_COMMON)
settings.load_profile("long" if LONG else "default")


def examples(n: int) -> settings:
    """Settings for a target costlier than most (a subprocess, a container...): ``n`` examples in
    the default profile, fifty times as many in the long one."""
    return settings(max_examples=n * 50 if LONG else n)

"""The ``rt`` fixture of the OCI tests: a boxtrace-runtime with a --root of the test's own, and a
check that the test left no container, cgroup or mount of its own behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import boxtrace_cgroups, host_mounts
from tests.runtime.oci_runtime import TEST_ID_PREFIXES, Runtime


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(tmp_path / "state", tmp_path)
    mounts_before = host_mounts()
    cgroups_before = boxtrace_cgroups()
    yield runtime
    leftovers = sorted(os.listdir(runtime.root)) if runtime.root.exists() else []
    for name in leftovers:
        runtime("delete", "--force", name)
    assert not leftovers, f"test left containers: {leftovers}"
    assert not [d for d in runtime.cgroups if os.path.exists(d)], "test left cgroups of its containers"
    if os.environ.get("BOXTRACE_TESTS_CONCURRENT") != "1":
        # Also those of a create that failed; another session's tests would use the same names.
        ours = tuple(f"boxtrace-{prefix}" for prefix in TEST_ID_PREFIXES)
        assert not {c for c in boxtrace_cgroups() - cgroups_before if os.path.basename(c).startswith(ours)}
    assert not {m for m in host_mounts() - mounts_before if str(tmp_path) in m}

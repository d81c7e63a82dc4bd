"""Rootless on pure cgroup v2 with a delegated cgroup: the limits apply (the VM lane runs these).

The test, as root, delegates a subtree to the user nobody the way Documentation/admin-guide/
cgroup-v2.rst ("Delegation") describes: controllers enabled down to it, the directory and its
cgroup.procs, cgroup.subtree_control and cgroup.threads chowned to the user. A shell moves itself
into a leaf of that subtree (as systemd puts a user's session into user@UID.service), drops to
nobody and runs the runtime: it makes the container's cgroup beside the leaf, in the delegated
parent, as crun does rootless.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxtrace.runtime.cgroups import remove_cgroup_dir
from tests.conftest import needs_root
from tests.runtime.test_rootless import system_python

pytestmark = [needs_root, pytest.mark.cgroup_v2]

NOBODY = 65534
# The files cgroup-v2.rst "Delegation" says to chown to the delegatee, besides the directory.
DELEGATED_FILES = ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads")


def make_subtree(delegate: bool) -> Path:
    top = Path(f"/sys/fs/cgroup/deleg-{os.getpid()}")
    (Path("/sys/fs/cgroup") / "cgroup.subtree_control").write_text("+memory +pids")
    top.mkdir()
    (top / "cgroup.subtree_control").write_text("+memory +pids")
    (top / "leaf").mkdir()
    if delegate:
        for path in (top, *(top / name for name in DELEGATED_FILES), top / "leaf"):
            os.chown(path, NOBODY, NOBODY)
        for path in (top / "leaf").iterdir():
            os.chown(path, NOBODY, NOBODY)
    return top


@pytest.fixture(params=[True, False], ids=["delegated", "not-delegated"])
def subtree(request: pytest.FixtureRequest) -> Iterator[Path]:
    top = make_subtree(request.param)
    try:
        yield top
    finally:
        # The leaf is empty once the shell has exited; the container's cgroup is gone before.
        left = sorted(p.name for p in top.iterdir() if p.is_dir())
        remove_cgroup_dir(str(top / "leaf"))
        remove_cgroup_dir(str(top))
    assert left == ["leaf"], f"cgroups left in the delegated subtree: {left}"


def run_in_leaf(subtree: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The shell moves itself into the leaf as root, then becomes nobody and runs the runtime."""
    runtime = [
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        system_python(),
        "-m",
        "boxtrace.runtime",
        *args,
    ]
    script = f"echo $$ > {shlex.quote(str(subtree / 'leaf' / 'cgroup.procs'))} && exec {shlex.join(runtime)}"
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120, cwd="/")


def test_rootless_limits_apply_in_a_delegated_cgroup(subtree: Path, nobody_env: dict[str, str]) -> None:
    delegated = os.stat(subtree).st_uid == NOBODY
    files = "/sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
    result = run_in_leaf(
        subtree,
        nobody_env,
        *("run", "--memory", "64m", "--pids", "20", "--"),
        *("sh", "-c", f"cat {files}; cat /proc/self/uid_map"),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1].split() == ["0", str(NOBODY), "1"]  # rootless: a user namespace all the same
    if delegated:
        assert lines[:2] == [str(64 << 20), "20"]
        assert result.stderr == ""  # no "limits skipped", and born in its cgroup: no clone3 fallback
    else:
        # Nothing delegated: the one line of today, and no limit (the leaf has none).
        assert lines[:2] == ["max", "max"]
        assert result.stderr.splitlines() == [
            "boxtrace: limits skipped (memory, pids): creating a cgroup needs root or a delegated cgroup"
        ]
    assert list(Path(nobody_env["HOME"], "boxtrace").iterdir()) == []

"""State directories: atomic state.json, and sweeping what a killed runtime left behind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from boxtrace.runtime.leftovers import UNREADABLE_STATE_GRACE
from boxtrace.runtime.state import StateDir, sweep_stale_containers


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_record_merges_and_never_leaves_a_partial_file(tmp_path: Path) -> None:
    state = StateDir(str(tmp_path))
    state.record(runtime_pid=1)
    state.record(cgroups=["/x"])
    assert json.loads((tmp_path / "state.json").read_text()) == {"runtime_pid": 1, "cgroups": ["/x"]}
    assert not (tmp_path / "state.json.tmp").exists()


def test_sweep_removes_state_of_dead_runtimes_and_keeps_live_ones(tmp_path: Path) -> None:
    cgroup = tmp_path / "fake-cgroup"
    cgroup.mkdir()
    dead = tmp_path / "dead"
    (dead / "upper").mkdir(parents=True)
    (dead / "state.json").write_text(json.dumps({"runtime_pid": dead_pid(), "cgroups": [str(cgroup)]}))
    live = tmp_path / "live"
    live.mkdir()
    (live / "state.json").write_text(json.dumps({"runtime_pid": os.getpid()}))
    fresh = tmp_path / "fresh"  # being created right now: no state.json yet
    fresh.mkdir()
    old = tmp_path / "old-unreadable"  # killed between mkdir and its first record
    old.mkdir()
    (old / "state.json").write_text("")
    long_ago = os.stat(old).st_mtime - UNREADABLE_STATE_GRACE - 1
    os.utime(old, (long_ago, long_ago))

    sweep_stale_containers(str(tmp_path))

    assert not dead.exists() and not cgroup.exists()
    assert not old.exists()
    assert live.exists() and fresh.exists()

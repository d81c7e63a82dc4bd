"""The built-in runtime and crun on a pure cgroup v2 host (the VM lane runs these; on hybrid hosts
they skip and say where they run). Limits read back from inside the container, the cgroup
namespace's view, the read-only cgroup2 mount, and crun's clone3 into its cgroup under the tracer."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from boxtrace.tracer.events import SpawnEvent, SyscallEvent
from boxtrace.tracer.tracefile import read_trace
from tests.conftest import boxtrace, make_busybox_bundle, needs_root

pytestmark = [needs_root, pytest.mark.cgroup_v2]


def run_in_container(script: str, *options: str) -> subprocess.CompletedProcess[str]:
    return boxtrace("run", "--no-trace", *options, "--", "sh", "-c", script, timeout=120)


def test_limits_read_back_inside_the_container() -> None:
    files = "memory.max memory.swap.max pids.max cpu.max"
    result = run_in_container(
        f"cd /sys/fs/cgroup && for f in {files}; do echo $f=$(cat $f); done",
        *("--memory", "64m", "--pids", "20", "--cpus", "0.5"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"memory.max={64 << 20}",
        "memory.swap.max=0",
        "pids.max=20",
        "cpu.max=50000 100000",
    ]
    assert "skipped" not in result.stderr


def test_cgroup_namespace_root_and_read_only_cgroup2_mount() -> None:
    script = (
        "cat /proc/self/cgroup; grep ' /sys/fs/cgroup ' /proc/self/mountinfo; "
        "mkdir /sys/fs/cgroup/escape 2>&1; { echo 1 > /sys/fs/cgroup/cgroup.freeze; } 2>&1; echo end"
    )
    result = run_in_container(script, "--pids", "20")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "0::/"  # one unified hierarchy, seen from the namespace's root
    fields = lines[1].split()
    assert fields[4] == "/sys/fs/cgroup" and fields[fields.index("-") + 1] == "cgroup2"
    assert "ro" in fields[5].split(",")
    assert "Read-only file system" in lines[2] and "Read-only file system" in lines[3]
    assert lines[-1] == "end"


def test_crun_run_under_trace_clones_into_its_cgroup(tmp_path: Path) -> None:
    """crun refuses hybrid hosts; on pure v2 it starts the container's init with clone3, the new
    namespaces and CLONE_INTO_CGROUP, and boxtrace explains every event of that start."""
    if shutil.which("crun") is None:
        pytest.skip("needs crun (Debian package crun)")
    bundle = make_busybox_bundle(tmp_path / "bundle", ["/bin/sh", "-c", "cat /proc/self/cgroup"])
    trace = tmp_path / "crun.jsonl"
    cid = f"boxtrace-crun-{os.getpid()}"
    try:
        command = ["crun", "run", "-b", str(bundle), cid]
        result = boxtrace("trace", "-q", "-o", str(trace), "--", *command, timeout=120)
    finally:
        subprocess.run(["crun", "delete", "-f", cid], capture_output=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    _, events = read_trace(str(trace))
    clones = [e for e in events if isinstance(e, SpawnEvent) and e.how == "clone3"]
    into = [e for e in clones if "CLONE_INTO_CGROUP" in e.flags]
    assert into, f"no clone3 with CLONE_INTO_CGROUP: {[e.flags for e in clones]}"
    namespaces = {"CLONE_NEWNS", "CLONE_NEWPID", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWNET"}
    assert namespaces <= set(into[0].flags)
    calls = [e for e in events if isinstance(e, SyscallEvent) and e.name == "clone3"]
    assert any(f"</sys/fs/cgroup/{cid}>" in a.text for e in calls for a in e.args)  # clone_args.cgroup

    coverage = boxtrace("explain", "--coverage", str(trace))
    assert coverage.returncode == 0, coverage.stderr
    total = len(events)
    assert coverage.stdout.splitlines()[-1] == f"coverage: {total}/{total} events explained specifically"

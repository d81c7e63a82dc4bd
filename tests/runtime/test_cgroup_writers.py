"""The cgroup v1 and v2 writers against temporary directory trees (CI has no pure v2 host)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxtrace.runtime.cgroups import (
    DEFAULT_ALLOWED_DEVICES,
    create_cgroup,
    delegated_parent,
    detect_cgroup_version,
    shares_to_weight,
)
from boxtrace.runtime.spec import DeviceRule, Resources

LIMITS = Resources(memory_limit=64 << 20, pids_limit=32, cpu_quota=50000, cpu_period=100000, cpu_shares=1024)


def test_detect_version(tmp_path: Path) -> None:
    assert detect_cgroup_version(str(tmp_path)) == "v1"
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    assert detect_cgroup_version(str(tmp_path)) == "v2"


def test_v2_writer(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    cgroup = create_cgroup("boxtrace-test", LIMITS, root=str(tmp_path))
    group = tmp_path / "boxtrace-test"
    assert cgroup.version == "v2" and cgroup.dirs == [str(group)]
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (group / "memory.max").read_text() == str(64 << 20)
    assert (group / "pids.max").read_text() == "32"
    assert (group / "cpu.max").read_text() == "50000 100000"
    assert (group / "cpu.weight").read_text() == str(shares_to_weight(1024))
    assert not (group / "memory.swap.max").exists()  # only written where the kernel offers it
    cgroup.join(4242)
    assert (group / "cgroup.procs").read_text() == "4242"
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cgroup.oom_kills() == 1


def test_v2_missing_controller_is_reported(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("memory\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    cgroup = create_cgroup("boxtrace-test", Resources(memory_limit=1 << 26, pids_limit=5), root=str(tmp_path))
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory"
    assert any("pids controller is not available" in s for s in cgroup.skipped)
    assert not (tmp_path / "boxtrace-test" / "pids.max").exists()


def test_v1_writer(tmp_path: Path) -> None:
    for controller in ("memory", "pids", "cpu", "devices"):
        (tmp_path / controller).mkdir()
    rules = [DeviceRule(allow=False)]
    resources = Resources(memory_limit=1 << 26, pids_limit=9, cpu_quota=20000, cpu_shares=256, devices=rules)
    cgroup = create_cgroup("boxtrace-x", resources, root=str(tmp_path), version="v1")
    assert sorted(cgroup.dirs) == sorted(
        str(tmp_path / c / "boxtrace-x") for c in ("memory", "pids", "cpu", "devices")
    )
    assert (tmp_path / "memory/boxtrace-x/memory.limit_in_bytes").read_text() == str(1 << 26)
    assert (tmp_path / "pids/boxtrace-x/pids.max").read_text() == "9"
    assert (tmp_path / "cpu/boxtrace-x/cpu.cfs_quota_us").read_text() == "20000"
    assert (tmp_path / "cpu/boxtrace-x/cpu.cfs_period_us").read_text() == "100000"
    assert (tmp_path / "cpu/boxtrace-x/cpu.shares").read_text() == "256"
    # one value per write: the last write to devices.allow is the last default device
    assert (tmp_path / "devices/boxtrace-x/devices.allow").read_text() == DEFAULT_ALLOWED_DEVICES[-1]
    assert (tmp_path / "devices/boxtrace-x/devices.deny").read_text() == "a"


def test_shares_to_weight_bounds() -> None:
    assert shares_to_weight(2) == 1
    assert shares_to_weight(262144) == 10000
    assert shares_to_weight(1024) == 39


def test_v2_delegated_parent_enables_only_what_is_missing(tmp_path: Path) -> None:
    # A delegated cgroup where memory is enabled already; a second "+memory" would be refused
    # (EBUSY) by a kernel when the cgroup holds processes, so only the missing ones are written.
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory\n")
    cgroup = create_cgroup("boxtrace-d", Resources(memory_limit=1 << 26), root=str(tmp_path), delegated=True)
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu +pids"
    assert cgroup.dirs == [str(tmp_path / "boxtrace-d")]
    assert (tmp_path / "boxtrace-d" / "memory.max").read_text() == str(1 << 26)


def test_v2_delegated_parent_that_refuses_controllers_reports_them(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    (tmp_path / "cgroup.subtree_control").mkdir()  # any write to it fails, as EBUSY would
    cgroup = create_cgroup(
        "boxtrace-d", Resources(memory_limit=1 << 26, pids_limit=5), root=str(tmp_path), delegated=True
    )
    assert any(
        f"memory controller is not enabled in {tmp_path}/cgroup.subtree_control" in s for s in cgroup.skipped
    )
    assert not (tmp_path / "boxtrace-d" / "memory.max").exists()


def test_delegated_parent_is_the_parent_of_our_own_cgroup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deleg" / "leaf").mkdir(parents=True)
    (tmp_path / "deleg" / "cgroup.procs").write_text("")
    proc = tmp_path / "self-cgroup"
    monkeypatch.setattr(os, "geteuid", lambda: 65534)
    proc.write_text("0::/deleg/leaf\n")
    assert delegated_parent(str(tmp_path), str(proc)) == str(tmp_path / "deleg")
    proc.write_text("0::/\n")  # the root cgroup (or a cgroup namespace's root): nothing above it
    assert delegated_parent(str(tmp_path), str(proc)) is None
    proc.write_text("0::/leaf\n")  # the parent is the root, whose cgroup.procs is missing here
    assert delegated_parent(str(tmp_path), str(proc)) is None
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    proc.write_text("0::/deleg/leaf\n")
    assert delegated_parent(str(tmp_path), str(proc)) is None  # root makes its cgroups at the top

"""`boxtrace explain --coverage` reports 100% on real traces of the built-in runtime, runc and
unshare, recorded here (root only), and their phases read as the container story."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from boxtrace.lessons.phases import phases_of
from boxtrace.tracer.events import SyscallEvent
from boxtrace.tracer.tracefile import read_trace
from tests.conftest import IS_ROOT, REPO, boxtrace

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(
        not IS_ROOT, reason="needs root: records traces of real containers (namespaces, mounts, cgroups)"
    ),
]


def record(out: Path, *command: str) -> Path:
    result = boxtrace("trace", "-o", str(out), "--", *command, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def assert_full_coverage(trace: Path) -> None:
    result = boxtrace("explain", "--coverage", str(trace))
    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    total = len(read_trace(str(trace))[1])
    assert total > 10
    assert last == f"coverage: {total}/{total} events explained specifically", result.stdout[-3000:]
    assert "missing entry" not in result.stdout


def phases(trace: Path) -> list[tuple[str, str]]:
    _, events = read_trace(str(trace))
    return [(e.name if isinstance(e, SyscallEvent) else e.kind, p) for e, p in phases_of(events)]


def test_builtin_runtime_trace(tmp_path: Path) -> None:
    trace = record(
        tmp_path / "builtin.jsonl", sys.executable, "-m", "boxtrace.runtime", "run", "--", "/bin/true"
    )
    assert_full_coverage(trace)
    story = phases(trace)
    assert story[0][1] == "prepare"
    assert ("pivot_root", "pivot") in story and ("umount2", "pivot") in story
    assert ("rmdir", "cleanup") in story
    assert ("exec", "exec") in story
    assert ("capset", "identity and hardening") in story


def test_runc_trace(tmp_path: Path) -> None:
    if shutil.which("runc") is None:
        pytest.skip("needs runc (Debian package runc)")
    from bench.common import build_bundle

    bundle = build_bundle(tmp_path)
    cid = f"bxexplain{os.getpid()}"
    try:
        trace = record(tmp_path / "runc.jsonl", "runc", "run", "-b", str(bundle), cid)
    finally:
        subprocess.run(["runc", "delete", "-f", cid], capture_output=True, check=False)
    assert_full_coverage(trace)
    story = phases(trace)
    assert ("unshare", "namespaces") in story
    assert ("pivot_root", "pivot") in story
    assert ("unlinkat", "cleanup") in story
    assert ("seccomp", "prepare") in story  # libseccomp's probes in the host runc


def test_unshare_trace(tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux)")
    trace = record(
        tmp_path / "unshare.jsonl",
        "unshare",
        "--fork",
        "--pid",
        "--mount",
        "--uts",
        "--ipc",
        "--net",
        "--mount-proc",
        "true",
    )
    assert_full_coverage(trace)
    story = phases(trace)
    assert ("unshare", "namespaces") in story
    assert ("mount", "filesystem") in story
    assert story[-1] == ("exit", "cleanup")


def test_repo_root_is_the_checkout() -> None:
    # bench/ is imported from the checkout (it is not installed): fail clearly if the layout moved.
    assert (REPO / "bench" / "common.py").is_file()

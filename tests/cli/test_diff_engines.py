"""`boxtrace diff` of merged traces: one busybox image run by podman and by Docker, both with runc
recorded by boxtrace-runc; each container's create, start and delete merged into one story
(`boxtrace merge --container ID`), then podman's story compared with Docker's (root, slow)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boxtrace.tracer.spool import list_traces
from tests.cli.test_runc_wrapper import WRAPPER, needs_podman, needs_runc, wait_for_recorders_to_end
from tests.conftest import boxtrace, needs_root
from tests.engines import busybox_tarball, docker_daemon, podman_store

pytestmark = [needs_root, needs_runc, needs_podman, pytest.mark.slow]
IMAGE = "localhost/boxtrace-diff-bb:1"
ARGS = ("--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


def _merged(spool: Path, out: Path) -> Path:
    """The one container's create/start/delete recorded in ``spool``, merged into ``out``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        traces = list_traces(str(spool))
        kinds = [e.name.split("-")[3] for e in traces]  # STAMP-TIME-runc-SUBCOMMAND-ID-PID.jsonl
        if "delete" in kinds and not any(e.in_progress for e in traces):
            break
        time.sleep(0.1)
    wait_for_recorders_to_end(str(spool))
    ids = {e.name.split("-")[4] for e in list_traces(str(spool)) if e.name.split("-")[3] == "create"}
    assert len(ids) == 1, ids
    env = dict(os.environ, BOXTRACE_SPOOL=str(spool))
    done = boxtrace("merge", "--container", ids.pop(), "-o", str(out), env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def stories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    tmp = tmp_path_factory.mktemp("diffengines")
    tarball = busybox_tarball(tmp / "bb.tar")
    podman_spool, docker_spool = tmp / "podman-spool", tmp / "docker-spool"
    # Every call of podman's (its cleanup process's delete too) records into the spool.
    runtime = tmp / "boxtrace-runc.sh"
    runtime.write_text(f'#!/bin/sh\nBOXTRACE_SPOOL={podman_spool} exec {WRAPPER} "$@"\n')
    runtime.chmod(0o755)
    with podman_store(tarball, IMAGE) as podman:
        done = subprocess.run(
            [*podman, "--runtime", str(runtime), "run", *ARGS, IMAGE, "true"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    runtimes = {"boxtrace": {"path": str(WRAPPER), "runtimeArgs": [f"--boxtrace-spool={docker_spool}"]}}
    with docker_daemon(runtimes) as docker:
        subprocess.run([*docker, "import", str(tarball), IMAGE], check=True, capture_output=True)
        done = subprocess.run(
            [*docker, "run", "--runtime", "boxtrace", *ARGS, IMAGE, "true"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    yield _merged(podman_spool, tmp / "podman.jsonl"), _merged(docker_spool, tmp / "docker.jsonl")


def _rows(data: dict[str, Any], kind: str | None = None) -> list[dict[str, Any]]:
    return [r for p in data["phases"] for r in p["rows"] if kind is None or r["kind"] == kind]


def _key(row: dict[str, Any]) -> list[str]:
    return (row["a"] or row["b"])["key"]


def test_podman_vs_docker(stories: tuple[Path, Path]) -> None:
    """What these versions really do differently (podman 4.3.1, Docker 28.2.2, runc 1.1.5 here):
    podman's default capability set lacks CAP_NET_RAW, CAP_MKNOD and CAP_AUDIT_WRITE; the seccomp
    profiles differ; Docker mounts a fresh 64 MiB tmpfs on /dev/shm where podman binds its own;
    podman masks /sys/dev/block and /sys/fs/selinux too; Docker allows /dev/console (c 5:1) in
    the device cgroup and runs its prestart hook (libnetwork-setkey)."""
    podman, docker = (str(p) for p in stories)
    data = json.loads(boxtrace("diff", podman, docker, "--format", "json", "--names", "podman,docker").stdout)
    assert not data["identical"] and data["left_out"] == []
    changed = [r for r in _rows(data, "changed") if not r["moved"]]
    # Ranked: the seccomp filter, then the capability sets, before anything else that differs.
    summary = {s["text"].split(";")[0].split(" ")[0]: s["top"] for s in data["summary"]}
    top_changed = next(top for head, top in summary.items() if head.isdigit() and top)
    assert top_changed[0].startswith("Enter seccomp mode") and "len=" in top_changed[0]
    assert top_changed[1].startswith("Set the process's capability sets: effective: ")
    capset = next(r for r in changed if _key(r) == ["capset"])
    effective = next(c for c in capset["changes"] if c["field"] == "effective")
    assert {"CAP_NET_RAW", "CAP_MKNOD", "CAP_AUDIT_WRITE"} <= set(effective["b"].split("|"))
    assert not {"CAP_NET_RAW", "CAP_MKNOD", "CAP_AUDIT_WRITE"} & set(effective["a"].split("|"))
    assert summary["podman"][0].startswith("Drop a capability from the bounding set")
    # /dev/shm: podman binds a directory of its own, Docker mounts a 64 MiB tmpfs.
    shm = next(r for r in _rows(data) if r["a"] and r["b"] and _key(r) == ["mount", "mount", "/dev/shm"])
    assert dict(shm["a"]["variant"])["operation"] == "bind"
    assert "size=67108864" in dict(shm["b"]["variant"])["data"]
    # Masked paths only podman has.
    only_podman = {tuple(_key(r)) for r in _rows(data, "only_a")}
    assert {("mount", "mount", "/sys/dev/block"), ("mount", "mount", "/sys/fs/selinux")} <= only_podman
    # Docker's device rule for /dev/console comes first among what only Docker does.
    only_docker = {tuple(_key(r)) for r in _rows(data, "only_b")}
    assert ("cgroup", "write", "devices", "devices.allow", "c 5:1 rwm") in only_docker
    assert summary["docker"][0].startswith("Allow one device")
    # Docker's prestart hook, run by runc start.
    hooks = [r for r in _rows(data) if r["b"] and "libnetwork-setkey" in r["b"]["variant"].get("argv", "")]
    assert hooks and not [
        r for r in _rows(data) if r["a"] and "libnetwork" in r["a"]["variant"].get("argv", "")
    ]
    # The hostname is each container's short id: the same step once ids are placeholders.
    assert [r["kind"] for r in _rows(data) if _key(r) == ["sethostname"]] == ["same"]
    # Explained: every difference has its catalogue title, and no id is left in the report.
    assert all((r["a"] or r["b"])["title"] for r in _rows(data) if r["kind"] != "same")
    text = boxtrace("diff", podman, docker, "--plain", "--names", "podman,docker").stdout
    assert not re.search(r"(?<![0-9a-f])([0-9a-f]{12}|[0-9a-f]{64})(?![0-9a-f])", text), text

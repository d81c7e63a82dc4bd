"""`boxtrace cleanup`: lists (--dry-run) and removes what dead containers left; never a live one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxtrace.runtime import leftovers
from boxtrace.runtime.state import process_start_time
from tests.conftest import boxtrace, needs_root
from tests.runtime.guard_helpers import container_cgroups, wait_for
from tests.runtime.oci_runtime import bundle_with

RUN_ROOT = Path("/run/boxtrace")
OLD = 10**9  # 2001: older than any grace


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


def make_cgroup(name: str, pid: int | None = None, old: bool = True) -> str:
    path = f"/sys/fs/cgroup/pids/{name}"
    os.mkdir(path)
    if pid is not None:
        Path(path, "cgroup.procs").write_text(str(pid))
    if old:
        os.utime(path, (OLD, OLD))
    return path


def remove_cgroup(path: str) -> None:
    if os.path.isdir(path):
        for pid in leftovers.cgroup_pids(path):
            Path("/sys/fs/cgroup/pids/cgroup.procs").write_text(str(pid))
        os.rmdir(path)


@needs_root
def test_dead_container_is_listed_then_removed_with_its_processes(sleeper: subprocess.Popen[bytes]) -> None:
    container_id = f"gdc-{os.getpid()}"
    cgroup = make_cgroup(f"boxtrace-{container_id}", pid=sleeper.pid)
    state = RUN_ROOT / container_id
    try:
        (state / "upper").mkdir(parents=True)
        (state / "state.json").write_text(json.dumps({"runtime_pid": dead_pid(), "cgroups": [cgroup]}))

        listed = boxtrace("cleanup", "--dry-run")
        assert listed.returncode == 0, listed.stderr
        assert f"would remove cgroup {cgroup} (runtime " in listed.stdout
        assert f"would remove state {state} (runtime " in listed.stdout
        assert state.exists() and os.path.isdir(cgroup) and sleeper.poll() is None

        removed = boxtrace("cleanup")
        assert removed.returncode == 0, removed.stderr
        assert f"removed cgroup {cgroup}" in removed.stdout
        assert f"removed state {state}" in removed.stdout
        assert not state.exists() and not os.path.exists(cgroup)
        assert sleeper.wait(timeout=10) == -9  # what was left in the cgroup is killed first
    finally:
        remove_cgroup(cgroup)
        leftovers.remove_quietly([leftovers.Leftover("state", str(state), "test")])


@needs_root
def test_only_old_empty_cgroups_without_state_are_orphans(sleeper: subprocess.Popen[bytes]) -> None:
    orphan = make_cgroup(f"boxtrace-gdo-{os.getpid()}")
    young = make_cgroup(f"boxtrace-gdy-{os.getpid()}", old=False)
    busy = make_cgroup(f"boxtrace-gdb-{os.getpid()}", pid=sleeper.pid)
    foreign = make_cgroup(f"libpod-gdf-{os.getpid()}")
    try:
        listed = boxtrace("cleanup", "--dry-run")
        assert listed.returncode == 0, listed.stderr
        assert f"would remove cgroup {orphan} (no state, no process" in listed.stdout
        for kept in (young, busy, foreign):
            assert kept not in listed.stdout
        removed = boxtrace("cleanup")
        assert f"removed cgroup {orphan}" in removed.stdout
        assert not os.path.exists(orphan)
        assert all(os.path.isdir(kept) for kept in (young, busy, foreign))
        assert sleeper.poll() is None
    finally:
        for path in (orphan, young, busy, foreign):
            remove_cgroup(path)


@needs_root
def test_a_live_created_container_is_never_touched(tmp_path: Path) -> None:
    container_id = f"gdl-{os.getpid()}"
    root = tmp_path / "state"
    runtime = [sys.executable, "-m", "boxtrace.runtime", "--root", str(root)]
    bundle = bundle_with(tmp_path / "bundle", ["sleep", "300"])
    with open(tmp_path / "err", "w") as err:  # a file: the container keeps its stderr open
        created = subprocess.run(
            [*runtime, "create", "--bundle", str(bundle), container_id],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            timeout=60,
            check=False,
        )
    try:
        assert created.returncode == 0, (tmp_path / "err").read_text()
        cgroups = container_cgroups(container_id)
        for path in cgroups:
            os.utime(path, (OLD, OLD))  # as old as can be: still its container's
        for args in (("cleanup", "--dry-run"), ("cleanup", "--dry-run", "--root", str(root)), ("cleanup",)):
            result = boxtrace(*args)
            assert result.returncode == 0, result.stderr
            assert container_id not in result.stdout
        assert all(os.path.isdir(path) for path in cgroups)
        assert (root / container_id / "state.json").exists()

        # Once its process is gone it is a dead container, which --root cleans up.
        pid = json.loads((root / container_id / "state.json").read_text())["pid"]
        os.kill(pid, 9)
        wait_for(lambda: process_start_time(pid) is None, "the container's process to go")
        removed = boxtrace("cleanup", "--root", str(root))
        assert removed.returncode == 0, removed.stderr
        assert f"removed state {root / container_id}" in removed.stdout
        assert not container_cgroups(container_id)
    finally:
        subprocess.run([*runtime, "delete", "--force", container_id], capture_output=True, timeout=60)


def test_nothing_to_do_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from boxtrace.cli import main

    monkeypatch.setattr(leftovers, "find", lambda *args: [])
    assert main(["cleanup", "--dry-run"]) == 0
    assert capsys.readouterr().out == "nothing to clean up\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--grace", "-1"), "boxtrace cleanup: error: --grace -1: must not be negative"),
        (("--root", "/no/such/root"), "boxtrace cleanup: error: --root /no/such/root: no such directory"),
        (("--grace", "soon"), "boxtrace cleanup: error: argument --grace: invalid float value: 'soon'"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    result = boxtrace("cleanup", *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[0].startswith(message.split(" (")[0])
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_leftover_removed_meanwhile_is_no_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Another cleaner (the dead runtime's own guard) may remove it between the listing and us.
    gone = tmp_path / "gone"
    found = [leftovers.Leftover("state", str(gone), "its runtime is gone")]
    monkeypatch.setattr(leftovers, "find", lambda *args, **kwargs: found)

    def removed_meanwhile(item: leftovers.Leftover) -> None:  # what remove_tree meets then
        raise FileNotFoundError(2, "No such file or directory", item.path)

    monkeypatch.setattr(leftovers, "remove", removed_meanwhile)
    from boxtrace.cli import main

    assert main(["cleanup"]) == 0
    assert capsys.readouterr().out == f"already gone: state {gone} (its runtime is gone)\n"

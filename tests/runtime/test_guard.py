"""SIGKILL at any moment leaves nothing behind: the cleanup guard (runtime/guard.py) removes the
container's cgroups, mounts and state, for every way a container is started, traced or not; a
normal run leaves no guard; a created container outlives its create command and its guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tests.runtime.guard_helpers import (
    MARK,
    assert_nothing_left,
    container_cgroups,
    kill_when,
    marked_processes,
    state_dirs,
    wait_for,
)
from tests.runtime.oci_runtime import bundle_with

pytestmark = needs_root

BOXTRACE = [sys.executable, "-m", "boxtrace"]
RUNTIME = [sys.executable, "-m", "boxtrace.runtime"]
RUN_ROOT = Path("/run/boxtrace")


class Launch:
    """One way to start a container: its command line, and the state root it uses."""

    def __init__(self, tmp_path: Path, how: str, container_id: str, sleeper: list[str]) -> None:
        self.root = RUN_ROOT if how.startswith("boxtrace-run") else tmp_path / "state"
        script = f"echo ready; exec {' '.join(sleeper)}"
        bundle = str(bundle_with(tmp_path / "bundle", ["sh", "-c", script])) if "runtime" in how else ""
        runtime_run = [*RUNTIME, "--root", str(self.root), "run", "--bundle", bundle, container_id]
        trace = ["-o", str(tmp_path / "t.jsonl"), "--plain"]
        self.argv = {
            "boxtrace-run": [*BOXTRACE, "run", "--name", container_id, *trace, "--", "sh", "-c", script],
            "boxtrace-run-no-trace": [
                *BOXTRACE,
                "run",
                "--no-trace",
                "--name",
                container_id,
                "--",
                "sh",
                "-c",
                script,
            ],
            "runtime-run": runtime_run,
            "trace-runtime-run": [*BOXTRACE, "trace", *trace, "--", *runtime_run],
            "runtime-create": [
                *RUNTIME,
                "--root",
                str(self.root),
                "create",
                "--bundle",
                bundle,
                container_id,
            ],
        }[how]

    def start(self, out: Path, mark: str) -> subprocess.Popen[bytes]:
        """Start it, its output in ``out``, its processes marked with ``mark`` (guard_helpers)."""
        with open(out, "w") as handle:
            return subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env={**os.environ, MARK: mark},
            )


def kill_points(root: Path, container_id: str, out: Path) -> dict[str, Callable[[], object]]:
    def state_key(key: str) -> bool:
        try:
            return key in json.loads((root / container_id / "state.json").read_text())
        except (OSError, ValueError):
            return False

    return {
        # Very early: the state directory (built aside as .ID~PID, then renamed) exists.
        "state-dir": lambda: state_dirs(root, container_id),
        # Mid-way: the cgroups are about to be made (write-ahead record), then exist.
        "cgroups-planned": lambda: state_key("cgroups_planned"),
        "cgroup": lambda: container_cgroups(container_id),
        # After the clone: the container's first process is known.
        "cloned": lambda: state_key("pid"),
        # The container runs its command.
        "running": lambda: "ready" in out.read_text(),
    }


LAUNCHES = ("boxtrace-run", "boxtrace-run-no-trace", "runtime-run", "trace-runtime-run")
POINTS = ("state-dir", "cgroups-planned", "cgroup", "cloned", "running")


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("how", LAUNCHES)
def test_sigkill_leaves_nothing_behind(tmp_path: Path, how: str, point: str) -> None:
    container_id = f"gd-{os.getpid()}-{LAUNCHES.index(how)}{POINTS.index(point)}"
    sleeper = ["sleep", f"{900 + LAUNCHES.index(how) * 10 + POINTS.index(point)}"]
    launch = Launch(tmp_path, how, container_id, sleeper)
    out = tmp_path / "out"
    proc = launch.start(out, container_id)
    kill_when(proc, kill_points(launch.root, container_id, out)[point], point)
    assert_nothing_left(launch.root, container_id, container_id, sleeper)


@pytest.mark.parametrize("point", ("state-dir", "cgroup", "cloned"))
def test_sigkill_of_create_before_the_hand_over_leaves_nothing(tmp_path: Path, point: str) -> None:
    container_id = f"gd-{os.getpid()}-c{point}"
    sleeper = ["sleep", "899"]
    launch = Launch(tmp_path, "runtime-create", container_id, sleeper)
    out = tmp_path / "out"
    out.write_text("")
    proc = subprocess.Popen(
        launch.argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        env={**os.environ, MARK: container_id},
    )
    kill_when(proc, kill_points(launch.root, container_id, out)[point], point)
    assert_nothing_left(launch.root, container_id, container_id, sleeper)


@pytest.mark.parametrize("how", ("runtime-run", "trace-runtime-run"))
def test_sigkill_of_a_run_without_detach_removes_its_oldroot(tmp_path: Path, how: str) -> None:
    """Left out detach, the old root stays at /.oldroot, a directory the child makes in the
    bundle's own rootfs, which removing the state directory does not reach: the runtime records
    it first, and the guard removes it (empty: rmdir) with the rest."""
    from boxtrace.runtime.left_out import ANNOTATION

    container_id = f"gd-{os.getpid()}-oldroot-{how[0]}"
    sleeper = ["sleep", f"{880 + len(how)}"]
    launch = Launch(tmp_path, how, container_id, sleeper)
    config_path = tmp_path / "bundle" / "config.json"
    config = json.loads(config_path.read_text())
    config["annotations"] = {ANNOTATION: "detach"}
    config_path.write_text(json.dumps(config))
    old_root = tmp_path / "bundle" / "rootfs" / ".oldroot"
    out = tmp_path / "out"
    proc = launch.start(out, container_id)
    kill_when(proc, lambda: "ready" in out.read_text() and old_root.is_dir(), "the container to run")
    assert_nothing_left(launch.root, container_id, container_id, sleeper)
    wait_for(lambda: not old_root.exists(), "the guard to remove /.oldroot")


def guards(mark: str) -> list[int]:
    return [pid for pid, comm in marked_processes(mark).items() if comm == "boxtrace-guard"]


@pytest.mark.parametrize("traced", (True, False), ids=("traced", "no-trace"))
def test_a_normal_run_leaves_no_guard(tmp_path: Path, traced: bool) -> None:
    mark = f"normal-{os.getpid()}-{traced}"
    trace = ["-o", str(tmp_path / "t.jsonl"), "--plain"] if traced else ["--no-trace"]
    done = subprocess.run(
        [*BOXTRACE, "run", *trace, "--", "sh", "-c", "echo hi"],
        capture_output=True,  # waits for the ends of the pipes: a guard must not hold them
        text=True,
        timeout=60,
        env={**os.environ, MARK: mark},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "hi" in done.stdout
    wait_for(lambda: not marked_processes(mark), "the guard to exit after a normal run", timeout=10)


def test_a_created_container_outlives_its_create_and_its_guard(tmp_path: Path) -> None:
    container_id = f"gd-{os.getpid()}-created"
    root = tmp_path / "state"
    bundle = bundle_with(tmp_path / "bundle", ["sh", "-c", "echo started; exec sleep 898"])
    env = {**os.environ, MARK: container_id}
    runtime = [*RUNTIME, "--root", str(root)]
    with open(tmp_path / "out", "w") as out:
        created = subprocess.run(
            [*runtime, "create", "--bundle", str(bundle), container_id],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            timeout=60,
            check=False,
        )
    try:
        assert created.returncode == 0, (tmp_path / "out").read_text()
        # The guard of the create exits once the create has: nothing to do, the container is handed over.
        wait_for(lambda: not guards(container_id), "the create's guard to exit", timeout=10)
        state = json.loads((root / container_id / "state.json").read_text())
        os.kill(state["pid"], 0)  # the first process waits on exec.fifo
        assert container_cgroups(container_id)
        start = subprocess.run([*runtime, "start", container_id], capture_output=True, text=True, timeout=60)
        assert start.returncode == 0, start.stderr
        wait_for(lambda: "started" in (tmp_path / "out").read_text(), "the container's output")
    finally:
        subprocess.run([*runtime, "delete", "--force", container_id], capture_output=True, timeout=60)
    assert not state_dirs(root, container_id) and not container_cgroups(container_id)

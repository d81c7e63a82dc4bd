"""`boxtrace run` traced (the default): the runtime's container syscalls are shown and recorded, and
interrupting it leaves nothing behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from boxtrace.tracer.events import SyscallEvent
from boxtrace.tracer.tracefile import read_trace
from tests.conftest import boxtrace, make_busybox_bundle, needs_root

pytestmark = needs_root


def test_traced_run_shows_and_records_the_container_syscalls(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    result = boxtrace(
        "run", "-o", str(out), "--pids", "20", "--", "sh", "-c", "echo CONTAINER-OUTPUT; hostname"
    )
    assert result.returncode == 0, result.stderr
    assert "CONTAINER-OUTPUT" in result.stdout
    for expected in (
        "clone(CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNET",
        "pivot_root(",
        "sethostname(",
    ):
        assert expected in result.stdout, expected
    header, events = read_trace(str(out))
    # The installed script beside this interpreter, not `python -m boxtrace.runtime` (runpy, no
    # module pack): the trace names the runtime as its user would run it.
    assert header.command[0] == str(Path(sys.executable).parent / "boxtrace-runtime")
    assert header.command[1:3] == ["run", "--pids"]
    calls = [e for e in events if isinstance(e, SyscallEvent)]
    names = [e.name for e in calls]
    for name in ("clone", "unshare", "mount", "pivot_root", "umount2", "sethostname", "capset", "execve"):
        assert name in names, name
    pids_limit = [e for e in calls if e.name == "write" and e.detail.get("cgroup_file") == "pids.max"]
    assert pids_limit and pids_limit[0].detail["value"] == "20"
    clone = next(e for e in calls if e.name == "clone")
    assert {"pid", "mnt", "net", "uts", "ipc"} <= set(clone.ns_changed)


def test_traced_run_exit_status_is_the_containers() -> None:
    assert boxtrace("run", "--", "sh", "-c", "exit 9").returncode == 9


def test_interrupting_a_traced_run_cleans_up() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "boxtrace", "run", "--", "sh", "-c", "echo ready; exec sleep 60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "ready" in line or not line:
                break
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode != 0
    # the autouse fixture then checks: no mounts, cgroups or stopped processes left


@pytest.mark.parametrize("traced", [True, False], ids=["traced", "untraced"])
def test_interrupts_at_random_moments_leave_nothing(traced: bool) -> None:
    """Ctrl-C (once or twice) at random moments of a container start: nothing may be left behind."""
    import os
    import random

    rng = random.Random(1234 + traced)
    before = set(os.listdir("/run/boxtrace")) if os.path.isdir("/run/boxtrace") else set()
    # Named, so that what is looked for is this test's own container: other test sessions (and
    # their containers) may share /run/boxtrace when BOXTRACE_TESTS_CONCURRENT=1.
    concurrent = os.environ.get("BOXTRACE_TESTS_CONCURRENT") == "1"
    for n in range(6):
        name = f"bt-intr-{'t' if traced else 'u'}{n}-{os.getpid()}"
        args = [sys.executable, "-m", "boxtrace", "run", *([] if traced else ["--no-trace"]), "--pids", "50"]
        proc = subprocess.Popen(
            [*args, "--name", name, "--", "sleep", "5"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(rng.uniform(0.0, 0.6))
            proc.send_signal(signal.SIGINT)
            if rng.random() < 0.4:
                time.sleep(0.05)
                proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        finally:
            proc.kill()
            proc.wait()
        after = set(os.listdir("/run/boxtrace")) if os.path.isdir("/run/boxtrace") else set()
        assert name not in after, f"state left behind: /run/boxtrace/{name}"
        if not concurrent:
            assert after <= before, f"state left behind: {sorted(after - before)}"
    # the autouse fixture checks mounts, cgroups and stopped processes


def test_a_seccomp_profile_from_the_command_line_is_loaded_and_traced(tmp_path: Path) -> None:
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(
        '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": '
        '[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}'
    )
    script = "mkdir /tmp/seccomp-test; grep Seccomp: /proc/self/status"
    untraced = boxtrace("run", "--no-trace", "--seccomp", str(profile), "--", "sh", "-c", script)
    assert "Operation not permitted" in untraced.stderr
    assert untraced.stdout.splitlines() == ["Seccomp:\t2"]
    out = tmp_path / "run.jsonl"
    traced = boxtrace("run", "--seccomp", str(profile), "-o", str(out), "--", "sh", "-c", script)
    assert (
        "stderr: mkdir: can't create directory '/tmp/seccomp-test': Operation not permitted" in traced.stdout
    )
    _, events = read_trace(str(out))
    loads = [e for e in events if isinstance(e, SyscallEvent) and e.name == "seccomp"]
    assert len(loads) == 1 and loads[0].args[0].text == "SECCOMP_SET_MODE_FILTER" and loads[0].result == 0
    # unconfined: no filter, even where the bundle has a profile.
    bundle = make_busybox_bundle(tmp_path / "bundle", ["sh", "-c", "grep Seccomp: /proc/self/status"])
    config = json.loads((bundle / "config.json").read_text())
    config["linux"]["seccomp"] = json.loads(profile.read_text())
    (bundle / "config.json").write_text(json.dumps(config))
    confined = boxtrace("run", "--no-trace", str(bundle))
    free = boxtrace("run", "--no-trace", "--seccomp", "unconfined", str(bundle))
    assert (confined.stdout, free.stdout) == ("Seccomp:\t2\n", "Seccomp:\t0\n"), (
        confined.stderr,
        free.stderr,
    )

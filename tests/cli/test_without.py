"""`boxtrace run --without STEP`, for real: each step's probe shows the catalogue's claim in the
weakened container and not in a normal one, and neither leaves anything on the host."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from boxtrace.lessons.catalogue import catalogue
from boxtrace.lessons.probes import probe_command, probes
from boxtrace.runtime.left_out import STEPS
from boxtrace.runtime.options import new_container_id
from tests.conftest import boxtrace, make_busybox_bundle, needs_root

# Every step but idmap (rootless only: see test_idmap_is_refused_when_rootful) runs as root here.
ROOT_STEPS = [name for name in STEPS if name not in ("idmap", "seccomp", "private")]
SECCOMP_PROFILE = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["swapon"], "action": "SCMP_ACT_ERRNO"}],
}


def _run(*args: str) -> tuple[str, str]:
    """One container under --name, its output, and a check that it left no mount or cgroup."""
    name = f"without-{new_container_id()}"
    result = boxtrace("run", "--no-trace", "--name", name, *args, timeout=120)
    _assert_gone(name)
    return result.stdout, result.stderr


def _assert_gone(name: str) -> None:
    with open("/proc/self/mountinfo") as handle:
        leaked = [line for line in handle if name in line]
    assert not leaked, f"mounts left on the host: {leaked}"
    for root in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/devices"):
        assert not os.path.exists(os.path.join(root, f"boxtrace-{name}")), root
    assert not os.path.exists(f"/run/boxtrace/{name}")


def _verdict(stdout: str) -> str:
    held = [line for line in stdout.splitlines() if line.startswith("held:")]
    assert len(held) == 1, stdout
    return held[0].removeprefix("held:").strip()


def test_every_step_has_a_probe_and_a_claim() -> None:
    table = probes()
    assert set(table) == set(STEPS)
    for probe in table.values():
        assert catalogue().get(probe.claim_id) is not None, probe.claim_id
        assert catalogue().get(f"skip.{probe.step}") is not None, probe.step


def test_list_names_each_step() -> None:
    result = boxtrace("run", "--without", "list")
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == list(STEPS)


def test_unknown_step_is_a_usage_error() -> None:
    result = boxtrace("run", "--no-trace", "--without", "pivot")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--without list" in result.stderr


@needs_root
@pytest.mark.parametrize("step", ROOT_STEPS)
def test_probe_shows_the_claim_only_without_the_step(step: str) -> None:
    stdout, stderr = _run("--without", step)
    assert stderr.splitlines()[0].startswith("boxtrace: this container is deliberately weakened")
    assert _verdict(stdout) == "yes", stdout + stderr
    normal, normal_err = _run("--pids", "16", "--env", "BOXTRACE_PIDS=16", "--", *probe_command([step]))
    assert _verdict(normal) == "no", normal + normal_err


@needs_root
def test_seccomp_left_out(tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(SECCOMP_PROFILE))
    stdout, stderr = _run("--seccomp", str(profile), "--without", "seccomp")
    assert _verdict(stdout) == "yes", stdout + stderr
    normal, _ = _run("--seccomp", str(profile), "--", *probe_command(["seccomp"]))
    assert _verdict(normal) == "no", normal


@needs_root
def test_seccomp_without_a_profile_is_a_usage_error() -> None:
    _, stderr = _run("--without", "seccomp")
    assert "this container loads no seccomp filter" in stderr


@needs_root
def test_private_left_out_propagates_to_the_host_and_is_cleaned() -> None:
    _, stderr = _run("--without", "private")
    assert "pivot_root refused (EINVAL" in stderr
    line = next(line for line in stderr.splitlines() if "the host's mount table had" in line)
    assert "rootfs/proc" in line and "rootfs/dev" in line
    assert "the host's mount table has 0 left there" in stderr
    _, normal_err = _run("--", "true")
    assert "the host's mount table had" not in normal_err


@needs_root
def test_idmap_is_refused_when_rootful() -> None:
    _, stderr = _run("--without", "idmap")
    assert "only a rootless container maps ids" in stderr


@needs_root
def test_idmap_left_out_stops_the_start_and_the_runtime_checks_the_claim() -> None:
    """Rootless without the maps (as root with --rootless: uid 0 is then unmapped as well; the
    same as the user nobody in tests/runtime/test_rootless.py): the overlay root cannot be mounted,
    and the runtime's child prints the probe's lines in the container's place."""
    name = f"without-{new_container_id()}"
    result = boxtrace("run", "--no-trace", "--rootless", "--name", name, "--without", "idmap", timeout=120)
    _assert_gone(name)
    assert result.returncode == 125, result.stderr
    assert _verdict(result.stdout) == "yes", result.stdout
    saw = next(line for line in result.stdout.splitlines() if line.startswith("saw:"))
    assert "uid 65534 gid 65534" in saw and "setresuid(0, 0, 0) fails with EINVAL" in saw
    assert "mount overlay on" in saw and "Permission denied: overlayfs" in saw
    error = [line for line in result.stderr.splitlines() if line.startswith("boxtrace: error:")]
    assert len(error) == 1 and "the container cannot start (without idmap" in error[0]
    # With the maps the same in-container script runs, as root inside: no.
    normal, normal_err = _run("--rootless", "--", *probe_command(["idmap"]))
    assert _verdict(normal) == "no", normal + normal_err


@needs_root
def test_idmap_left_out_on_a_bundle_stops_at_dev_null(tmp_path: Path) -> None:
    """A bundle's rootfs needs no overlay: the start gets to /dev, where the tmpfs mounted in the
    user namespace cannot own a file for an unmapped uid (EOVERFLOW)."""
    bundle = make_busybox_bundle(tmp_path / "bundle")
    name = f"without-{new_container_id()}"
    result = boxtrace(
        "run", "--no-trace", "--rootless", "--name", name, "--without", "idmap", str(bundle), timeout=120
    )
    _assert_gone(name)
    assert result.returncode == 125, result.stderr
    assert _verdict(result.stdout) == "yes", result.stdout
    saw = next(line for line in result.stdout.splitlines() if line.startswith("saw:"))
    assert "create devices: Value too large for defined data type" in saw and "/dev tmpfs" in saw


@needs_root
def test_traced_run_marks_the_step_where_it_would_have_been(tmp_path: Path) -> None:
    from boxtrace.lessons.explain import explain, left_out_step
    from boxtrace.tracer.tracefile import read_trace

    out = tmp_path / "trace.jsonl"
    result = boxtrace(
        "run", "--plain", "-q", "-o", str(out), "--without", "pivot_root", "--", "true", timeout=120
    )
    assert result.returncode == 0, result.stderr
    _, events = read_trace(str(out))
    names = [(left_out_step(ev), getattr(ev, "name", "")) for ev in events]
    marker = next(i for i, (step, _) in enumerate(names) if step == "pivot_root")
    # Where pivot_root would have been: just before the chroot that replaces it, and no pivot_root.
    assert [name for _, name in names[marker:]].index("chroot") < 4
    assert all(name != "pivot_root" for _, name in names)
    assert explain(events[marker]).title.startswith("Left out on purpose: pivot_root")


def test_the_tui_line_of_a_marker_and_of_a_verdict_stand_out() -> None:
    from boxtrace.tracer.events import Arg, OutputEvent, SyscallEvent
    from boxtrace.tui.render import LEFT_OUT_STYLE, PROBE_STYLE, styled_line

    marker = SyscallEvent(
        1, 0.1, 10, 10, "python", None, name="prctl", category_name="process",
        args=[Arg("option", 15, "PR_SET_NAME"), Arg("name", 0, '"skip:caps"')],
        result=0, result_text="0", detail={"option": "PR_SET_NAME", "name": "skip:caps"},
    )  # fmt: skip
    line = styled_line(marker)
    assert "LEFT OUT ON PURPOSE: caps" in line.plain
    assert any(str(span.style) == LEFT_OUT_STYLE for span in line.spans)
    verdict = styled_line(OutputEvent(2, 0.2, 10, 10, "sh", None, "stdout", "held:  yes\n"))
    assert any(str(span.style) == PROBE_STYLE for span in verdict.spans)
    plain = styled_line(OutputEvent(3, 0.3, 10, 10, "sh", None, "stdout", "hello\n"))
    assert not any(str(span.style) == PROBE_STYLE for span in plain.spans)

"""`--without` on the OCI path: config.json's annotation org.boxtrace.without, read by
`boxtrace-runtime create` (and runc's `run --bundle`), root only, with the same warning line; the
probes of lessons/probes.toml as the bundle's command show each claim, and `delete` undoes what a
weakened container leaves on the host."""

from __future__ import annotations

import json
from pathlib import Path

from boxtrace.lessons.probes import probe_command
from boxtrace.runtime.left_out import ANNOTATION
from tests.conftest import host_mounts, needs_root
from tests.runtime.oci_runtime import Runtime, bundle_with, wait_for

pytestmark = needs_root


def _weakened(path: Path, steps: str, probes: list[str]) -> Path:
    bundle = bundle_with(path, probe_command(probes))
    config = json.loads((bundle / "config.json").read_text())
    config["annotations"] = {ANNOTATION: steps}
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def test_annotation_leaves_steps_out_and_delete_cleans_up(rt: Runtime, tmp_path: Path) -> None:
    bundle = _weakened(tmp_path / "b", "caps,detach,private", ["caps", "detach"])
    mounts_before = host_mounts()
    assert rt("create", "--bundle", str(bundle), "lc-without").returncode == 0
    warning = rt.err.read_text().splitlines()
    assert warning == [
        "boxtrace-runtime: warning: this container is deliberately weakened: left out private,"
        f" detach, caps (config.json's annotation {ANNOTATION})"
    ]
    state = json.loads((rt.root / "lc-without" / "state.json").read_text())
    assert state["without"] == ["caps", "detach", "private"]
    assert rt.json("state", "lc-without")["annotations"] == {ANNOTATION: "caps,detach,private"}
    assert rt("start", "lc-without").returncode == 0
    wait_for(lambda: rt.output().count("held:") == 2, "both probes' verdicts")
    held = [line.split()[1] for line in rt.output().splitlines() if line.startswith("held:")]
    assert held == ["yes", "yes"], rt.output()
    wait_for(lambda: rt.status("lc-without") == "stopped", "the container to stop")
    assert rt("delete", "lc-without").returncode == 0
    assert not (bundle / "rootfs" / ".oldroot").exists()
    assert not {m for m in host_mounts() - mounts_before if "lc-without" in m}


def test_a_wrong_annotation_is_one_line_and_creates_nothing(rt: Runtime, tmp_path: Path) -> None:
    bundle = _weakened(tmp_path / "b", "caps,pivot", ["caps"])
    status, stderr = rt.fails("create", "--bundle", str(bundle), "lc-without-bad")
    assert status == 1
    assert stderr == (
        f"boxtrace-runtime: error: config.json: annotation {ANNOTATION}: no such step pivot;"
        " the steps are cgroup, devices, pidns, idmap, private, proc, masks, readonly, pivot_root,"
        " detach, nonewprivs, seccomp, caps\n"
    )
    status, stderr = rt.fails("--rootless", "true", "create", "--bundle", str(bundle), "lc-without-rl")
    assert status == 1 and stderr.count("\n") == 1
    assert f"annotation {ANNOTATION} is honoured only for a container run as root" in stderr
    bundle = _weakened(tmp_path / "b2", "idmap", ["idmap"])
    status, stderr = rt.fails("create", "--bundle", str(bundle), "lc-without-idmap")
    assert status == 1 and stderr.count("\n") == 1 and "remove idmap" in stderr
    assert not rt.root.exists() or not list(rt.root.iterdir())

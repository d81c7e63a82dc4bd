"""`boxtrace diff` on a pure cgroup v2 host (the VM lane runs it; on hybrid hosts it skips and says
where it runs): boxtrace's runtime against crun, which refuses hybrid hosts. Both confine devices
with an eBPF program, neither writes a v1 devices file, and no container id leaks into the report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from boxtrace.lessons.diff import CONCERNS, concern
from tests.conftest import boxtrace, make_busybox_bundle, needs_root

pytestmark = [needs_root, pytest.mark.cgroup_v2]
DEVICE_RULES = [name for name, _ in CONCERNS].index("device rules")


def test_boxtrace_vs_crun_on_pure_v2(tmp_path: Path) -> None:
    if shutil.which("crun") is None:
        pytest.skip("needs crun (Debian package crun)")
    bundle = make_busybox_bundle(tmp_path / "bundle")
    # Device rules as runc's default spec has them (deny all; the runtimes add the standard devices):
    # on v2 both runtimes compile them into an eBPF program.
    config = json.loads((bundle / "config.json").read_text())
    config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    (bundle / "config.json").write_text(json.dumps(config))
    ours, theirs = tmp_path / "boxtrace.jsonl", tmp_path / "crun.jsonl"
    name, cid = f"btv2box{os.getpid()}", f"btv2crun{os.getpid()}"
    result = boxtrace("run", str(bundle), "--plain", "-q", "--name", name, "-o", str(ours), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    try:
        result = boxtrace(
            "trace", "-q", "-o", str(theirs), "--", "crun", "run", "-b", str(bundle), cid, timeout=120
        )
    finally:
        subprocess.run(["crun", "delete", "-f", cid], capture_output=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]

    proc = boxtrace("diff", str(ours), str(theirs), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["a"]["name"], data["b"]["name"]) == ("boxtrace", "crun")
    rows = [r for p in data["phases"] for r in p["rows"]]
    # Both load a BPF_PROG_TYPE_CGROUP_DEVICE program: one step, on both sides, ranked as device rules.
    loads = [r for r in rows if (r["a"] or r["b"])["key"][:2] == ["bpf", "BPF_PROG_LOAD"]]
    bpf = [(r["kind"], (r["a"] or r["b"])["label"]) for r in rows if (r["a"] or r["b"])["syscall"] == "bpf"]
    assert any(r["a"] and r["b"] for r in loads), bpf
    assert concern(("bpf", "BPF_PROG_LOAD")) == DEVICE_RULES
    # Pure v2: no devices.allow/deny on either side.
    assert not [r for r in rows if (r["a"] or r["b"])["key"][:3] == ["cgroup", "write", "devices"]]
    # Ids, cgroup directories and their names are placeholders everywhere, titles included.
    text = boxtrace("diff", str(ours), str(theirs), "--plain").stdout
    assert name not in text and cid not in text and name not in proc.stdout and cid not in proc.stdout
    assert "the 5 that matter most" in text

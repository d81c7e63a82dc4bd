"""boxtrace against strace as the oracle: the same namespace and mount syscalls with the same flags."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from trace_helpers import trace

from tests.conftest import SLOWDOWN

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces, mounts, runc"),
    pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (the oracle)"),
]

CALLS = (
    "unshare,setns,clone,clone3,mount,umount2,pivot_root,chroot,"
    "fsopen,fsconfig,fsmount,fspick,move_mount,open_tree,mount_setattr"
)
_CALL_SET = frozenset(CALLS.split(","))
_FLAG = re.compile(
    r"\b(?:CLONE|MS|MNT|MOUNT_ATTR|FSCONFIG|FSMOUNT|FSOPEN|MOVE_MOUNT|OPEN_TREE|UMOUNT)_[A-Z0-9_]+\b"
)
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_LINE = re.compile(r"^(\d+) +(.*)$")
_CALL = re.compile(r"^(\w+)\((.*)\) += (.*)$")

Shape = tuple[str, tuple[str, ...], tuple[str, ...], str]


def shape(name: str, args: str, result: str, strings: bool) -> Shape | None:
    flags = tuple(sorted(set(_FLAG.findall(args))))
    if name in ("clone", "clone3") and not any(f.startswith("CLONE_NEW") for f in flags):
        return None  # only clones that create namespaces (boxtrace's filter traps just those)
    ok = "ok" if not result.startswith("-1") else result.split()[1]
    return (name, flags, tuple(_STRING.findall(args)) if strings else (), ok)


def strace_shapes(path: Path, strings: bool) -> Counter[Shape]:
    pending: dict[str, str] = {}
    out: Counter[Shape] = Counter()
    for line in path.read_text().splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        pid, rest = m.groups()
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
            continue
        resumed = re.match(r"^<\.\.\. \w+ resumed>(.*)$", rest)
        if resumed:
            rest = pending.pop(pid, "") + resumed.group(1)
        call = _CALL.match(rest)
        if call and call.group(1) in _CALL_SET:
            s = shape(call.group(1), call.group(2), call.group(3), strings)
            if s:
                out[s] += 1
    return out


def boxtrace_shapes(command: list[str], strings: bool) -> tuple[Counter[Shape], int]:
    done = trace(command)
    out: Counter[Shape] = Counter()
    for ev in done.syscalls():
        if ev.name in _CALL_SET:
            s = shape(ev.name, ", ".join(a.text for a in ev.args), ev.result_text or "?", strings)
            if s:
                out[s] += 1
    return out, done.result.exit_code


def run_strace(tmp: Path, command: list[str]) -> Path:
    out = tmp / "strace.out"
    subprocess.run(
        ["strace", "-f", "-qq", "-e", f"trace={CALLS}", "-o", str(out), *command],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=60 * SLOWDOWN,
    )
    return out


def test_unshare_all_namespaces(tmp_path: Path) -> None:
    command = ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--mount-proc", "true"]
    expected = strace_shapes(run_strace(tmp_path, command), strings=True)
    got, code = boxtrace_shapes(command, strings=True)
    assert code == 0
    assert expected, "strace saw no namespace or mount call"
    assert got == expected


def make_runc_bundle(root: Path, runtime: str = "runc") -> Path:
    busybox = shutil.which("busybox")
    if busybox is None or shutil.which(runtime) is None:
        pytest.skip(f"needs {runtime} and busybox")
    bundle = root / "bundle"
    bin_dir = bundle / "rootfs" / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(busybox, bin_dir / "busybox")
    # relative links: `busybox --install -s` would point them at the host path of the binary
    for applet in subprocess.run(
        [busybox, "--list"], capture_output=True, text=True, check=True
    ).stdout.split():
        if applet != "busybox":
            (bin_dir / applet).symlink_to("busybox")
    subprocess.run([runtime, "spec"], cwd=bundle, check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["args"] = ["/bin/true"]
    config["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def differential_run(tmp_path: Path, runtime: str) -> tuple[Counter[Shape], Counter[Shape], int]:
    """strace's and boxtrace's shapes of `RUNTIME run` of a busybox bundle, and boxtrace's status."""
    bundle = make_runc_bundle(tmp_path, runtime)
    ids = [f"boxtrace-diff-{os.getpid()}-{n}" for n in ("strace", "boxtrace")]
    try:
        expected = strace_shapes(
            run_strace(tmp_path, [runtime, "run", "-b", str(bundle), ids[0]]), strings=False
        )
        got, code = boxtrace_shapes([runtime, "run", "-b", str(bundle), ids[1]], strings=False)
    finally:
        for cid in ids:
            subprocess.run([runtime, "delete", "-f", cid], capture_output=True, check=False)
    return expected, got, code


def test_runc_run_busybox(tmp_path: Path) -> None:
    expected, got, code = differential_run(tmp_path, "runc")
    assert code == 0
    names = {s[0] for s in expected}
    assert {"mount", "pivot_root", "umount2", "unshare"} <= names
    assert got == expected


@pytest.mark.cgroup_v2  # crun refuses hybrid hosts ("cgroups in hybrid mode not supported")
def test_crun_run_busybox(tmp_path: Path) -> None:
    expected, got, code = differential_run(tmp_path, "crun")
    assert code == 0
    names = {s[0] for s in expected}
    assert {"clone3", "mount", "pivot_root", "umount2"} <= names
    assert any("CLONE_INTO_CGROUP" in s[1] for s in expected if s[0] == "clone3")
    assert got == expected

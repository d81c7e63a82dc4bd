"""Every step of the field's runtimes is explained specifically: recorded traces of crun, bubblewrap,
systemd-nspawn, LXC and unshare (tests/lessons/data/runtimes/, gzipped JSON Lines) and runc
(data/runc-run.jsonl) are covered 100%, without root; as root, the runtimes installed here are
recorded again and must be covered too (a new runtime version that makes a new step fails here)."""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxtrace.lessons.explain import explain
from boxtrace.lessons.model import Explanation
from boxtrace.tracer.events import SyscallEvent
from boxtrace.tracer.tracefile import read_trace
from tests.conftest import IS_ROOT, boxtrace, make_busybox_bundle

DATA = Path(__file__).parent / "data"
RUNTIMES = DATA / "runtimes"

# Fixture -> how it was recorded (docs/lessons.md "Coverage per runtime" has the table).
FIXTURES = {
    "crun.jsonl.gz": "crun run, in a mount namespace without the cgroup2 tree (crun refuses hybrid hosts)",
    "bwrap.jsonl.gz": "bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc true",
    "systemd-nspawn.jsonl.gz": "systemd-nspawn -q --register=no --keep-unit -D ROOTFS /bin/true",
    "lxc-execute.jsonl.gz": "lxc-execute -P LXCPATH -n NAME -- /bin/true",
    "unshare.jsonl.gz": "unshare --fork --pid --mount --uts --ipc --net --mount-proc true",
}


def unpacked(name: str, into: Path) -> Path:
    if name.endswith(".gz"):
        out = into / name.removesuffix(".gz")
        out.write_bytes(gzip.decompress((RUNTIMES / name).read_bytes()))
        return out
    return DATA / name


def assert_full_coverage(trace: Path) -> None:
    result = boxtrace("explain", "--coverage", str(trace))
    assert result.returncode == 0, result.stderr
    total = len(read_trace(str(trace))[1])
    assert total > 10
    assert result.stdout.splitlines()[-1] == f"coverage: {total}/{total} events explained specifically", (
        result.stdout[-3000:]
    )


@pytest.mark.parametrize("name", [*sorted(FIXTURES), "runc-run.jsonl"])
def test_recorded_runtime_is_explained_specifically(name: str, tmp_path: Path) -> None:
    assert_full_coverage(unpacked(name, tmp_path))


def test_the_fixtures_are_all_listed() -> None:
    assert sorted(p.name for p in RUNTIMES.iterdir()) == sorted(FIXTURES)


def explained(name: str, tmp_path: Path) -> Iterator[tuple[SyscallEvent, Explanation]]:
    _, events = read_trace(str(unpacked(name, tmp_path)))
    for event in events:
        if isinstance(event, SyscallEvent):
            yield event, explain(event)


def test_nspawn_dev_char_links_and_inaccessible_nodes(tmp_path: Path) -> None:
    seen: dict[str, str] = {}
    for event, explanation in explained("systemd-nspawn.jsonl.gz", tmp_path):
        path = str(event.detail.get("path", ""))
        if "/dev/char/" in path:
            assert "devlink.char" in explanation.entries
            seen.setdefault("char", explanation.what)
        elif "/run/host/inaccessible/" in path:
            assert "device.inaccessible" in explanation.entries
            seen[path.rsplit("/", 1)[-1]] = explanation.what
    assert seen["char"].endswith("Link `/tmp/ea/nsroot/dev/char/1:3` -> `../null`.")
    assert {"chr", "blk"} <= seen.keys()
    assert "major `0`, minor `0`, mode `000`" in seen["blk"]


def test_mknod_names_the_file_type(tmp_path: Path) -> None:
    types = {}
    for event, explanation in explained("systemd-nspawn.jsonl.gz", tmp_path):
        if event.name == "mknodat":
            types[event.detail["type"]] = [n.name for n in explanation.flags]
    assert types == {"character device": ["S_IFCHR"], "block device": ["S_IFBLK"]}


# --- live: record the runtimes installed here again ------------------------------------------------


def record(out: Path, *command: str, cwd: Path | None = None) -> Path:
    result = boxtrace("trace", "-o", str(out), "--", *command, timeout=120, cwd=cwd)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def need(program: str, package: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"needs {program} (Debian package {package})")


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.skipif(not IS_ROOT, reason="needs root: records traces of real containers")
def test_live_bwrap(tmp_path: Path) -> None:
    need("bwrap", "bubblewrap")
    trace = tmp_path / "bwrap.jsonl"
    record(trace, "bwrap", "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true")
    assert_full_coverage(trace)


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.skipif(not IS_ROOT, reason="needs root: records traces of real containers")
def test_live_systemd_nspawn(tmp_path: Path) -> None:
    need("systemd-nspawn", "systemd-container")
    rootfs = make_busybox_bundle(tmp_path / "bundle") / "rootfs"
    # nspawn wants something that looks like an OS tree.
    (rootfs / "usr").mkdir(exist_ok=True)
    (rootfs / "etc" / "os-release").write_text("ID=busybox\n")
    trace = tmp_path / "nspawn.jsonl"
    # nspawn keeps empty lock and propagation directories here: remove them if it made them.
    state = Path("/run/systemd/nspawn")
    existed = state.exists()
    try:
        # No system bus here (no systemd as init): --register=no --keep-unit avoid machined and scopes.
        record(trace, "systemd-nspawn", "-q", "--register=no", "--keep-unit", "-D", str(rootfs), "/bin/true")
    finally:
        if not existed:
            for directory in (state / "locks", state / "propagate", state):
                with contextlib.suppress(OSError):
                    directory.rmdir()
    assert_full_coverage(trace)


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.skipif(not IS_ROOT, reason="needs root: records traces of real containers")
def test_live_crun(tmp_path: Path) -> None:
    need("crun", "crun")
    need("unshare", "util-linux")
    bundle = make_busybox_bundle(tmp_path / "bundle")
    cid = f"bxcrun{os.getpid()}"
    trace = tmp_path / "crun.jsonl"
    # crun refuses a hybrid host whose cgroup2 hierarchy has controllers ("cgroups in hybrid mode not
    # supported"); in a mount namespace without /sys/fs/cgroup/unified it sees cgroup v1 and runs.
    unified = "/sys/fs/cgroup/unified"
    script = f'if mountpoint -q {unified}; then umount {unified}; fi; exec "$@"'
    try:
        record(
            trace,
            "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
            "crun", "run", "-b", str(bundle), cid,
        )  # fmt: skip
    finally:
        subprocess.run(["crun", "delete", "-f", cid], capture_output=True, check=False)
    assert_full_coverage(trace)


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.skipif(not IS_ROOT, reason="needs root: records traces of real containers")
def test_live_lxc_execute(tmp_path: Path) -> None:
    need("lxc-execute", "lxc")
    rootfs = make_busybox_bundle(tmp_path / "bundle") / "rootfs"
    name = f"bxlxc{os.getpid()}"
    lxcpath = Path(tempfile.mkdtemp(dir=tmp_path))
    (lxcpath / name).mkdir()
    (lxcpath / name / "config").write_text(
        f"lxc.uts.name = {name}\nlxc.rootfs.path = dir:{rootfs}\nlxc.autodev = 1\n"
        "lxc.mount.auto = proc:mixed sys:ro\nlxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\n"
    )
    # LXC's monitor moves itself into an "lxc.pivot" cgroup it never removes: remove ours.
    pivots = {str(p) for p in Path("/sys/fs/cgroup").glob("*/lxc.pivot")}
    trace = tmp_path / "lxc.jsonl"
    try:
        record(trace, "lxc-execute", "-P", str(lxcpath), "-n", name, "--", "/bin/true")
    finally:
        for made in {str(p) for p in Path("/sys/fs/cgroup").glob("*/lxc.pivot")} - pivots:
            with contextlib.suppress(OSError):
                os.rmdir(made)
    assert_full_coverage(trace)

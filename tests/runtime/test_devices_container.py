"""Device rules seen from inside real containers (root): the host's disk stays out of reach.

On cgroup v1 the rules are devices.deny/devices.allow; on a pure v2 host they are an eBPF program
on the container's cgroup. Each test runs once: natively on a v1 or hybrid host, or marked
``cgroup_v2`` on a pure v2 host (the VM lane), where it also checks that the program is attached.
An EPERM ("Operation not permitted") comes from the device rules; a driver's own error (ENXIO of
/dev/tty without a controlling terminal, EIO of a locked pty) means the rules let the open through.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from boxtrace.runtime import cgroup_bpf
from tests.conftest import IS_CGROUP_V2, boxtrace, make_busybox_bundle, needs_root
from tests.engines import busybox_tarball, podman_store
from tests.runtime.oci_runtime import Runtime

pytestmark = needs_root

HOSTS = [
    pytest.param("native", marks=pytest.mark.skipif(IS_CGROUP_V2, reason="the v2 variant runs on this host")),
    pytest.param("v2", marks=pytest.mark.cgroup_v2),
]
EPERM_TEXT = "Operation not permitted"
# Opens each device read-write (3<>) and prints "NAME ok" or "NAME <the shell's error>".
PROBE = 'for d in {devices}; do if e=$( (exec 3<>$d) 2>&1); then echo "$d ok"; else echo "$d $e"; fi; done'
OCI_DEVICES = "/dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/ptmx /dev/pts/0"


def probe(devices: str) -> str:
    return PROBE.format(devices=devices)


def lines_by_device(output: str) -> dict[str, str]:
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in output.splitlines() if " " in line}


def program_count(cgroup_dir: str) -> int:
    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return len(cgroup_bpf.query_device_programs(fd))
    finally:
        os.close(fd)


def bundle_with_nodes(path: Path, args: list[str], devices: list[dict[str, object]]) -> Path:
    """A busybox bundle with CAP_MKNOD, linux.resources.devices, and device nodes made on the
    host in its rootfs: /tun (c 10:200), /fuse (c 10:229), /loop0 (b 7:0)."""
    bundle = make_busybox_bundle(path, args)
    config = json.loads((bundle / "config.json").read_text())
    for name in ("bounding", "effective", "permitted"):
        config["process"]["capabilities"][name].append("CAP_MKNOD")
    config.setdefault("linux", {}).setdefault("resources", {})["devices"] = devices
    config["mounts"].append(
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
        }
    )
    (bundle / "config.json").write_text(json.dumps(config))
    for name, kind, major, minor in (
        ("tun", stat.S_IFCHR, 10, 200),
        ("fuse", stat.S_IFCHR, 10, 229),
        ("loop0", stat.S_IFBLK, 7, 0),
    ):
        os.mknod(bundle / "rootfs" / name, kind | 0o600, os.makedev(major, minor))
    return bundle


@pytest.mark.parametrize("host", HOSTS)
def test_run_the_host_disk_stays_out_of_reach(host: str) -> None:
    """The escape of a container without device rules: root has CAP_MKNOD, makes a node of the
    host's first disk and reads it. boxtrace run's default rules refuse the mknod."""
    disk = _first_disk()
    script = f"mknod /tmp/disk b {disk[0]} {disk[1]} && head -c 16 /tmp/disk; echo status=$?"
    result = boxtrace("run", "--no-trace", "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    assert EPERM_TEXT in result.stderr and "status=1" in result.stdout
    assert "skipped" not in result.stderr


@pytest.mark.parametrize("host", HOSTS)
def test_run_the_oci_devices_work(host: str) -> None:
    script = (
        "exec 4<>/dev/ptmx; "  # makes /dev/pts/0 (locked: its open says EIO, not EPERM)
        + probe(OCI_DEVICES)
        + "; head -c 4 /dev/urandom | wc -c; echo data > /dev/null && echo null-written"
    )
    result = boxtrace("run", "--no-trace", "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    seen = lines_by_device(result.stdout)
    assert set(seen) >= set(OCI_DEVICES.split())
    for device in ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/ptmx"):
        assert seen[device] == "ok", result.stdout
    assert all(EPERM_TEXT not in seen[d] for d in OCI_DEVICES.split()), result.stdout
    assert "4\nnull-written" in result.stdout


@pytest.mark.parametrize("host", HOSTS)
def test_bundle_allow_rule_lets_exactly_one_device_through(host: str, tmp_path: Path) -> None:
    devices: list[dict[str, object]] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
    ]
    script = (
        probe("/tun /fuse /loop0 /dev/null")
        + "; mknod /dev/loop b 7 0 2>&1; mknod /dev/tun2 c 10 200 && echo made"
    )
    bundle = bundle_with_nodes(tmp_path / "bundle", ["sh", "-c", script], devices)
    result = boxtrace("run", "--no-trace", str(bundle))
    assert result.returncode == 0, result.stderr
    seen = lines_by_device(result.stdout)
    assert seen["/tun"] == "ok" and seen["/dev/null"] == "ok"
    assert EPERM_TEXT in seen["/fuse"] and EPERM_TEXT in seen["/loop0"]
    assert f"/dev/loop: {EPERM_TEXT}" in result.stdout and "made" in result.stdout


@pytest.mark.parametrize("host", HOSTS)
def test_update_replaces_the_device_rules(host: str, rt: Runtime, tmp_path: Path) -> None:
    bundle = bundle_with_nodes(tmp_path / "bundle", ["sleep", "60"], [{"allow": False, "access": "rwm"}])
    assert rt("create", "--bundle", str(bundle), "lc-dev").returncode == 0, rt.err.read_text()
    assert rt("start", "lc-dev").returncode == 0, rt.err.read_text()
    try:
        dirs: list[str] = json.loads((rt.root / "lc-dev" / "state.json").read_text())["cgroups"]
        before = rt.capture("exec", "lc-dev", "sh", "-c", probe("/tun /fuse"))
        assert EPERM_TEXT in lines_by_device(before.stdout)["/tun"], before.stdout
        devices = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 10, "minor": 200}]
        result = rt.capture("update", "--resources", "-", "lc-dev", stdin=json.dumps({"devices": devices}))
        assert result.returncode == 0, result.stderr
        after = lines_by_device(
            rt.capture("exec", "lc-dev", "sh", "-c", probe("/tun /fuse /dev/null")).stdout
        )
        assert after["/tun"] == "ok" and after["/dev/null"] == "ok"
        assert EPERM_TEXT in after["/fuse"]
        if host == "v2":
            assert program_count(dirs[0]) == 1  # the old program was detached
    finally:
        rt("delete", "--force", "lc-dev")


@pytest.mark.slow
@pytest.mark.parametrize("host", HOSTS)
def test_podman_with_boxtrace_runtime_refuses_the_host_disk(host: str, tmp_path: Path) -> None:
    """podman passes its rules (deny all, then the OCI devices); with CAP_MKNOD added the node of
    the host's disk still cannot be made, and the OCI devices work."""
    from tests.runtime.test_podman_docker import ULIMITS, run, runtime_wrapper

    wrapper, calls = runtime_wrapper(tmp_path)
    tarball = busybox_tarball(tmp_path / "busybox.tar", ("sh", "head", "mknod", "cat", "grep"))
    major, minor = _first_disk()
    script = (
        "grep CapEff /proc/self/status; "
        f"mknod /dev/disk0 b {major} {minor} && head -c 16 /dev/disk0 && echo READ; "
        "head -c 1 /dev/zero | cat >/dev/null && echo zero-ok"
    )
    with podman_store(tarball, "localhost/boxtrace-test") as podman:
        command = [*podman, "--runtime", str(wrapper), "run", "--rm", "--cap-add", "MKNOD", *ULIMITS]
        result: subprocess.CompletedProcess[str] = run(
            [*command, "localhost/boxtrace-test", "sh", "-c", script]
        )
    assert "create" in calls.read_text()
    effective = int(result.stdout.split("CapEff:", 1)[1].split()[0], 16)
    assert effective & 1 << 27, "CAP_MKNOD was added"
    assert f"mknod: /dev/disk0: {EPERM_TEXT}" in result.stderr, result.stderr
    assert "READ" not in result.stdout and "zero-ok" in result.stdout


def _first_disk() -> tuple[int, int]:
    """major:minor of the host's first whole disk in /proc/partitions (a loop device if none)."""
    with open("/proc/partitions") as handle:
        for line in handle.read().splitlines()[2:]:
            major, minor, _, name = line.split()
            if os.path.exists(f"/sys/block/{name}") and not name.startswith(("loop", "ram", "zram")):
                return int(major), int(minor)
    return 7, 0

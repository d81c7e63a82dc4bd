"""Real containers from the built-in runtime (root): isolation, limits, exit codes, signals, cleanup.

The autouse fixture in conftest.py checks after every test that the host has the same mounts and
cgroups as before.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import boxtrace, make_busybox_bundle, needs_root

pytestmark = needs_root


def run_in_container(script: str, *options: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return boxtrace("run", "--no-trace", *options, "--", "sh", "-c", script, timeout=timeout)


def test_default_container_shows_isolation() -> None:
    result = boxtrace("run", "--no-trace")
    assert result.returncode == 0, result.stderr
    assert "I am PID 1 in my own PID namespace; my hostname is boxtrace." in result.stdout
    assert "overlay / overlay" in result.stdout


def test_pid_1_hostname_and_few_processes() -> None:
    result = run_in_container("echo pid=$$; hostname; ps -o pid= | wc -l", "--hostname", "testbox")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[0] == "pid=1"
    assert lines[1] == "testbox"
    assert int(lines[2]) <= 3  # sh, ps, wc: nothing of the host


def test_capabilities_and_no_new_privs() -> None:
    result = run_in_container("grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs)' /proc/self/status")
    status = dict(line.split(":\t") for line in result.stdout.splitlines())
    assert status["CapEff"] == "00000000a80425fb"
    assert status["CapBnd"] == "00000000a80425fb"
    assert status["NoNewPrivs"] == "1"


def test_no_cap_sys_admin_mount_fails() -> None:
    result = run_in_container("mount -t tmpfs none /tmp && echo MOUNTED; echo done")
    assert "MOUNTED" not in result.stdout
    assert "permission denied" in result.stderr.lower() or "not permitted" in result.stderr.lower()


def test_masked_and_readonly_paths() -> None:
    script = (
        "cat /proc/keys | wc -c; ls /sys/firmware | wc -l; "
        "echo x > /proc/sys/kernel/hostname 2>/dev/null && echo WRITABLE || echo READONLY"
    )
    result = run_in_container(script)
    assert result.stdout.split() == ["0", "0", "READONLY"]
    if os.path.exists("/proc/kcore"):
        assert run_in_container("wc -c < /proc/kcore").stdout.strip() == "0"


def test_host_paths_invisible(tmp_path: Path) -> None:
    marker = tmp_path / "host-only-marker"
    marker.write_text("secret")
    result = run_in_container(f"ls {marker} 2>&1; ls /work /root/.pyenv 2>&1 | head -2")
    assert "No such file or directory" in result.stdout
    assert "secret" not in result.stdout


def test_dev_is_complete() -> None:
    result = run_in_container(
        "ls /dev; readlink /dev/ptmx; readlink /dev/fd; readlink /dev/stdin; "
        "echo hi > /dev/null; head -c 4 /dev/zero | wc -c"
    )
    names = set(result.stdout.split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue"} <= names
    assert {"pts/ptmx", "/proc/self/fd", "/proc/self/fd/0"} <= names
    assert result.stdout.split()[-1] == "4"


def test_loopback_is_up() -> None:
    result = run_in_container(
        "cat /sys/class/net/lo/operstate; cat /sys/class/net/lo/flags; ls /sys/class/net"
    )
    flags = int(result.stdout.split()[1], 16)
    assert flags & 0x1, "IFF_UP not set on lo"
    assert result.stdout.split()[2:] == ["lo"]


def test_pids_limit_stops_fork_storm() -> None:
    result = run_in_container(
        "i=0; while [ $i -lt 64 ]; do sleep 5 & i=$((i+1)); done; echo forked", "--pids", "16"
    )
    assert "can't fork" in result.stderr or "Resource temporarily unavailable" in result.stderr
    assert "forked" not in result.stdout


def test_memory_limit_ends_hog_with_137() -> None:
    result = run_in_container("exec tail /dev/zero", "--memory", "32m", timeout=120)
    assert result.returncode == 137
    assert "OOM killer" in result.stderr


def test_cpu_limit_is_written() -> None:
    result = run_in_container(
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max",
        "--cpus",
        "0.5",
    )
    assert result.stdout.strip() == "50000"


def test_in_its_cgroup_before_exec() -> None:
    # /proc/self/cgroup inside shows the cgroup namespace root "/" for every hierarchy it joined.
    result = run_in_container("cat /proc/self/cgroup", "--pids", "50")
    pids_line = next(
        line for line in result.stdout.splitlines() if ":pids:" in line or line.startswith("0::")
    )
    assert pids_line.endswith(":/")
    assert "pids.max" not in result.stderr


@pytest.mark.parametrize(
    ("script", "code"), [("exit 0", 0), ("exit 7", 7), ("sh -c 'kill -9 $$'; exit $?", 137)]
)
def test_exit_codes_propagate(script: str, code: int) -> None:
    assert run_in_container(script).returncode == code


def test_nonexistent_command_exits_127() -> None:
    result = boxtrace("run", "--no-trace", "--", "no-such-command")
    assert result.returncode == 127
    assert result.stderr.strip().splitlines() == [
        "boxtrace: error: container command not found: no-such-command: executable file not found "
        "in $PATH (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)"
    ]


def test_user_option() -> None:
    result = run_in_container("id -u; id -g; grep CapEff /proc/self/status", "--user", "nobody")
    assert result.stdout.split()[:2] == ["65534", "65534"]
    assert result.stdout.split()[-1] == "0000000000000000"


def test_env_and_workdir() -> None:
    result = run_in_container("echo $GREETING; pwd", "-e", "GREETING=hello", "-w", "/var/lib/app")
    assert result.stdout.split() == ["hello", "/var/lib/app"]


def test_writable_layer_is_discarded() -> None:
    assert run_in_container("echo data > /root/file; cat /root/file").stdout.strip() == "data"
    assert "No such file" in run_in_container("cat /root/file 2>&1").stdout


def test_keep_keeps_the_upper_layer() -> None:
    result = run_in_container("echo kept > /root/file", "--keep", "--name", "keeptest")
    assert "kept the container's writable layer" in result.stderr
    upper = Path(result.stderr.split("writable layer: ")[1].split()[0])
    try:
        assert (upper / "root" / "file").read_text() == "kept\n"
    finally:
        shutil.rmtree(upper.parent)


def test_bundle_runs_with_its_spec(busybox_bundle: Path) -> None:
    result = boxtrace(
        "run",
        "--no-trace",
        str(busybox_bundle),
        "--",
        "sh",
        "-c",
        "hostname; touch /x 2>&1; grep CapEff /proc/self/status",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0] == "bundle"
    assert "Read-only file system" in out[1]  # root.readonly
    assert out[2].split()[-1] == "0000000020000420"  # AUDIT_WRITE, KILL, NET_BIND_SERVICE
    assert not (busybox_bundle / "rootfs" / "x").exists()


def start_container(script: str) -> subprocess.Popen[str]:
    """`boxtrace run --no-trace -- sh -c SCRIPT`, returned once the script printed "ready"."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "boxtrace", "run", "--no-trace", "--", "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def signal_and_wait(proc: subprocess.Popen[str], sig: int) -> tuple[str, str]:
    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=30)
    finally:
        proc.kill()  # only matters when the test fails: never leave a container behind
        proc.wait()


def test_sigterm_is_forwarded_and_everything_removed() -> None:
    proc = start_container("trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.1; done")
    out, _ = signal_and_wait(proc, signal.SIGTERM)
    assert "got-term" in out
    assert proc.returncode == 3


def test_sigint_kills_a_container_that_ignores_it() -> None:
    # trap '' INT: ignore SIGINT for sure (a shell may catch it itself and exit 130)
    proc = start_container("trap '' INT; echo ready; while :; do sleep 1; done")
    _, err = signal_and_wait(proc, signal.SIGINT)
    assert proc.returncode == 137, err
    assert "did not stop after SIGINT; killing it" in err


def _bundle_with(bundle: Path, tmp_path: Path, **linux: object) -> Path:
    """A copy of the busybox bundle's config (same rootfs) with extra linux.* fields."""
    config = json.loads((bundle / "config.json").read_text())
    config["root"]["path"] = str(bundle / "rootfs")
    config["linux"].update(linux)
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_join_network_namespace_by_path(busybox_bundle: Path, tmp_path: Path) -> None:
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        time.sleep(0.2)
        path = f"/proc/{holder.pid}/ns/net"
        namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")] + [
            {"type": "network", "path": path}
        ]
        bundle = _bundle_with(busybox_bundle, tmp_path, namespaces=namespaces)
        result = boxtrace("run", "--no-trace", str(bundle), "--", "readlink", "/proc/self/ns/net")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == os.readlink(path)
    finally:
        holder.kill()
        holder.wait()


def test_user_namespace_with_mappings_as_root() -> None:
    # The namespace's root is host uid 100000: the bundle must be reachable by it, and pytest's
    # tmp_path sits under a 0700 directory.
    top = Path(tempfile.mkdtemp(prefix="boxtrace-userns-test-"))
    try:
        top.chmod(0o755)
        bundle = make_busybox_bundle(top / "b")
        config = json.loads((bundle / "config.json").read_text())
        mapping = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        config["linux"]["namespaces"] = [
            {"type": t} for t in ("user", "pid", "ipc", "uts", "mount", "network")
        ]
        config["linux"]["uidMappings"] = config["linux"]["gidMappings"] = mapping
        (bundle / "config.json").write_text(json.dumps(config))
        result = boxtrace("run", "--no-trace", str(bundle), "--", "sh", "-c", "id -u; cat /proc/self/uid_map")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "0"
        assert lines[1].split() == ["0", "100000", "65536"]
    finally:
        shutil.rmtree(top)

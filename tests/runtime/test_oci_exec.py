"""exec, pause, resume and update on real containers (root): a busybox container created and
started with `sleep`, then a second process put into it, its cgroup frozen and thawed, its limits
changed; every container deleted and nothing left behind (the ``rt`` fixture checks)."""

from __future__ import annotations

import fcntl
import json
import os
import select
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from boxtrace.runtime import freezer
from tests.conftest import make_busybox_bundle, needs_root
from tests.runtime.oci_runtime import RUNTIME, Runtime, wait_for

pytestmark = needs_root

DEVPTS = {
    "destination": "/dev/pts",
    "type": "devpts",
    "source": "devpts",
    "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
}
NAMESPACES = ("pid", "net", "ipc", "uts", "mnt")


def start_container(
    rt: Runtime, tmp_path: Path, cid: str, script: str = "exec sleep 60", oom_score_adj: int | None = None
) -> int:
    """Create and start a busybox container running ``script``; its first process's pid."""
    bundle = make_busybox_bundle(tmp_path / f"bundle-{cid}", ["sh", "-c", script])
    config = json.loads((bundle / "config.json").read_text())
    config["mounts"].append(DEVPTS)
    if oom_score_adj is not None:
        config["process"]["oomScoreAdj"] = oom_score_adj
    (bundle / "config.json").write_text(json.dumps(config))
    (bundle / "rootfs" / "only-in-the-bundle").write_text("from the bundle's rootfs\n")
    assert rt("create", "--bundle", str(bundle), cid).returncode == 0, rt.err.read_text()
    assert rt("start", cid).returncode == 0, rt.err.read_text()
    return int(rt.json("state", cid)["pid"])  # type: ignore[call-overload]


def cgroup_dirs(rt: Runtime, cid: str) -> list[str]:
    dirs: list[str] = json.loads((rt.root / cid / "state.json").read_text())["cgroups"]
    return dirs


def cgroup_file(dirs: list[str], name: str) -> Path:
    """The file ``name`` in whichever of the container's cgroup directories has it."""
    found = [Path(d) / name for d in dirs if (Path(d) / name).exists()]
    assert found, f"no {name} in {dirs}"
    return found[0]


# --- exec -------------------------------------------------------------------------------------------------


def test_exec_runs_inside_the_containers_namespaces_root_and_cgroup(rt: Runtime, tmp_path: Path) -> None:
    init = start_container(rt, tmp_path, "ex-1")
    result = rt.capture(
        "exec", "ex-1", "sh", "-c", "hostname; cat /only-in-the-bundle; echo pid $$; ps -o pid,comm; true"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["bundle", "from the bundle's rootfs"]
    own_pid = int(lines[2].split()[1])
    assert own_pid > 1  # a new process of the container's pid namespace, whose 1 is sleep
    processes = {int(p): c for p, c in (line.split() for line in lines[4:])}
    assert processes[1] == "sleep" and processes[own_pid] == "sh"

    # From the host: every namespace and cgroup is the first process's; NSpid has both levels.
    pid_file = tmp_path / "exec.pid"
    assert rt("exec", "--detach", "--pid-file", str(pid_file), "ex-1", "sleep", "30").returncode == 0
    pid = int(pid_file.read_text())
    for ns in NAMESPACES:
        assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{init}/ns/{ns}"), ns
    assert Path(f"/proc/{pid}/cgroup").read_text() == Path(f"/proc/{init}/cgroup").read_text()
    status = Path(f"/proc/{pid}/status").read_text()
    nspid = next(line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:"))
    assert len(nspid) == 2 and nspid[0] == str(pid) and int(nspid[1]) > 1
    assert os.path.exists(f"/proc/{pid}/root/only-in-the-bundle")
    assert pid in rt.json("ps", "--format", "json", "ex-1")  # type: ignore[operator]
    assert rt("delete", "--force", "ex-1").returncode == 0
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), "the exec'd process to die with the container")


def test_oom_score_adj_reaches_the_container_and_what_exec_starts(rt: Runtime, tmp_path: Path) -> None:
    """process.oomScoreAdj (Docker sets it on every container) is the container's process's, and
    an exec'd process gets the container's too, as with runc: not the runtime's own."""
    init = start_container(rt, tmp_path, "ex-oom", oom_score_adj=500)
    assert Path(f"/proc/{init}/oom_score_adj").read_text() == "500\n"
    result = rt.capture("exec", "ex-oom", "cat", "/proc/self/oom_score_adj")
    assert (result.returncode, result.stdout) == (0, "500\n"), result.stderr
    rt("delete", "--force", "ex-oom")


def _has_cap_sys_resource() -> bool:
    status = Path("/proc/self/status").read_text()
    effective = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("CapEff:"))
    return bool(effective & 1 << 24)  # CAP_SYS_RESOURCE


def test_a_lower_oom_score_needs_cap_sys_resource(rt: Runtime, tmp_path: Path) -> None:
    """Below the floor a privileged ancestor set (0 from boot) only CAP_SYS_RESOURCE goes: with
    it the container gets the value; without it (some sandboxes' root) create fails in one line,
    as runc's init does, and leaves nothing."""
    bundle = make_busybox_bundle(tmp_path / "bundle-oom-low", ["cat", "/proc/self/oom_score_adj"])
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["oomScoreAdj"] = -10
    (bundle / "config.json").write_text(json.dumps(config))
    if _has_cap_sys_resource():
        assert rt("run", "--bundle", str(bundle), "ex-oom-low").returncode == 0, rt.err.read_text()
        assert rt.output() == "-10\n"
        return
    status, stderr = rt.fails("create", "--bundle", str(bundle), "ex-oom-low")
    assert status == 1
    assert stderr == (
        "boxtrace-runtime: error: process.oomScoreAdj -10: refused (Permission denied): going below the"
        " lowest value a privileged ancestor set (0 unless one set another) needs CAP_SYS_RESOURCE, which"
        " this runtime lacks\n"
    )
    assert not (rt.root / "ex-oom-low").exists()


def test_exec_exit_status_and_signals_pass_through(rt: Runtime, tmp_path: Path) -> None:
    start_container(rt, tmp_path, "ex-2")
    assert rt.capture("exec", "ex-2", "sh", "-c", "exit 7").returncode == 7
    assert rt.capture("exec", "ex-2", "sh", "-c", "kill -9 $$").returncode == 128 + 9
    # stdin reaches the process; a "--" after the id is not part of the command
    result = rt.capture("exec", "ex-2", "--", "sh", "-c", "read line; echo got $line", stdin="hello\n")
    assert result.stdout == "got hello\n"
    rt("delete", "--force", "ex-2")


def test_exec_flags_change_the_process(rt: Runtime, tmp_path: Path) -> None:
    start_container(rt, tmp_path, "ex-3")
    result = rt.capture(
        "exec", "-u", "1000:1000", "-g", "5", "-e", "GREETING=hi", "--cwd", "/tmp", "--cap", "NET_ADMIN",
        "ex-3", "sh", "-c", "id; echo $GREETING; pwd; grep CapBnd /proc/self/status",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["uid=1000 gid=1000 groups=5", "hi", "/tmp"]
    bounding = int(lines[3].split()[1], 16)
    assert bounding & (1 << 12)  # CAP_NET_ADMIN, added to the config's set
    assert bounding & (1 << 5)  # CAP_KILL, from config.json
    rt("delete", "--force", "ex-3")


def test_exec_process_json_as_podman_and_containerd_pass_it(rt: Runtime, tmp_path: Path) -> None:
    start_container(rt, tmp_path, "ex-4")
    process = {
        "user": {"uid": 0, "gid": 0, "additionalGids": [0]},
        "args": ["sh", "-c", "echo $WHO in $(pwd); grep -c . /only-in-the-bundle"],
        "env": ["PATH=/bin", "WHO=process.json"],
        "cwd": "/dev",
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}],
        "oomScoreAdj": 0,  # read, as runc reads it; the container's own value is the one applied
        "apparmorProfile": "docker-default",
    }
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    log = tmp_path / "log.json"
    result = rt.capture("--log", str(log), "--log-format", "json", "exec", "--process", str(path), "ex-4")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "process.json in /dev\n1\n"
    # what boxtrace does not apply is said, in the log (Docker's containerd reads it)
    assert "process.apparmorProfile is not supported" in log.read_text()
    process["args"] = ["sh", "-c", "ulimit -n; ulimit -Hn"]
    path.write_text(json.dumps(process))
    assert rt.capture("exec", "-p", str(path), "ex-4").stdout == "256\n512\n"
    rt("delete", "--force", "ex-4")


def test_detached_exec_is_reparented_to_the_callers_subreaper(rt: Runtime, tmp_path: Path) -> None:
    """What conmon and the containerd shim rely on: exec --detach returns, and the process
    becomes the child of the nearest subreaper, which collects its exit status."""
    start_container(rt, tmp_path, "ex-5")
    pid_file = tmp_path / "pid"
    subreaper = (
        "import ctypes, os, subprocess, sys\n"
        "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER\n"
        "done = subprocess.run(sys.argv[2:])\n"
        "pid = int(open(sys.argv[1]).read())\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(done.returncode, os.waitstatus_to_exitcode(status))\n"
    )
    command = [*RUNTIME, "--root", str(rt.root), "exec", "-d", "--pid-file", str(pid_file)]
    result = subprocess.run(
        [sys.executable, "-c", subreaper, str(pid_file), *command, "ex-5", "sh", "-c", "sleep 0.2; exit 5"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.split() == ["0", "5"], result.stderr
    rt("delete", "--force", "ex-5")


def test_exec_tty_sends_the_pty_master_to_the_console_socket(rt: Runtime, tmp_path: Path) -> None:
    start_container(rt, tmp_path, "ex-6")
    path = tmp_path / "console.sock"
    pid_file = tmp_path / "pid"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        server.settimeout(30)
        execing = subprocess.Popen(
            [
                *(*RUNTIME, "--root", str(rt.root), "exec", "--detach", "--tty"),
                *("--console-socket", str(path), "--pid-file", str(pid_file)),
                *("ex-6", "sh", "-c", "tty; read line; echo got $line"),
            ],
            stdin=subprocess.DEVNULL,
        )
        connection, _ = server.accept()
        with connection:
            _, fds, _, _ = socket.recv_fds(connection, 1024, 1)
        assert execing.wait(timeout=60) == 0
    master = fds[0]
    try:
        os.write(master, b"typed\n")
        received = read_until(master, b"got typed")
    finally:
        os.close(master)
    assert received.replace(b"\r\n", b"\n").startswith(b"/dev/pts/0\ntyped\ngot typed")
    rt("delete", "--force", "ex-6")


def test_exec_tty_without_detach_relays_this_terminal(rt: Runtime, tmp_path: Path) -> None:
    start_container(rt, tmp_path, "ex-7")
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    execing = subprocess.Popen(
        [
            *RUNTIME,
            "--root",
            str(rt.root),
            "exec",
            "-t",
            "ex-7",
            "sh",
            "-c",
            "stty size; tty; read x; exit 3",
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    try:
        received = read_until(master, b"/dev/pts/0")
        os.write(master, b"bye\r")
        received += read_until(master, b"bye")
        assert execing.wait(timeout=60) == 3
    finally:
        os.close(master)
    assert received.replace(b"\r\n", b"\n").startswith(b"33 101\n/dev/pts/0\n"), received
    rt("delete", "--force", "ex-7")


def read_until(fd: int, wanted: bytes, timeout: float = 20) -> bytes:
    received = b""
    while wanted not in received:
        if not select.select([fd], [], [], timeout)[0]:
            break
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # EIO once the other side closed
            break
        if not chunk:
            break
        received += chunk
    return received


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["exec", "ex-8", "no-such-command"], "executable file not found in $PATH"),
        (["exec", "ex-8", "/no/such/file"], "no such file or directory"),
        (["exec", "--cwd", "/no-such-dir", "ex-8", "true"], "cannot enter working directory /no-such-dir"),
        (["exec", "--console-socket", "/x.sock", "ex-8", "true"], "cannot use console socket"),
        (["exec", "--detach", "--tty", "ex-8", "true"], "cannot allocate tty if runc will detach"),
        (["exec", "no-such-container", "true"], "container 'no-such-container' does not exist"),
    ],
)
def test_exec_failures_exit_255_in_one_line(
    rt: Runtime, tmp_path: Path, args: list[str], message: str
) -> None:
    start_container(rt, tmp_path, "ex-8")
    code, err = rt.fails(*args)
    assert code == 255 and err.count("\n") == 1, err
    assert err.startswith("boxtrace-runtime: error: exec failed: ") and message in err
    assert rt.status("ex-8") == "running"
    rt("delete", "--force", "ex-8")


def test_exec_into_a_stopped_container_is_runcs_error(rt: Runtime, tmp_path: Path) -> None:
    start_container(rt, tmp_path, "ex-9")
    rt("kill", "ex-9", "KILL")
    wait_for(lambda: rt.status("ex-9") == "stopped", "the container to stop")
    code, err = rt.fails("exec", "ex-9", "true")
    assert (code, err) == (255, "boxtrace-runtime: error: exec failed: cannot exec in a stopped container\n")
    rt("delete", "ex-9")


# --- pause, resume ------------------------------------------------------------------------------------------


def test_pause_freezes_every_process_and_resume_thaws_them(rt: Runtime, tmp_path: Path) -> None:
    counter = "i=0; while :; do i=$((i+1)); echo $i > /dev/counter; usleep 20000; done"
    init = start_container(rt, tmp_path, "ex-10", counter)
    count = Path(f"/proc/{init}/root/dev/counter")
    wait_for(lambda: count.exists() and count.read_text().strip() not in ("", "1"), "the counter")
    dirs = cgroup_dirs(rt, "ex-10")

    assert rt("pause", "ex-10").returncode == 0
    state = rt.json("state", "ex-10")
    assert (state["status"], state["pid"]) == ("paused", init)
    if any((Path(d) / "freezer.state").exists() for d in dirs):  # cgroup v1
        assert cgroup_file(dirs, "freezer.state").read_text().strip() == "FROZEN"
    else:
        assert "frozen 1" in cgroup_file(dirs, "cgroup.events").read_text().splitlines()
    frozen_at = count.read_text()
    time.sleep(0.3)  # the loop writes every 20 ms when it runs
    assert count.read_text() == frozen_at
    code, err = rt.fails("exec", "ex-10", "true")
    assert code == 255 and "cannot exec in a paused container (use --ignore-paused to override)" in err
    assert rt.fails("pause", "ex-10") == (1, "boxtrace-runtime: error: container not running\n")

    assert rt("resume", "ex-10").returncode == 0
    assert rt.status("ex-10") == "running"
    wait_for(lambda: count.read_text() != frozen_at, "the counter to move again")
    assert rt.fails("resume", "ex-10") == (1, "boxtrace-runtime: error: container not paused\n")
    rt("delete", "--force", "ex-10")


def test_a_paused_container_is_deleted_with_force_only(rt: Runtime, tmp_path: Path) -> None:
    init = start_container(rt, tmp_path, "ex-11")
    rt("exec", "-d", "ex-11", "sleep", "60")
    rt("pause", "ex-11")
    code, err = rt.fails("delete", "ex-11")
    assert code == 1 and "that is not stopped: paused" in err
    dirs = cgroup_dirs(rt, "ex-11")
    # A frozen process cannot die until thawed: delete --force kills, thaws, and waits.
    assert rt("delete", "--force", "ex-11").returncode == 0
    assert _gone_or_zombie(init)
    assert not any(os.path.exists(d) for d in dirs)


# --- update -------------------------------------------------------------------------------------------------


def read_limit(dirs: list[str], v1: str, v2: str) -> str:
    names = [name for name in (v1, v2) if any((Path(d) / name).exists() for d in dirs)]
    return cgroup_file(dirs, names[0]).read_text().strip()


def test_update_changes_the_limits_in_the_cgroup(rt: Runtime, tmp_path: Path) -> None:
    start_container(rt, tmp_path, "ex-12")
    dirs = cgroup_dirs(rt, "ex-12")
    assert (
        rt("update", "--memory", "64m", "--pids-limit", "20", "--cpu-share", "512", "ex-12").returncode == 0
    )
    assert read_limit(dirs, "memory.limit_in_bytes", "memory.max") == str(64 << 20)
    assert read_limit(dirs, "pids.max", "pids.max") == "20"
    assert read_limit(dirs, "cpu.shares", "cpu.weight") in ("512", "20")  # v2: runc's conversion
    # the pids limit holds: 30 more processes cannot start
    forks = "for i in $(seq 30); do sleep 30 >/dev/null 2>&1 & done 2>&1; echo all started"
    result = rt.capture("exec", "ex-12", "sh", "-c", forks)
    assert "can't fork" in result.stdout and "all started" not in result.stdout

    # Docker's form: linux.resources on stdin, zeros meaning "unchanged", a raised memory limit
    # (with swap accounting: memory+swap is raised first, or the kernel refuses)
    docker = {
        "memory": {"limit": 128 << 20, "reservation": 0, "swap": 128 << 20, "kernel": 0},
        "cpu": {"shares": 0, "quota": 50000, "period": 100000},
        "pids": {"limit": -1},
        "blockIO": {"weight": 0},
    }
    result = rt.capture("update", "--resources", "-", "ex-12", stdin=json.dumps(docker))
    assert result.returncode == 0, result.stderr
    assert read_limit(dirs, "memory.limit_in_bytes", "memory.max") == str(128 << 20)
    assert read_limit(dirs, "pids.max", "pids.max") == "max"
    assert read_limit(dirs, "cpu.cfs_quota_us", "cpu.max") in ("50000", "50000 100000")
    assert read_limit(dirs, "cpu.shares", "cpu.weight") in ("512", "20")  # 0: unchanged

    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps({"memory": {"limit": 32 << 20}, "blockIO": {"weight": 300}}))
    log = tmp_path / "log"
    assert rt("--log", str(log), "update", "-r", str(resources), "ex-12").returncode == 0
    assert read_limit(dirs, "memory.limit_in_bytes", "memory.max") == str(32 << 20)
    assert "blockIO.weight is not supported" in log.read_text()
    rt("delete", "--force", "ex-12")
    code, err = rt.fails("update", "--memory", "64m", "ex-12")
    assert code == 1 and "does not exist" in err


def cgroup2_root() -> Path | None:
    """The cgroup v2 tree: /sys/fs/cgroup on a v2 host, /sys/fs/cgroup/unified on a hybrid one."""
    for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        if (root / "cgroup.controllers").exists():
            return root
    return None


def test_cgroup2_freezer_on_a_real_cgroup(tmp_path: Path) -> None:
    """The v2 path of pause and resume, also on a v1 or hybrid host (whose containers use the v1
    freezer): cgroup.freeze is a core file of every non-root v2 cgroup, no controller needed."""
    root = cgroup2_root()
    if root is None or not (root / "cgroup.procs").exists():
        pytest.skip("no cgroup v2 hierarchy mounted")
    group = root / f"boxtrace-ex-freeze-{os.getpid()}"
    group.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        if not (group / "cgroup.freeze").exists():
            pytest.skip("this kernel has no cgroup v2 freezer (5.2+)")
        (group / "cgroup.procs").write_text(str(sleeper.pid))
        freezer.freeze([str(group)])
        assert "frozen 1" in (group / "cgroup.events").read_text().splitlines()
        assert freezer.is_frozen([str(group)])
        freezer.thaw([str(group)])
        assert not freezer.is_frozen([str(group)])
        wait_for(lambda: "frozen 0" in (group / "cgroup.events").read_text().splitlines(), "the thaw")
    finally:
        sleeper.kill()
        sleeper.wait()
        wait_for(lambda: "populated 0" in (group / "cgroup.events").read_text(), "the cgroup to empty")
        group.rmdir()


def _gone_or_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:  # gone, before the open or between it and the read
        return True

"""The OCI lifecycle on real containers (root): create -> state -> start -> kill -> delete, the
exec-fifo handshake, hooks, the console socket, and nothing left behind.

The container's stdout and stderr go to files, as conmon and containerd pass pipes or fifos: with
a pipe, waiting for the create command's output would wait for the container's end.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import make_busybox_bundle, needs_root
from tests.runtime.oci_runtime import RUNTIME, Runtime, bundle_with, wait_for

pytestmark = needs_root


def test_create_start_state_kill_delete(rt: Runtime, tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path / "b", ["sh", "-c", "echo started as pid $$; exec sleep 60"])
    pid_file = tmp_path / "pid"
    assert rt("create", "--bundle", str(bundle), "--pid-file", str(pid_file), "lc-1").returncode == 0
    state = rt.json("state", "lc-1")
    pid = int(pid_file.read_text())  # no newline, like runc
    assert state["status"] == "created" and state["pid"] == pid
    assert state["bundle"] == str(bundle) and state["rootfs"] == str(bundle / "rootfs")
    assert (rt.root / "lc-1" / "exec.fifo").exists()
    assert os.readlink(f"/proc/{pid}/exe") == os.path.realpath(sys.executable)  # not exec'd yet
    assert rt.output() == ""

    assert rt("start", "lc-1").returncode == 0
    wait_for(lambda: "started" in rt.output(), "the container's output")
    assert rt.output() == "started as pid 1\n"
    state = rt.json("state", "lc-1")
    assert (state["status"], state["pid"]) == ("running", pid)
    assert not (rt.root / "lc-1" / "exec.fifo").exists()
    assert rt.json("ps", "--format", "json", "lc-1") == [pid]  # type: ignore[comparison-overlap]

    assert rt("kill", "lc-1", "KILL").returncode == 0
    wait_for(lambda: rt.status("lc-1") == "stopped", "the container to stop")
    assert rt.json("state", "lc-1")["pid"] == 0
    cgroups = json.loads((rt.root / "lc-1" / "state.json").read_text())["cgroups"]
    assert cgroups and all(os.path.isdir(c) for c in cgroups)

    assert rt("delete", "lc-1").returncode == 0
    assert not (rt.root / "lc-1").exists()
    assert not any(os.path.exists(c) for c in cgroups)
    code, err = rt.fails("state", "lc-1")
    assert code == 1 and "does not exist" in err


def test_process_does_not_run_before_start(rt: Runtime, tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path / "b", ["echo", "ran"])
    assert rt("create", "--bundle", str(bundle), "lc-2").returncode == 0
    time.sleep(0.5)  # were the process not held, it would have printed by now
    assert rt.output() == ""
    assert rt.status("lc-2") == "created"
    rt("start", "lc-2")
    wait_for(lambda: rt.output() == "ran\n", "the output after start")
    wait_for(lambda: rt.status("lc-2") == "stopped", "the container to exit")
    code, err = rt.fails("start", "lc-2")
    assert (code, err.strip()) == (1, "boxtrace-runtime: error: cannot start a container that has stopped")
    rt("delete", "lc-2")


def test_a_created_container_is_killed_by_delete(rt: Runtime, tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path / "b", ["echo", "never"])
    rt("create", "--bundle", str(bundle), "lc-3")
    pid = int(rt.json("state", "lc-3")["pid"])  # type: ignore[call-overload]
    assert rt("delete", "lc-3").returncode == 0  # runc kills a created container without --force
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    assert rt.output() == ""


def test_running_container_needs_force(rt: Runtime, tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path / "b", ["sleep", "60"])
    rt("create", "--bundle", str(bundle), "lc-4")
    rt("start", "lc-4")
    code, err = rt.fails("delete", "lc-4")
    assert code == 1 and "cannot delete container lc-4 that is not stopped: running" in err
    code, err = rt.fails("start", "lc-4")
    assert (code, err.strip()) == (1, "boxtrace-runtime: error: cannot start an already running container")
    assert rt("delete", "--force", "lc-4").returncode == 0
    assert not (rt.root / "lc-4").exists()


def test_kill_signal_reaches_a_handler_and_all_reaches_every_process(rt: Runtime, tmp_path: Path) -> None:
    script = "trap 'echo got-usr1' USR1; sleep 60 & echo ready; while :; do sleep 0.1; done"
    bundle = bundle_with(tmp_path / "b", ["sh", "-c", script])
    rt("create", "--bundle", str(bundle), "lc-5")
    rt("start", "lc-5")
    wait_for(lambda: "ready" in rt.output(), "the trap to be set")
    assert rt("kill", "lc-5", "SIGUSR1").returncode == 0
    wait_for(lambda: "got-usr1" in rt.output(), "the handler's output")
    assert len(rt.json("ps", "--format", "json", "lc-5")) >= 2  # type: ignore[arg-type]
    assert rt("kill", "--all", "lc-5", "9").returncode == 0
    wait_for(lambda: rt.status("lc-5") == "stopped", "every process to die")
    code, err = rt.fails("kill", "lc-5")
    assert code == 1 and "container not running" in err  # containerd matches these words
    rt("delete", "lc-5")


def test_duplicate_id_and_failed_create_leave_one_line_and_nothing_behind(
    rt: Runtime, tmp_path: Path
) -> None:
    bundle = bundle_with(tmp_path / "b", ["true"])
    rt("create", "--bundle", str(bundle), "lc-6")
    code, err = rt.fails("create", "--bundle", str(bundle), "lc-6")
    assert code == 1 and err.count("\n") == 1 and "container 'lc-6' already exists" in err
    rt("delete", "lc-6")
    missing = bundle_with(tmp_path / "c", ["no-such-command"])
    log = tmp_path / "log.json"
    code, err = rt.fails(
        "--log", str(log), "--log-format", "json", "create", "--bundle", str(missing), "lc-7"
    )
    assert code == 1
    assert err.strip() == (
        "boxtrace-runtime: error: container command not found: no-such-command: executable file "
        "not found in $PATH (/usr/sbin:/usr/bin:/sbin:/bin)"
    )
    assert json.loads(log.read_text().splitlines()[-1])["msg"].startswith("container command not found")
    assert not (rt.root / "lc-7").exists()


def test_hooks_get_the_state_and_run_in_order(rt: Runtime, tmp_path: Path) -> None:
    record = tmp_path / "hooks.log"
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"cat >> {record}; echo >> {record}"]}
    bundle = bundle_with(
        tmp_path / "b",
        ["true"],
        hooks={"prestart": [hook], "poststart": [hook], "poststop": [hook]},
        annotations={"org.example": "yes"},
    )
    rt("create", "--bundle", str(bundle), "lc-8")
    pid = rt.json("state", "lc-8")["pid"]
    rt("start", "lc-8")
    wait_for(lambda: rt.status("lc-8") == "stopped", "the container to exit")
    rt("delete", "lc-8")
    states = [json.loads(line) for line in record.read_text().splitlines() if line]
    assert [s["status"] for s in states] == ["creating", "running", "stopped"]
    assert {s["pid"] for s in states} == {pid}
    assert all(s["id"] == "lc-8" and s["annotations"] == {"org.example": "yes"} for s in states)


def test_failing_prestart_hook_fails_create(rt: Runtime, tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path / "b", ["true"], hooks={"prestart": [{"path": "/bin/false"}]})
    code, err = rt.fails("create", "--bundle", str(bundle), "lc-9")
    assert code == 1 and "prestart hook /bin/false failed: exit status 1" in err
    assert not (rt.root / "lc-9").exists()


def test_console_socket_receives_the_pty_master(rt: Runtime, tmp_path: Path) -> None:
    bundle = make_busybox_bundle(tmp_path / "b", ["sh", "-c", "tty; echo via-the-pty"])
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = True
    config["mounts"].append(
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        }
    )
    (bundle / "config.json").write_text(json.dumps(config))
    path = tmp_path / "console.sock"
    cid = "lc-10"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        server.settimeout(30)
        creating = subprocess.Popen(
            [
                *RUNTIME,
                "--root",
                str(rt.root),
                "create",
                "-b",
                str(bundle),
                "--console-socket",
                str(path),
                cid,
            ],
            stdin=subprocess.DEVNULL,
        )
        connection, _ = server.accept()
        with connection:
            name, fds, _, _ = socket.recv_fds(connection, 1024, 1)
        assert creating.wait(timeout=60) == 0
    assert name == b"/dev/ptmx" and len(fds) == 1
    master = fds[0]
    try:
        rt("start", cid)
        received = b""
        deadline = time.monotonic() + 20
        while b"via-the-pty" not in received and time.monotonic() < deadline:
            if not select.select([master], [], [], 1)[0]:
                continue  # never block past the deadline when the container stays silent
            try:
                received += os.read(master, 1024)
            except OSError:  # EIO once the container closed the slave
                break
    finally:
        os.close(master)
    assert received.replace(b"\r\n", b"\n").startswith(b"/dev/pts/0\nvia-the-pty")
    assert rt.output() == ""  # nothing went to the inherited stdout
    wait_for(lambda: rt.status(cid) == "stopped", "the container to exit")
    rt("delete", cid)


def test_terminal_without_console_socket_is_refused(rt: Runtime, tmp_path: Path) -> None:
    bundle = make_busybox_bundle(tmp_path / "b", ["true"])
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = True
    (bundle / "config.json").write_text(json.dumps(config))
    code, err = rt.fails("create", "--bundle", str(bundle), "lc-11")
    assert code == 1 and "process.terminal is true in config.json: give --console-socket" in err


def test_no_pivot_preserve_fds_sysctl_and_keyring(rt: Runtime, tmp_path: Path) -> None:
    script = "cat /proc/sys/net/ipv4/ping_group_range; cat <&3; grep -c _ses.lc-12 /proc/keys || true"
    bundle = bundle_with(tmp_path / "b", ["sh", "-c", script])
    config = json.loads((bundle / "config.json").read_text())
    config["linux"]["sysctl"] = {"net.ipv4.ping_group_range": "0 0"}
    config["linux"]["maskedPaths"] = []  # /proc/keys readable, to see the session keyring
    (bundle / "config.json").write_text(json.dumps(config))
    (tmp_path / "passed").write_text("through fd 3\n")
    with open(rt.out, "a") as out:
        # The shell opens fd 3 and execs the runtime, as conmon passes fds with --preserve-fds.
        done = subprocess.run(
            [
                *("sh", "-c", 'exec 3<"$0"; exec "$@"', str(tmp_path / "passed")),
                *(*RUNTIME, "--root", str(rt.root), "create", "--no-pivot"),
                *("--preserve-fds", "1", "--bundle", str(bundle), "lc-12"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            check=False,
        )
    assert done.returncode == 0
    rt("start", "lc-12")
    wait_for(lambda: rt.status("lc-12") == "stopped", "the container to exit")
    assert rt.output().splitlines() == ["0\t0", "through fd 3", "1"]
    rt("delete", "lc-12")


def test_runc_form_run_and_detach(rt: Runtime, tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path / "b", ["sh", "-c", "echo in-run; exit 3"])
    assert rt("run", "--bundle", str(bundle), "lc-13").returncode == 3
    assert rt.output() == "in-run\n"
    assert not (rt.root / "lc-13").exists()  # the one-process run removes its own state
    sleeper = bundle_with(tmp_path / "s", ["sleep", "60"])
    assert rt("run", "-d", "--bundle", str(sleeper), "lc-14").returncode == 0
    assert rt.status("lc-14") == "running"
    rt("delete", "--force", "lc-14")


def test_sigterm_to_create_removes_everything(rt: Runtime, tmp_path: Path) -> None:
    hook = {"path": "/bin/sleep", "args": ["sleep", "60"]}  # holds create in its prestart step
    bundle = bundle_with(tmp_path / "b", ["true"], hooks={"prestart": [hook]})
    creating = subprocess.Popen(
        [*RUNTIME, "--root", str(rt.root), "create", "--bundle", str(bundle), "lc-15"],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: (rt.root / "lc-15" / "state.json").exists(), "create to start")
    wait_for(lambda: "pid" in json.loads((rt.root / "lc-15" / "state.json").read_text()), "the clone")
    pid = json.loads((rt.root / "lc-15" / "state.json").read_text())["pid"]
    time.sleep(0.3)
    creating.send_signal(signal.SIGTERM)
    assert creating.wait(timeout=30) != 0
    assert not (rt.root / "lc-15").exists()
    assert not os.path.exists(f"/proc/{pid}")

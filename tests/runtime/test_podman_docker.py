"""podman and Docker with boxtrace-runtime as their OCI runtime (root, slow).

No registry: a busybox rootfs tarball is imported as the image. tests/engines.py gives podman a
storage of its own and starts a dockerd of its own, and removes both at the end. The runtime is
reached through a wrapper script that logs each call, so the tests can tell that podman and Docker
really called boxtrace-runtime, and with which arguments.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tests.engines import busybox_tarball, docker_daemon, podman_store

pytestmark = [needs_root, pytest.mark.slow]

# podman's default rlimits ask for more than this machine's hard limits allow.
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
APPLETS = ("sh", "echo", "cat", "sleep", "true", "tty", "ls", "hostname")


def runtime_wrapper(directory: Path) -> tuple[Path, Path]:
    """A script that logs its arguments, then execs this checkout's boxtrace-runtime."""
    calls = directory / "calls.log"
    wrapper = directory / "boxtrace-runtime"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {sys.executable} -m boxtrace.runtime "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, calls


def commands_called(calls: Path) -> list[str]:
    """The runtime commands, without the global options before them."""
    names = {"create", "start", "state", "kill", "delete", "ps", "exec", "pause", "resume", "update"}
    return [next(w for w in line.split() if w in names) for line in calls.read_text().splitlines()]


def run(command: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120, check=False)


def exec_calls(calls: Path) -> list[str]:
    return [line for line in calls.read_text().splitlines() if " exec " in f" {line} "]


def cgroup_limit(pid: int, controller: str, v1_file: str, v2_file: str) -> str:
    """A limit of the cgroup process ``pid`` is in, read on the host (v1 or v2)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path(f"/sys/fs/cgroup/{controller}{path}/{v1_file}").read_text().strip()
        if controllers == "" and Path(f"/sys/fs/cgroup{path}/{v2_file}").exists():
            return Path(f"/sys/fs/cgroup{path}/{v2_file}").read_text().strip()
    raise AssertionError(f"no {controller} cgroup for {pid}")


def test_podman_runs_a_container_with_boxtrace_runtime(tmp_path: Path) -> None:
    wrapper, calls = runtime_wrapper(tmp_path)
    tarball = busybox_tarball(tmp_path / "busybox.tar", APPLETS)
    with podman_store(tarball, "localhost/boxtrace-test") as podman:
        result = run(
            [
                *podman,
                "--runtime",
                str(wrapper),
                "run",
                "--rm",
                *ULIMITS,
                "localhost/boxtrace-test",
                "echo",
                "hi",
            ]
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == "hi\n"
        called = commands_called(calls)
        assert called[:2] == ["create", "start"] and "delete" in called
        # -t: the pty comes from the container and reaches conmon through --console-socket
        result = run(
            [
                *podman,
                "--runtime",
                str(wrapper),
                "run",
                "--rm",
                "-t",
                *ULIMITS,
                "localhost/boxtrace-test",
                "tty",
            ]
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "/dev/pts/0"
        assert any("--console-socket" in line for line in calls.read_text().splitlines())


def status_fields(status: str, *names: str) -> list[str]:
    """The lines of a /proc/PID/status text that start with ``names``, in its order."""
    return [line for line in status.splitlines() if line.split(":")[0] in names]


def test_podman_default_seccomp_profile_is_applied(tmp_path: Path) -> None:
    """podman passes its default profile (/usr/share/containers/seccomp.json) in linux.seccomp:
    the container runs under it, in filter mode, and a shell still works; exec'd processes get it
    too. --security-opt seccomp=unconfined takes it away again."""
    wrapper, calls = runtime_wrapper(tmp_path)
    tarball = busybox_tarball(tmp_path / "busybox.tar", APPLETS)
    with podman_store(tarball, "localhost/boxtrace-test") as podman:
        engine = [*podman, "--runtime", str(wrapper)]
        started = run([*engine, "run", "-d", *ULIMITS, "localhost/boxtrace-test", "sleep", "300"])
        assert started.returncode == 0, started.stderr
        cid = started.stdout.strip()
        script = "cat /proc/self/status; for word in a b; do echo shell $word; done"
        for command in (
            [*engine, "exec", cid, "sh", "-c", script],
            [*engine, "run", "--rm", *ULIMITS, "localhost/boxtrace-test", "sh", "-c", script],
        ):
            result = run(command)
            assert result.returncode == 0, result.stderr
            assert status_fields(result.stdout, "Seccomp") == ["Seccomp:\t2"]
            assert result.stdout.endswith("shell a\nshell b\n")
            assert "not supported" not in result.stderr
        assert "exec" in commands_called(calls)
        run([*engine, "rm", "--force", "--time", "1", cid])

        unconfined = run(
            [
                *engine,
                "run",
                "--rm",
                *ULIMITS,
                "--security-opt",
                "seccomp=unconfined",
                "localhost/boxtrace-test",
                "cat",
                "/proc/self/status",
            ]
        )
        assert unconfined.returncode == 0, unconfined.stderr
        assert status_fields(unconfined.stdout, "Seccomp") == ["Seccomp:\t0"]


def test_podman_exec_pause_and_unpause_with_boxtrace_runtime(tmp_path: Path) -> None:
    wrapper, calls = runtime_wrapper(tmp_path)
    tarball = busybox_tarball(tmp_path / "busybox.tar", APPLETS)
    with podman_store(tarball, "localhost/boxtrace-test") as podman:
        engine = [*podman, "--runtime", str(wrapper)]
        started = run([*engine, "run", "-d", *ULIMITS, "localhost/boxtrace-test", "sleep", "300"])
        assert started.returncode == 0, started.stderr
        cid = started.stdout.strip()
        result = run([*engine, "exec", cid, "sh", "-c", "echo hello from podman exec in $(hostname)"])
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"hello from podman exec in {cid[:12]}\n"
        # conmon passes the process as JSON, detaches, and stays as the process's subreaper
        assert all("--process" in line and "--detach" in line for line in exec_calls(calls))
        assert run([*engine, "exec", "-i", cid, "cat"], stdin="through stdin\n").stdout == "through stdin\n"
        assert run([*engine, "exec", cid, "sh", "-c", "exit 4"]).returncode == 4
        tty = run([*engine, "exec", "-t", cid, "tty"])
        assert tty.stdout.strip() == "/dev/pts/0"
        assert "--console-socket" in exec_calls(calls)[-1]

        assert run([*engine, "pause", cid]).returncode == 0
        state = json.loads(run([*engine, "inspect", cid]).stdout)[0]["State"]
        assert state["Status"] == "paused"
        assert run([*engine, "unpause", cid]).returncode == 0
        assert run([*engine, "exec", cid, "echo", "after unpause"]).stdout == "after unpause\n"
        assert {"pause", "resume"} <= set(commands_called(calls))
        run([*engine, "rm", "--force", "--time", "1", cid])


def test_docker_runs_a_container_with_boxtrace_runtime(tmp_path: Path) -> None:
    wrapper, calls = runtime_wrapper(tmp_path)
    tarball = busybox_tarball(tmp_path / "busybox.tar", APPLETS)
    with docker_daemon({"boxtrace": {"path": str(wrapper)}}) as docker:
        assert run([*docker, "import", str(tarball), "boxtrace-test:latest"]).returncode == 0
        boxtrace = [*docker, "run", "--rm", "--runtime", "boxtrace", "--network", "none", "boxtrace-test"]
        result = run([*boxtrace, "echo", "hi"])
        assert result.returncode == 0, result.stderr
        assert result.stdout == "hi\n"
        called = commands_called(calls)
        assert called[:2] == ["create", "start"] and "delete" in called
        # containerd's shim passes its own --root (under dockerd's exec root) and a json --log
        first = calls.read_text().splitlines()[0]
        assert "--log-format json" in first and "/exec/runtime-runc/moby " in first
        # Docker's prestart hook (libnetwork-setkey) ran: the network namespace is the container's
        assert run([*boxtrace, "ls", "/sys/class/net"]).stdout.split() == ["lo"]
        # the exit code comes back through the shim, which reaps the container's process
        assert run([*boxtrace, "sh", "-c", "exit 7"]).returncode == 7
        # Docker sets process.oomScoreAdj on every container (0 by default, not the shim's own)
        assert run([*boxtrace, "cat", "/proc/self/oom_score_adj"]).stdout == "0\n"
        oom = run([*docker, "run", "--rm", "--runtime", "boxtrace", "--network", "none", "--oom-score-adj",
                   "300", "boxtrace-test", "cat", "/proc/self/oom_score_adj"])  # fmt: skip
        assert oom.stdout == "300\n", oom.stderr


def test_docker_exec_pause_and_update_with_boxtrace_runtime(tmp_path: Path) -> None:
    wrapper, calls = runtime_wrapper(tmp_path)
    tarball = busybox_tarball(tmp_path / "busybox.tar", APPLETS)
    with docker_daemon({"boxtrace": {"path": str(wrapper)}}) as docker:
        assert run([*docker, "import", str(tarball), "boxtrace-test:latest"]).returncode == 0
        engine = [*docker, "run", "-d", "--runtime", "boxtrace", "--network", "none"]
        started = run([*engine, "boxtrace-test", "sleep", "300"])
        assert started.returncode == 0, started.stderr
        cid = started.stdout.strip()
        result = run([*docker, "exec", cid, "sh", "-c", "echo hello from docker exec in $(hostname)"])
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"hello from docker exec in {cid[:12]}\n"
        # containerd's shim: --process FILE --detach --pid-file, and its own --root and --log
        call = exec_calls(calls)[-1]
        assert "--process" in call and "--detach" in call and "/exec/runtime-runc/moby " in call
        assert run([*docker, "exec", "-i", cid, "cat"], stdin="through stdin\n").stdout == "through stdin\n"
        assert run([*docker, "exec", cid, "sh", "-c", "exit 4"]).returncode == 4
        assert run([*docker, "exec", "-t", cid, "tty"]).stdout.strip() == "/dev/pts/0"

        assert run([*docker, "pause", cid]).returncode == 0
        assert run([*docker, "inspect", "--format", "{{.State.Paused}}", cid]).stdout.strip() == "true"
        assert run([*docker, "unpause", cid]).returncode == 0
        assert run([*docker, "inspect", "--format", "{{.State.Status}}", cid]).stdout.strip() == "running"

        # docker update: the shim passes linux.resources on stdin (update --resources -)
        limits = ["--memory", "64m", "--memory-swap", "64m", "--pids-limit", "30"]
        updated = run([*docker, "update", *limits, cid])
        assert updated.returncode == 0, updated.stderr
        pid = int(run([*docker, "inspect", "--format", "{{.State.Pid}}", cid]).stdout)
        assert cgroup_limit(pid, "memory", "memory.limit_in_bytes", "memory.max") == str(64 << 20)
        assert cgroup_limit(pid, "pids", "pids.max", "pids.max") == "30"
        assert {"exec", "pause", "resume", "update"} <= set(commands_called(calls))
        run([*docker, "rm", "--force", cid])

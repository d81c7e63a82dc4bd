"""podman and Docker with boxtrace-runtime as their OCI runtime (root, slow).

No registry: a busybox rootfs tarball is imported as the image. tests/engines.py gives podman a
storage of its own and starts a dockerd of its own, and removes both at the end. The runtime is
reached through a wrapper script that logs each call, so the tests can tell that podman and Docker
really called boxtrace-runtime, and with which arguments.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tests.engines import busybox_tarball, docker_daemon, podman_store

pytestmark = [needs_root, pytest.mark.slow]

# podman's default rlimits ask for more than this machine's hard limits allow.
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
APPLETS = ("sh", "echo", "cat", "sleep", "true", "tty", "ls")


def runtime_wrapper(directory: Path) -> tuple[Path, Path]:
    """A script that logs its arguments, then execs this checkout's boxtrace-runtime."""
    calls = directory / "calls.log"
    wrapper = directory / "boxtrace-runtime"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {sys.executable} -m boxtrace.runtime "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, calls


def commands_called(calls: Path) -> list[str]:
    """The runtime commands, without the global options before them."""
    names = {"create", "start", "state", "kill", "delete", "ps"}
    return [next(w for w in line.split() if w in names) for line in calls.read_text().splitlines()]


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


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

"""podman and Docker with boxtrace-runtime as their OCI runtime (root, slow).

No registry: the image is the busybox rootfs of make_busybox_bundle, imported as a tarball. podman
gets its own temporary --root/--runroot; dockerd is started by the test with its own data-root,
exec-root and socket, and stopped at the end. The runtime is reached through a wrapper script that
logs each call, so the tests can tell that podman and Docker really called boxtrace-runtime.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import host_mounts, make_busybox_bundle, needs_root

pytestmark = [needs_root, pytest.mark.slow]

PODMAN = shutil.which("podman")
DOCKER = "/usr/bin/docker"  # Debian's docker.io client, not a /usr/local/bin/docker of the machine
DOCKERD = "/usr/sbin/dockerd"
# podman's default rlimits ask for more than this machine's hard limits allow.
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Short paths: dockerd and containerd put unix sockets under their roots (108 bytes at most).
    path = Path(tempfile.mkdtemp(prefix="bt-oci-"))
    mounts_before = host_mounts()
    try:
        yield path
    finally:
        left = {m for m in host_mounts() - mounts_before if str(path) in m}
        shutil.rmtree(path, ignore_errors=True)
        assert not left, f"mounts left under {path}: {sorted(left)}"


def runtime_wrapper(directory: Path) -> tuple[Path, Path]:
    """A script that logs its arguments, then execs this checkout's boxtrace-runtime."""
    calls = directory / "calls.log"
    wrapper = directory / "boxtrace-runtime"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {sys.executable} -m boxtrace.runtime "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, calls


def busybox_tarball(directory: Path) -> Path:
    bundle = make_busybox_bundle(directory / "bundle")
    tarball = directory / "busybox.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(bundle / "rootfs", arcname=".")
    return tarball


def commands_called(calls: Path) -> list[str]:
    """The runtime commands, without the global options before them."""
    names = {"create", "start", "state", "kill", "delete", "ps"}
    return [next(w for w in line.split() if w in names) for line in calls.read_text().splitlines()]


# --- podman -----------------------------------------------------------------------------------------


@pytest.mark.skipif(PODMAN is None, reason="needs podman (Debian package podman)")
def test_podman_runs_a_container_with_boxtrace_runtime(workdir: Path) -> None:
    assert PODMAN is not None
    wrapper, calls = runtime_wrapper(workdir)
    podman = [
        PODMAN,
        *("--root", str(workdir / "storage"), "--runroot", str(workdir / "run")),
        *("--cgroup-manager", "cgroupfs", "--events-backend", "none", "--runtime", str(wrapper)),
    ]
    try:
        imported = subprocess.run(
            [*podman, "import", str(busybox_tarball(workdir)), "localhost/boxtrace-test:latest"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert imported.returncode == 0, imported.stderr
        result = subprocess.run(
            [*podman, "run", "--rm", *ULIMITS, "localhost/boxtrace-test", "echo", "hi"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == "hi\n"
        assert commands_called(calls)[:2] == ["create", "start"] and "delete" in commands_called(calls)
        # -t: the pty comes from the container and reaches conmon through --console-socket
        result = subprocess.run(
            [*podman, "run", "--rm", "-t", *ULIMITS, "localhost/boxtrace-test", "tty"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "/dev/pts/0"
        assert any("--console-socket" in line for line in calls.read_text().splitlines())
    finally:
        subprocess.run([*podman, "system", "reset", "--force"], capture_output=True, timeout=120, check=False)


# --- Docker -----------------------------------------------------------------------------------------


class Dockerd:
    """dockerd on its own socket and directories, with boxtrace-runtime added as "boxtrace"."""

    def __init__(self, directory: Path, runtime: Path) -> None:
        self.directory = directory
        self.socket = directory / "docker.sock"
        self.log = directory / "dockerd.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [
                    DOCKERD,
                    *("--iptables=false", "--bridge=none"),
                    *("--data-root", str(directory / "data"), "--exec-root", str(directory / "exec")),
                    *("--host", f"unix://{self.socket}", "--pidfile", str(directory / "docker.pid")),
                    *("--add-runtime", f"boxtrace={runtime}"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while self.docker("version", check=False).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"dockerd did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.5)

    def docker(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [DOCKER, "--host", f"unix://{self.socket}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def stop(self) -> None:
        """SIGTERM: dockerd stops its containers and its containerd, and unmounts what it mounted."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.mark.skipif(
    not (os.path.exists(DOCKERD) and os.path.exists(DOCKER)),
    reason=f"needs {DOCKERD} and {DOCKER} (Debian package docker.io)",
)
def test_docker_runs_a_container_with_boxtrace_runtime(workdir: Path) -> None:
    wrapper, calls = runtime_wrapper(workdir)
    tarball = busybox_tarball(workdir)
    dockerd = Dockerd(workdir, wrapper)
    try:
        dockerd.docker("import", str(tarball), "boxtrace-test:latest")
        result = dockerd.docker(
            "run", "--rm", "--runtime", "boxtrace", "--network", "none", "boxtrace-test", "echo", "hi"
        )
        assert result.stdout == "hi\n"
        called = commands_called(calls)
        assert called[:2] == ["create", "start"] and "delete" in called
        # containerd's shim passes its own --root and a json --log
        first = calls.read_text().splitlines()[0]
        assert "--log-format json" in first and f"--root {workdir}/exec/runtime-runc/moby" in first
        # Docker's prestart hook (libnetwork-setkey) ran: the network namespace is the container's
        result = dockerd.docker(
            "run",
            "--rm",
            "--runtime",
            "boxtrace",
            "--network",
            "none",
            "boxtrace-test",
            "ls",
            "/sys/class/net",
        )
        assert result.stdout.split() == ["lo"]
        # exit codes come back through the shim, which reaps the container's process
        result = dockerd.docker(
            "run",
            "--rm",
            "--runtime",
            "boxtrace",
            "--network",
            "none",
            "boxtrace-test",
            "sh",
            "-c",
            "exit 7",
            check=False,
        )
        assert result.returncode == 7
    finally:
        dockerd.stop()

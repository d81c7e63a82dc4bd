"""Container engines for tests, each private and removed at the end: a dockerd with its own data
root, exec root, socket and runtimes; a podman with its own storage; a busybox image tarball for
both to import (no registry needed). The cgroups they leave behind (empty) are removed too."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import engines
from tests.conftest import needs_program

# Whichever Docker is installed: Debian's docker.io (/usr/sbin/dockerd) or Docker's own docker-ce
# (/usr/bin/dockerd); `make test` does not install docker.io over docker-ce.
DOCKERD = shutil.which("dockerd", path="/usr/sbin:/usr/bin:/usr/local/bin") or shutil.which("dockerd")
# The client beside the daemon matches it; any newer client negotiates the API down.
DOCKER = shutil.which("docker", path="/usr/bin") or shutil.which("docker") or "docker"


def busybox_tarball(path: Path, applets: tuple[str, ...] = engines.APPLETS) -> Path:
    try:
        return engines.busybox_tarball(path, applets)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@contextlib.contextmanager
def docker_daemon(runtimes: dict[str, dict[str, object]]) -> Iterator[list[str]]:
    """Start dockerd (no iptables, no bridge) with ``runtimes`` as in daemon.json; yields the
    docker client command line that talks to it."""
    if DOCKERD is None:
        pytest.skip(needs_program("dockerd", "docker.io", "Docker's docker-ce") or "needs dockerd")
    # Short: unix socket paths are limited to 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="bt-dockerd-"))
    config = root / "daemon.json"
    config.write_text(json.dumps({"runtimes": runtimes}))
    sock = root / "docker.sock"
    log = (root / "dockerd.log").open("w")
    daemon = subprocess.Popen(
        [
            DOCKERD,
            "--config-file", str(config),
            "--iptables=false",
            "--bridge=none",
            "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "docker.pid"),
            "--host", f"unix://{sock}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    client = [DOCKER, "-H", f"unix://{sock}"]
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([*client, "version"], capture_output=True).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dockerd did not start:\n{(root / 'dockerd.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield client
    finally:
        subprocess.run([*client, "rm", "--force", "--volumes", *_containers(client)], capture_output=True)
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(10)
        log.close()
        engines.unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)
        engines.remove_empty_cgroups("docker")


def _containers(client: list[str]) -> list[str]:
    done = subprocess.run([*client, "ps", "-aq"], capture_output=True, text=True)
    return done.stdout.split()


@contextlib.contextmanager
def podman_store(tarball: Path, image: str) -> Iterator[list[str]]:
    """podman with storage of its own and ``tarball`` imported as ``image`` (bench/engines.py)."""
    if (missing := needs_program("podman", "podman")) is not None:
        pytest.skip(missing)
    with engines.podman_store(tarball, image) as podman:
        yield podman

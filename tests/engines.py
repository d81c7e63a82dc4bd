"""Container engines for tests, each private and removed at the end: a dockerd with its own data
root, exec root, socket and runtimes; a podman with its own storage; a busybox image tarball for
both to import (no registry needed). The cgroups they leave behind (empty) are removed too."""

from __future__ import annotations

import contextlib
import glob
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

DOCKERD = "/usr/sbin/dockerd"
# Debian's docker.io client matches its daemon; any newer client negotiates the API down.
DOCKER = shutil.which("docker", path="/usr/bin") or shutil.which("docker") or "docker"


def busybox_tarball(path: Path, applets: tuple[str, ...] = ("sh", "echo", "cat", "sleep", "true")) -> Path:
    """A rootfs tarball holding busybox and a few applets, for `docker import`/`podman import`."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("needs busybox (Debian package busybox-static)")
    rootfs = path.with_suffix(".d")
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy(busybox, rootfs / "bin" / "busybox")
    for applet in applets:
        (rootfs / "bin" / applet).symlink_to("busybox")
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(path), "."], check=True)
    shutil.rmtree(rootfs)
    return path


@contextlib.contextmanager
def docker_daemon(runtimes: dict[str, dict[str, object]]) -> Iterator[list[str]]:
    """Start dockerd (no iptables, no bridge) with ``runtimes`` as in daemon.json; yields the
    docker client command line that talks to it."""
    if not os.path.exists(DOCKERD):
        pytest.skip("needs dockerd (Debian package docker.io)")
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
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)
        _remove_empty_cgroups("docker")


def _containers(client: list[str]) -> list[str]:
    done = subprocess.run([*client, "ps", "-aq"], capture_output=True, text=True)
    return done.stdout.split()


def _unmount_under(root: Path) -> None:
    with open("/proc/self/mountinfo") as handle:
        points = [line.split()[4] for line in handle]
    for point in sorted((p for p in points if p.startswith(str(root))), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def _remove_empty_cgroups(name: str) -> None:
    """Docker's cgroupfs driver leaves /sys/fs/cgroup/*/docker (v1) or /sys/fs/cgroup/docker (v2)."""
    for path in glob.glob(f"/sys/fs/cgroup/*/{name}") + glob.glob(f"/sys/fs/cgroup/{name}"):
        with contextlib.suppress(OSError):
            os.rmdir(path)


@contextlib.contextmanager
def podman_store(tarball: Path, image: str) -> Iterator[list[str]]:
    """podman with storage of its own and ``tarball`` imported as ``image``; yields the command line."""
    if shutil.which("podman") is None:
        pytest.skip("needs podman (Debian package podman)")
    # podman refuses a run root longer than 50 characters: pytest's tmp_path is too long.
    store = Path(tempfile.mkdtemp(prefix="bt-podman-"))
    podman = [
        "podman",
        "--root", str(store / "root"),
        "--runroot", str(store / "run"),
        "--storage-driver", "vfs",
        "--cgroup-manager", "cgroupfs",
        "--events-backend", "none",
    ]  # fmt: skip
    try:
        imported = subprocess.run([*podman, "import", str(tarball), image], capture_output=True, text=True)
        assert imported.returncode == 0, imported.stderr
        yield podman
    finally:
        subprocess.run([*podman, "rm", "--all", "--force"], capture_output=True, timeout=60)
        subprocess.run([*podman, "system", "reset", "--force"], capture_output=True, timeout=60)
        _unmount_under(store)
        shutil.rmtree(store, ignore_errors=True)
        # podman (cgroupfs manager) leaves libpod_parent/ and libpod_parent/conmon/ behind, empty.
        _remove_empty_cgroups("libpod_parent/conmon")
        _remove_empty_cgroups("libpod_parent")

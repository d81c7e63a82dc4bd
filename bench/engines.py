"""Private container-engine set-ups shared by the benchmarks and the tests (tests/engines.py adds
pytest's skips): a busybox image tarball, a podman with a store of its own, and the clean-up of what
the engines leave behind (mounts under their roots, empty cgroups)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

APPLETS = ("sh", "echo", "cat", "sleep", "true")


def busybox_tarball(path: Path, applets: tuple[str, ...] = APPLETS) -> Path:
    """A rootfs tarball holding busybox and a few applets, for `docker import`/`podman import`.
    FileNotFoundError without busybox (Debian package busybox-static)."""
    busybox = shutil.which("busybox")
    if busybox is None:
        raise FileNotFoundError("needs busybox (Debian package busybox-static)")
    rootfs = path.with_suffix(".d")
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy(busybox, rootfs / "bin" / "busybox")
    for applet in applets:
        (rootfs / "bin" / applet).symlink_to("busybox")
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(path), "."], check=True)
    shutil.rmtree(rootfs)
    return path


@contextlib.contextmanager
def podman_store(tarball: Path, image: str) -> Iterator[list[str]]:
    """podman with storage of its own (vfs, cgroupfs, no events) and ``tarball`` imported as
    ``image``; yields the command line; removes the store and podman's leftover cgroups at the end."""
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
        if imported.returncode != 0:
            raise RuntimeError(f"podman import failed: {imported.stderr.strip()}")
        yield podman
    finally:
        subprocess.run([*podman, "rm", "--all", "--force"], capture_output=True, timeout=60)
        subprocess.run([*podman, "system", "reset", "--force"], capture_output=True, timeout=60)
        unmount_under(store)
        shutil.rmtree(store, ignore_errors=True)
        # podman (cgroupfs manager) leaves libpod_parent/ and libpod_parent/conmon/ behind, empty.
        remove_empty_cgroups("libpod_parent/conmon")
        remove_empty_cgroups("libpod_parent")


def unmount_under(root: Path) -> None:
    with open("/proc/self/mountinfo") as handle:
        points = [line.split()[4] for line in handle]
    for point in sorted((p for p in points if p.startswith(str(root))), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def remove_empty_cgroups(name: str) -> None:
    """An engine's parent cgroup, left empty: /sys/fs/cgroup/*/NAME (v1) or /sys/fs/cgroup/NAME (v2)."""
    for path in glob.glob(f"/sys/fs/cgroup/*/{name}") + glob.glob(f"/sys/fs/cgroup/{name}"):
        with contextlib.suppress(OSError):
            os.rmdir(path)

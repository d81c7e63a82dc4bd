"""The arm64 lane's root filesystem: an arm64 Debian tree made by mmdebstrap from Debian's own
packages (their maintainer scripts run under qemu-user through binfmt_misc), with a venv holding
the project's Python dependencies as aarch64 wheels fetched on the host. Built once per recipe
(recipe.py) in a cache outside the checkout, so that a fresh clone on the same machine reuses it;
build/vm/arm64 links to it."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.vm.arm64 import recipe
from tests.vm.errors import LaneError

CACHE = Path(os.environ.get("BOXTRACE_VM_CACHE", "/var/cache/boxtrace/vm"))
READY = ".ready"
BINFMT = Path("/proc/sys/fs/binfmt_misc")
QEMU_AARCH64 = "qemu-aarch64"
# Under qemu-user the kernel package's update-initramfs alone takes over ten minutes; the lane
# boots with an initramfs of its own (initramfs.py), so the command is a no-op in the tree.
# (A dpkg diversion: the real one stays as update-initramfs.distrib, installed by its package.)
NO_INITRAMFS_HOOK = (
    'chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs'
    ' && printf "#!/bin/sh\\n# the arm64 lane boots with its own initramfs\\nexit 0\\n"'
    ' > "$1/usr/sbin/update-initramfs" && chmod 755 "$1/usr/sbin/update-initramfs"'
)
VENV_HOOK = f'chroot "$1" /usr/bin/python3 -m venv --without-pip {recipe.VENV}'
# Documentation and translations are not read by anyone in the guest.
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")


@dataclass(frozen=True)
class Rootfs:
    home: Path  # CACHE/arm64-KEY: rootfs/ and the .ready note

    @property
    def tree(self) -> Path:
        return self.home / "rootfs"

    @property
    def site_packages(self) -> Path:
        return (
            self.tree / recipe.VENV.lstrip("/") / "lib" / f"python{recipe.PYTHON_VERSION}" / "site-packages"
        )

    def kernel_release(self) -> str:
        releases = sorted(p.name for p in (self.tree / "lib" / "modules").iterdir())
        if len(releases) != 1:
            raise LaneError(f"expected one kernel in {self.tree}/lib/modules, found {releases or 'none'}")
        return releases[0]

    def kernel_image(self) -> Path:
        return self.tree / "boot" / f"vmlinuz-{self.kernel_release()}"

    def kernel_version(self) -> str:
        """The Debian version of the kernel package, from the tree's dpkg status."""
        package = f"linux-image-{self.kernel_release()}"
        status = (self.tree / "var" / "lib" / "dpkg" / "status").read_text()
        for stanza in status.split("\n\n"):
            lines = stanza.splitlines()
            if f"Package: {package}" in lines:
                return next((line.split(": ", 1)[1] for line in lines if line.startswith("Version: ")), "?")
        return "?"


def location(cache: Path = CACHE) -> Rootfs:
    return Rootfs(cache / f"arm64-{recipe.key()}")


def prepare(
    build: Path, cache: Path = CACHE, say: Callable[[str], None] = print
) -> tuple[Rootfs, float | None]:
    """The tree of the current recipe, built when it is not in the cache yet; build/vm/arm64 links
    to it. Returns it and the build's duration in seconds (None: it was cached)."""
    rootfs = location(cache)
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".arm64.lock", "w") as lock:
        # Two lanes (two clones) at once: the second waits for the first one's tree.
        fcntl.flock(lock, fcntl.LOCK_EX)
        took = None
        if not (rootfs.home / READY).exists():
            say(
                f"building the arm64 root filesystem in {rootfs.home} "
                "(once per recipe; ~10-15 min under qemu-user)"
            )
            started = time.monotonic()
            build_tree(rootfs)
            took = time.monotonic() - started
            for old in cache.glob("arm64-*"):
                # ~650 MB each, and their logs: only the current recipe's are kept
                if not old.name.startswith(rootfs.home.name):
                    shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    build.mkdir(parents=True, exist_ok=True)
    link = build / "arm64"
    if not link.is_symlink() or os.readlink(link) != str(rootfs.home):
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(rootfs.home)
    return rootfs, took


def build_tree(rootfs: Rootfs) -> None:
    for tool, package in (("mmdebstrap", "mmdebstrap"), ("update-binfmts", "binfmt-support")):
        if shutil.which(tool) is None:
            raise LaneError(f"{tool} not found: apt-get install {package}")
    if not Path(f"/usr/bin/{QEMU_AARCH64}").exists() and shutil.which(f"{QEMU_AARCH64}-static") is None:
        raise LaneError("qemu-aarch64 (user mode) not found: apt-get install qemu-user-static")
    work = rootfs.home.with_name(rootfs.home.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        with arm64_binaries_run():
            _run(mmdebstrap_command(work / "rootfs"), "mmdebstrap", log_file(rootfs, "mmdebstrap"))
        _install_wheels(Rootfs(work), log_file(rootfs, "pip"))
        (work / READY).write_text(f"recipe {recipe.key()}\n")
        shutil.rmtree(rootfs.home, ignore_errors=True)
        os.rename(work, rootfs.home)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def log_file(rootfs: Rootfs, step: str) -> Path:
    """Kept next to the tree (also when the build fails and its partial tree is removed)."""
    return rootfs.home.with_name(f"{rootfs.home.name}.{step}.log")


def mmdebstrap_command(target: Path) -> list[str]:
    return [
        "mmdebstrap",
        "--variant=apt",
        "--arch=arm64",
        f"--include={','.join(recipe.PACKAGES)}",
        *(f"--dpkgopt=path-exclude={pattern}" for pattern in DPKG_EXCLUDES),
        f"--essential-hook={NO_INITRAMFS_HOOK}",
        f"--customize-hook={VENV_HOOK}",
        # The package lists are not needed in the guest (nothing is installed there).
        '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin',
        recipe.SUITE,
        str(target),
        *recipe.MIRRORS,
    ]


def wheels_command(target: Path) -> list[str]:
    """pip on the host installs the aarch64 wheels into the tree's venv: no pip runs under qemu."""
    return [
        sys.executable,
        "-m",
        "pip",
        "--disable-pip-version-check",
        "install",
        "--quiet",
        "--no-warn-script-location",
        "--only-binary=:all:",
        *(f"--platform={platform}" for platform in recipe.WHEEL_PLATFORMS),
        f"--python-version={recipe.PYTHON_VERSION}",
        "--implementation=cp",
        f"--target={target}",
        *recipe.WHEELS,
    ]


def _install_wheels(rootfs: Rootfs, log: Path) -> None:
    target = rootfs.site_packages
    if not target.is_dir():
        raise LaneError(f"the venv was not made in the tree ({target} is missing)")
    _run(wheels_command(target), "pip install (aarch64 wheels)", log)
    # Console scripts written by the host's pip name the host's interpreter: the lane runs modules.
    shutil.rmtree(target / "bin", ignore_errors=True)


@contextmanager
def arm64_binaries_run() -> Iterator[None]:
    """binfmt_misc mounted and qemu-aarch64 enabled while the tree is built; both put back as
    they were afterwards (this machine kind has binfmt_misc built in but not mounted)."""
    mounted_here = False
    if not (BINFMT / "register").exists():
        done = subprocess.run(
            ["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise LaneError(f"cannot mount binfmt_misc on {BINFMT}: {done.stderr.strip()}")
        mounted_here = True
    enabled_here = False
    try:
        if not (BINFMT / QEMU_AARCH64).exists():
            _run(["update-binfmts", "--enable", QEMU_AARCH64], "update-binfmts --enable qemu-aarch64")
            enabled_here = True
        yield
    finally:
        if enabled_here:
            subprocess.run(["update-binfmts", "--disable", QEMU_AARCH64], capture_output=True, check=False)
        if mounted_here:
            subprocess.run(["umount", str(BINFMT)], capture_output=True, check=False)


def _run(command: list[str], what: str, log: Path | None = None) -> None:
    with open(log, "w") if log else open(os.devnull, "w") as out:
        done = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
        )
    if done.returncode != 0:
        last = _last_line(log.read_text(errors="replace")) if log else ""
        kept = f" (log: {log})" if log else ""
        raise LaneError(f"{what} failed (exit {done.returncode}): {last}{kept}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"

"""Debian's stock kernel for the lane: resolved through apt, fetched with `apt-get download` and
unpacked under build/vm (never installed on the host: no boot entry, no initramfs), kept there
until Debian's linux-image-amd64 points at another version."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.vm.errors import LaneError

META_PACKAGE = "linux-image-amd64"
_VERSIONED = re.compile(r"^\|?\s*Depends:\s*(linux-image-\d\S*)\s*$")
_VERSION = re.compile(r"^Version:\s*(\S+)\s*$")
READY = ".ready"


@dataclass(frozen=True)
class KernelPackage:
    name: str  # linux-image-6.1.0-57-amd64
    version: str  # 6.1.192-3

    @property
    def release(self) -> str:
        """The kernel's `uname -r`, which names its modules directory."""
        return self.name.removeprefix("linux-image-")

    @property
    def directory(self) -> str:
        return f"kernel-{self.release}_{self.version}"


@dataclass(frozen=True)
class Kernel:
    package: KernelPackage
    root: Path  # the unpacked package: boot/, lib/modules/RELEASE/

    @property
    def image(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.package.release}"

    @property
    def modules(self) -> Path:
        return self.root / "lib" / "modules" / self.package.release


def versioned_package(depends_output: str) -> str:
    """The package linux-image-amd64 depends on, from `apt-cache depends linux-image-amd64`."""
    for line in depends_output.splitlines():
        match = _VERSIONED.match(line.strip())
        if match:
            return match.group(1)
    raise LaneError(f"apt-cache does not show which kernel {META_PACKAGE} depends on")


def package_version(show_output: str) -> str:
    """The candidate's version from `apt-cache show --no-all-versions PACKAGE`."""
    for line in show_output.splitlines():
        match = _VERSION.match(line)
        if match:
            return match.group(1)
    raise LaneError("apt-cache show printed no Version line")


def _apt_cache(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["apt-cache", *args], capture_output=True, text=True, check=False)


def resolve() -> KernelPackage:
    """linux-image-amd64's versioned kernel package and its candidate version; `apt-get update`
    once when the package lists do not know it yet (a fresh container or CI image)."""
    if shutil.which("apt-cache") is None:
        raise LaneError("apt-cache not found: the lane fetches Debian's kernel package with apt")
    depends = _apt_cache("depends", META_PACKAGE)
    if depends.returncode != 0 or "Depends:" not in depends.stdout:
        update = subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, check=False)
        if update.returncode != 0:
            raise LaneError(f"apt-get update failed: {_last_line(update.stderr)}")
        depends = _apt_cache("depends", META_PACKAGE)
    name = versioned_package(depends.stdout)
    show = _apt_cache("show", "--no-all-versions", name)
    if show.returncode != 0:
        raise LaneError(f"apt-cache show {name} failed: {_last_line(show.stderr)}")
    return KernelPackage(name, package_version(show.stdout))


def prepare(build: Path, package: KernelPackage | None = None) -> tuple[Kernel, bool]:
    """The unpacked kernel under ``build``, fetched when its version is not there yet.
    Returns it and whether it was fetched now."""
    package = package or resolve()
    build.mkdir(parents=True, exist_ok=True)
    kernel = Kernel(package, build / package.directory / "root")
    # Two lanes of one checkout started at once must not unpack into each other.
    with open(build / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (kernel.root.parent / READY).exists():
            return kernel, False
        _unpack(package, kernel.root.parent)
        for old in build.glob("kernel-*"):
            if old != kernel.root.parent:
                shutil.rmtree(old)  # ~400 MB each: only the current version is kept
    return kernel, True


def _unpack(package: KernelPackage, target: Path) -> None:
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise LaneError(f"{tool} not found: the lane unpacks Debian's kernel package with it")
    depmod = _depmod()
    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        work.chmod(0o755)  # apt's _apt user would like to write there; root downloads otherwise
        _run(["apt-get", "download", "-q", f"{package.name}={package.version}"], cwd=work)
        debs = list(work.glob("*.deb"))
        if len(debs) != 1:
            raise LaneError(f"apt-get download left {len(debs)} .deb files in {work}")
        _run(["dpkg-deb", "-x", str(debs[0]), str(work / "root")])
        debs[0].unlink()
        # Debian generates modules.dep at install time (the package does not ship it): without it
        # the guest's modprobe finds nothing.
        _run([depmod, "-b", str(work / "root"), package.release])
        (work / READY).write_text(f"{package.name} {package.version}\n")
        shutil.rmtree(target, ignore_errors=True)
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _depmod() -> str:
    found = shutil.which("depmod") or next(
        (p for p in ("/usr/sbin/depmod", "/sbin/depmod") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise LaneError("depmod not found: install Debian's kmod package (apt-get install kmod)")
    return found


def _run(command: list[str], cwd: Path | None = None) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LaneError(f"{' '.join(command[:2])} failed (exit {done.returncode}): {_last_line(done.stderr)}")


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no message"

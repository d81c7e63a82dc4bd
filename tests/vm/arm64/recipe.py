"""What the arm64 lane's root filesystem is made of. Its key (a hash of this recipe) names the
cache directory: change a package, a mirror, a wheel or the build steps (bump BUILD_STEPS) and
the next lane builds a new tree; anything else reuses the one built."""

from __future__ import annotations

import hashlib
import json

SUITE = "bookworm"
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    # Debian's current arm64 kernel comes from the security archive
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# Debian packages on top of mmdebstrap's apt variant (Essential: yes plus apt). What the tests run:
# the runtimes, the oracle, busybox for the images, util-linux's unshare and setpriv, mount (not
# Essential), kmod for the kernel's modules; and the kernel, whose own initramfs is not made (see rootfs.py).
PACKAGES = (
    "linux-image-arm64",
    "python3",
    "python3-venv",
    "busybox-static",
    "runc",
    "crun",
    "strace",
    "util-linux",
    "mount",
    "kmod",
    "iproute2",
    "procps",
)
# The project's Python dependencies (pyproject.toml: dependencies and the test extra, without the
# host-only tools ruff, mypy, virtme-ng), fetched on the host as aarch64/CPython 3.11 wheels.
WHEELS = (
    "python-ptrace>=0.9.9",
    "textual==8.2.8",
    "textual-serve>=1.1,<2",
    "rich>=13",
    "pytest>=8",
    "pytest-asyncio>=1.0",
    "pytest-textual-snapshot==1.1.0",
    "syrupy==4.8.0",
    "hypothesis>=6.100",
)
PYTHON_VERSION = "3.11"  # bookworm's python3
WHEEL_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64")
VENV = "/opt/boxtrace-venv"
# Bumped when rootfs.py builds the tree differently.
BUILD_STEPS = 1


def key() -> str:
    recipe = {
        "suite": SUITE,
        "mirrors": MIRRORS,
        "packages": PACKAGES,
        "wheels": WHEELS,
        "python": PYTHON_VERSION,
        "platforms": WHEEL_PLATFORMS,
        "venv": VENV,
        "steps": BUILD_STEPS,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]

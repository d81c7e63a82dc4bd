"""Shared fixtures: root checks, a busybox OCI bundle, and a guard that every test leaves the host as
it found it (no new mounts, no boxtrace cgroups, no processes stopped under ptrace)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IS_ROOT = os.geteuid() == 0

# How many times slower than natively the tests run here: the arm64 lane's guest (qemu emulating
# another architecture in software, tests/vm/arm64) sets it. The timeouts of tests that trace real
# programs (runc under strace: every call of its threads is a ptrace stop) scale with it.
SLOWDOWN = float(os.environ.get("BOXTRACE_TEST_SLOWDOWN", "1"))

needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root: creates namespaces, mounts and cgroups")
# A pure cgroup v2 host: the unified hierarchy is mounted at /sys/fs/cgroup itself.
IS_CGROUP_V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")


# pyproject.toml's package-dir: where each part of the installed package comes from in the checkout.
PACKAGE_DIRS = {"boxtrace": "boxtrace", "tracer": "boxtrace/tracer", "runtime": "boxtrace/runtime",
                "lessons": "boxtrace/lessons", "tui": "boxtrace/tui"}  # fmt: skip
PACKAGE_FILES = (".py", ".toml", ".tcss")


def _package_files(root: Path, under: str) -> set[str]:
    found = set()
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        relative = Path(directory).relative_to(root)
        found.update(str(Path(under, relative, f)) for f in files if f.endswith(PACKAGE_FILES))
    return found


def stale_install() -> str | None:
    """What `make venv`'s install lacks or has in excess, or None. That install (setuptools' strict
    editable mode) links to each source file: edits show at once, but a file added since is missing
    from it, and tests that run the console scripts would import the old set of files."""
    tree = next((Path(p) for p in sys.path if "__editable__.boxtrace-" in p), None)
    if tree is None:
        return None  # another kind of install: nothing to compare
    sources: set[str] = set()
    for folder, under in PACKAGE_DIRS.items():
        sources |= _package_files(REPO / folder, under)
    installed = _package_files(tree / "boxtrace", "boxtrace")
    differ = sorted(sources ^ installed)
    if not differ:
        return None
    return (
        f"the .venv's install does not match the sources ({', '.join(differ[:3])}"
        f"{', ...' if len(differ) > 3 else ''} added or removed since): run `make venv`"
    )


APT_SKIPPED = REPO / "build" / "apt-skipped.json"


def needs_program(program: str, package: str, alternative: str = "") -> str | None:
    """None when ``program`` is on PATH, else why a test that needs it skips: the Debian package
    (or ``alternative``), and why `make test` did not install it when it skipped it on purpose
    (tools/apt_install.py: a package whose installation would remove another one)."""
    if shutil.which(program) is not None:
        return None
    reason = f"needs {program} (Debian package {package}{f', or {alternative}' if alternative else ''})"
    try:
        skipped = json.loads(APT_SKIPPED.read_text()).get(package)
    except (OSError, ValueError):
        skipped = None
    return f"{reason}; make test did not install {package}: {skipped}" if skipped else reason


def pytest_configure(config: pytest.Config) -> None:
    problem = stale_install()
    if problem is not None:
        pytest.exit(problem, returncode=2)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked cgroup_v2 need a pure v2 host; on this project's hybrid machines the VM lane
    (tests/vm) boots one and runs them there, so here they skip and say where they run."""
    if IS_CGROUP_V2:
        return
    skip = pytest.mark.skip(
        reason="needs a pure cgroup v2 host: runs in the VM lane (tests/vm, part of make test)"
    )
    for item in items:
        if "cgroup_v2" in item.keywords:
            item.add_marker(skip)


def host_mounts() -> set[str]:
    """Each mount as ``ROOT MOUNT_POINT`` (mountinfo fields 4 and 5)."""
    with open("/proc/self/mountinfo") as handle:
        return {" ".join(line.split()[3:5]) for line in handle}


# Mounts that a container engine makes once per machine (per boot) and keeps by design; a test that
# runs the engine first on a machine sees them appear. Not ours to remove, nor a leak; each is named
# exactly, so that any other mount still counts.
ENGINE_HOST_MOUNTS = {
    # podman (containers/common's netns package) bind-mounts /run/netns onto itself and makes it
    # shared, the first time it creates a network namespace, so that the namespace files it mounts
    # under it reach other mount namespaces; it never unmounts it (nor does `ip netns`).
    # (The first field is the mount's root in its filesystem: /run/netns when /run is a directory of
    # the root filesystem, /netns when /run is a tmpfs of its own, as in the VM lane.)
    "/run/netns /run/netns": "podman's shared /run/netns",
    "/netns /run/netns": "podman's shared /run/netns (/run on a tmpfs)",
}


def leaked_mounts(before: set[str]) -> list[str]:
    """The mounts that are on the host now and were not in ``before``, but for ENGINE_HOST_MOUNTS."""
    return sorted(m for m in host_mounts() - before if m not in ENGINE_HOST_MOUNTS)


def boxtrace_cgroups() -> set[str]:
    found = set()
    for top in ("/sys/fs/cgroup", *(os.path.join("/sys/fs/cgroup", d) for d in _cgroup_subdirs())):
        try:
            found.update(os.path.join(top, d) for d in os.listdir(top) if "boxtrace" in d)
        except OSError:
            continue
    return found


def _cgroup_subdirs() -> list[str]:
    try:
        return [d for d in os.listdir("/sys/fs/cgroup") if os.path.isdir(os.path.join("/sys/fs/cgroup", d))]
    except OSError:
        return []


def traced_stopped_processes() -> set[str]:
    stopped = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "t":
            stopped.add(pid)
    return stopped


@pytest.fixture(autouse=True)
def host_left_clean() -> Iterator[None]:
    """Every test: the same mounts and boxtrace cgroups after as before, and no stopped tracees.

    BOXTRACE_TESTS_CONCURRENT=1 turns the check off, for a developer running two test sessions on
    one host at once (each would see the other's containers); CI never sets it."""
    if os.environ.get("BOXTRACE_TESTS_CONCURRENT") == "1":
        yield
        return
    mounts_before = host_mounts()
    cgroups_before = boxtrace_cgroups()
    stopped_before = traced_stopped_processes()
    yield
    mounts = leaked_mounts(mounts_before)
    leaked_cgroups = boxtrace_cgroups() - cgroups_before
    stopped = traced_stopped_processes() - stopped_before
    assert not mounts, f"test left mounts on the host: {mounts}"
    assert not leaked_cgroups, f"test left cgroups on the host: {sorted(leaked_cgroups)}"
    assert not stopped, f"test left processes stopped under ptrace: {sorted(stopped)}"


def boxtrace(*args: str, timeout: float = 60, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the boxtrace CLI of this checkout in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "boxtrace", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def make_busybox_bundle(path: Path, args: list[str] | None = None) -> Path:
    """An OCI bundle with a busybox rootfs (the lessons' recipe) and a config of the tests' own."""
    if shutil.which("busybox") is None:
        pytest.skip("needs busybox (Debian package busybox-static)")
    from boxtrace.lessons.guided import build_bundle

    path.mkdir(parents=True, exist_ok=True)
    build_bundle(path, {})
    config = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args or ["/bin/true"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                name: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
                for name in ("bounding", "effective", "permitted")
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "bundle",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"],
        },
    }
    (path / "config.json").write_text(json.dumps(config, indent=2))
    return path


@pytest.fixture(scope="session")
def busybox_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_bundle(tmp_path_factory.mktemp("bundle"))

"""Runs inside the lane's VM as root (`python -m tests.vm.guest [PYTEST ARGS | --shell]`): checks that the
guest is what the lane promises (pure cgroup v2, writable state directories, the runtimes and
tools the tests use), then becomes pytest. Each failed check is one line and exit status 3."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

MARKER = "lane-v2 guest:"
CHECK_FAILED = 3
CGROUP = "/sys/fs/cgroup"
CONTROLLERS = ("cpu", "memory", "pids")
# Written by the runtime and the tests; the guest's root is the host's, read-only over 9p, with
# tmpfs or overlays on these.
WRITABLE = ("/run", "/tmp", "/var/lib/boxtrace", "/var/cache/boxtrace")
TOOLS = ("busybox", "runc", "crun", "strace", "setpriv", "unshare")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def cgroup_mounts() -> list[tuple[str, str]]:
    """(mount point, fstype) of every cgroup and cgroup2 mount."""
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                found.append((fields[4], fstype))
    return found


def cgroup_problem(mounts: list[tuple[str, str]], controllers: str | None) -> str | None:
    v1 = sorted(point for point, fstype in mounts if fstype == "cgroup")
    if (CGROUP, "cgroup2") not in mounts:
        return f"{CGROUP} is not a cgroup2 mount (cgroup mounts: {mounts or 'none'})"
    if v1:
        return f"hybrid cgroups: v1 hierarchies at {', '.join(v1)}"
    if controllers is None:
        return f"{CGROUP}/cgroup.controllers cannot be read"
    missing = [c for c in CONTROLLERS if c not in controllers.split()]
    if missing:
        return f"{CGROUP}/cgroup.controllers lacks {' '.join(missing)} (has: {controllers.strip()})"
    return None


def fail(message: str) -> None:
    print(f"lane-v2: {message}", flush=True)
    sys.exit(CHECK_FAILED)


def read(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return None


def main(argv: list[str]) -> None:
    repo = os.getcwd()
    venv_bin = os.path.dirname(sys.executable)
    os.environ.update(
        PATH=f"{venv_bin}:{PATH}",
        HOME="/root",
        LANG="C.UTF-8",
        TERM=os.environ.get("TERM", "dumb"),
        BOXTRACE_VM_LANE="1",
    )
    os.environ.pop("BOXTRACE_TESTS_CONCURRENT", None)  # the guest is ours alone: leak checks on
    # virtme-ng's /tmp is an overlay on the host's /tmp; overlayfs cannot be the upper layer of
    # another overlay, which a rootless container's rootfs (state under $HOME in /tmp) needs.
    # A checkout under /tmp (CI clones anywhere) would be hidden by that tmpfs: keep it reachable at
    # its own path through a bind mount made before and put back after.
    under_tmp = repo == "/tmp" or repo.startswith("/tmp/")
    keep = "/run/lane-checkout"
    if under_tmp:
        os.makedirs(keep, exist_ok=True)
        if subprocess.run(["mount", "--bind", repo, keep], check=False).returncode != 0:
            fail(f"cannot keep the checkout {repo} reachable in the guest")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", "/tmp"], check=False)
    if mounted.returncode != 0:
        fail("cannot mount a tmpfs on /tmp in the guest")
    if under_tmp:
        os.makedirs(repo, exist_ok=True)
        if subprocess.run(["mount", "--bind", keep, repo], check=False).returncode != 0:
            fail(f"cannot put the checkout back at {repo} in the guest")
        os.chdir(repo)
    controllers = read(f"{CGROUP}/cgroup.controllers")
    problem = cgroup_problem(cgroup_mounts(), controllers)
    if problem:
        fail(f"the guest is not a pure cgroup v2 host: {problem}")
    for directory in WRITABLE:
        try:
            os.makedirs(directory, exist_ok=True)
            probe = os.path.join(directory, f".lane-probe-{os.getpid()}")
            with open(probe, "w"):
                pass
            os.unlink(probe)
        except OSError as error:
            fail(f"{directory} is not writable in the guest: {error.strerror}")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        fail(f"missing in the guest (install on the host: its root is the guest's): {' '.join(missing)}")
    assert controllers is not None
    print(
        f"{MARKER} kernel {os.uname().release}, pure cgroup v2 ({controllers.strip()}), "
        f"{os.cpu_count()} CPUs, {repo}",
        flush=True,
    )
    os.chdir(repo)
    if argv == ["--shell"]:
        # No rc files: root's ~/.bashrc would put another python first on PATH.
        os.environ["PS1"] = r"(lane-v2) \u@\h:\w# "
        shell = shutil.which("bash")
        os.execv(shell, [shell, "--norc", "-i"]) if shell else os.execv("/bin/sh", ["/bin/sh", "-i"])
    os.execv(sys.executable, [sys.executable, "-m", "pytest", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])

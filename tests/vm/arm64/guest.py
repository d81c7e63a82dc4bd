"""Runs in the arm64 lane's guest as root (`python -m tests.vm.arm64.guest [PYTEST ARGS | --shell]`):
checks that the guest is what the lane promises (an aarch64 kernel, pure cgroup v2, the tools the
tests run), then becomes pytest, or a shell. A failed check is one line and exit status 3."""

from __future__ import annotations

import os
import platform
import shutil
import sys

from tests.vm.guest import CGROUP, CHECK_FAILED, cgroup_mounts, cgroup_problem, read

MARKER = "arm64-lane guest:"
TOOLS = ("busybox", "runc", "crun", "strace", "setpriv", "unshare")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def fail(message: str) -> None:
    print(f"arm64-lane: {message}", flush=True)
    sys.exit(CHECK_FAILED)


def main(argv: list[str]) -> None:
    venv_bin = os.path.dirname(sys.executable)
    os.environ.update(
        PATH=f"{venv_bin}:{PATH}", HOME="/root", LANG="C.UTF-8", TERM=os.environ.get("TERM", "vt100")
    )
    os.environ["BOXTRACE_VM_LANE"] = "arm64"
    # qemu emulating arm64 in software: runc under strace takes ~1 min here (tests/conftest.py)
    os.environ["BOXTRACE_TEST_SLOWDOWN"] = "5"
    if platform.machine() != "aarch64":
        fail(f"the guest's machine is {platform.machine()}, not aarch64")
    controllers = read(f"{CGROUP}/cgroup.controllers")
    problem = cgroup_problem(cgroup_mounts(), controllers)
    if problem:
        fail(f"the guest is not a pure cgroup v2 host: {problem}")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        fail(f"missing in the guest's root filesystem (tests/vm/arm64/recipe.py): {' '.join(missing)}")
    assert controllers is not None
    print(
        f"{MARKER} kernel {os.uname().release} {platform.machine()}, pure cgroup v2 "
        f"({controllers.strip()}), {os.cpu_count()} CPUs, {os.getcwd()}",
        flush=True,
    )
    if argv == ["--shell"]:
        os.environ["PS1"] = r"(arm64-lane) \u@\h:\w# "
        bash = shutil.which("bash")
        os.execv(bash, [bash, "--norc", "-i"]) if bash else os.execv("/bin/sh", ["/bin/sh", "-i"])
    os.execv(sys.executable, [sys.executable, "-m", "pytest", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])

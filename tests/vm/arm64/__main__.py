"""The arm64 lane: `python -m tests.vm.arm64 [--shell] [PYTEST ARGS...]`.

Boots Debian's arm64 kernel (linux-image-arm64 of bookworm) under qemu-system-aarch64 (software
emulation: `-M virt -cpu max`) on an arm64 Debian root filesystem built with mmdebstrap (cached
outside the checkout, rootfs.py), pure cgroup v2, and runs there the tests of
tests/vm/arm64/selection.py as root. Test paths or node ids among the arguments run those instead;
other arguments go to pytest. --shell gives a root shell in the same guest. Prints how long the
build, the boot and the tests took. See docs/testing.md.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.vm.arm64 import initramfs, rootfs
from tests.vm.arm64.guest import MARKER
from tests.vm.arm64.recipe import VENV
from tests.vm.arm64.selection import ARM64_LANE
from tests.vm.errors import LaneError
from tests.vm.lane import names_tests

REPO = Path(__file__).resolve().parents[3]
BUILD = REPO / "build" / "vm"
MEMORY = "2G"
CPUS = 2
# max: every arm64 feature qemu emulates; pauth-impdef: pointer authentication with qemu's cheap
# algorithm instead of the architected one (QARMA), which costs TCG a lot.
CPU = "max,pauth-impdef=on"
LANE_TIMEOUT = 45 * 60.0  # ~3x the tests' time here: a hung guest ends, with a reason
STATUS = "arm64-lane: guest exit status "
KERNEL_LINE = re.compile(r"\[\s*\d+\.\d+\] ")
USAGE = "usage: python -m tests.vm.arm64 [--shell] [PYTEST ARGS...]"


def say(message: str) -> None:
    print(f"arm64-lane: {message}", flush=True)


def pytest_args(args: list[str], repo: Path = REPO) -> list[str]:
    if names_tests(args, repo):
        return args
    return ["--durations=5", *ARM64_LANE, *args]


def qemu_command(kernel: Path, initrd: Path, tree: Path, repo: Path, shell: bool = False) -> list[str]:
    return [
        "qemu-system-aarch64",
        "-M", "virt",
        "-cpu", CPU,
        "-smp", str(CPUS),
        "-m", MEMORY,
        "-nographic",
        "-no-reboot",
        "-nic", "none",
        "-kernel", str(kernel),
        "-initrd", str(initrd),
        # quiet: the console is the tests' output; panic=-1: a guest that cannot go on stops
        "-append", "console=ttyAMA0 quiet loglevel=3 panic=-1" + ("" if shell else " TERM=dumb"),
        "-fsdev", f"local,id=root,path={tree},security_model=none,readonly=on",
        "-device", f"virtio-9p-pci,fsdev=root,mount_tag={initramfs.ROOT_TAG}",
        "-fsdev", f"local,id=repo,path={repo},security_model=none",
        "-device", f"virtio-9p-pci,fsdev=repo,mount_tag={initramfs.REPO_TAG}",
    ]  # fmt: skip


def guest_env(repo: Path, mode: str, args: list[str]) -> str:
    values = {"LANE_REPO": str(repo), "LANE_MODE": mode, "LANE_ARGS": shlex.join(args), "LANE_VENV": VENV}
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())


def tools() -> None:
    if shutil.which("qemu-system-aarch64") is None:
        raise LaneError("qemu-system-aarch64 not found: apt-get install qemu-system-arm")
    if os.geteuid() != 0:
        raise LaneError("needs root: it builds a root filesystem and the guest's tests need root")


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        print(__doc__)
        return 0
    shell = argv[:1] == ["--shell"]
    args = argv[1:] if shell else argv
    if args[:1] == ["--"]:
        args = args[1:]
    started = time.monotonic()
    try:
        tools()
        tree, built = rootfs.prepare(BUILD, say=say)
        release, version = tree.kernel_release(), tree.kernel_version()
        how = f"built in {built:.0f} s" if built is not None else "cached"
        say(f"root filesystem {tree.home} ({how}); kernel {release} (linux-image-{release} {version})")
        mode = "shell" if shell else "tests"
        initrd = initramfs.build(
            tree.tree, release, REPO, guest_env(REPO, mode, pytest_args(args)), BUILD / "arm64-initrd.img"
        )
    except LaneError as error:
        say(f"cannot boot: {error}")
        return 1
    command = qemu_command(tree.kernel_image(), initrd, tree.tree, REPO, shell)
    say(f"qemu-system-aarch64 -M virt -cpu {CPU} (software emulation), {CPUS} CPUs, {MEMORY} memory")
    if shell:
        say(f"a root shell in the guest, in {REPO}; exit it to stop the VM")
        return subprocess.call(command)
    ready = time.monotonic()
    status, booted = run(command, BUILD / "arm64-boot.log")
    done = time.monotonic()
    build_s = f"{built:.0f} s" if built is not None else f"cached ({ready - started:.0f} s to check it)"
    boot_s = f"{booted - ready:.0f} s" if booted else "no boot"
    tests_s = f"{done - booted:.0f} s" if booted else "-"
    say(f"times: root filesystem {build_s}, boot {boot_s}, tests {tests_s}; total {done - started:.0f} s")
    say(f"done (exit status {status})")
    return status


def run(command: list[str], log_path: Path) -> tuple[int, float | None]:
    """Run the VM; the console from the guest's first line on passes through, the boot before it
    goes to ``log_path``. Returns the guest's exit status and when it booted (or None)."""
    booted: float | None = None
    status: int | None = None
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        assert process.stdout is not None
        timer = threading.Timer(LANE_TIMEOUT, os.killpg, (process.pid, signal.SIGKILL))
        timer.start()
        try:
            for raw in process.stdout:
                line = raw.replace("\r", "")
                if line.startswith(STATUS):
                    status = int(line[len(STATUS) :].strip() or 1)
                    continue
                if booted is None and line.startswith(MARKER):
                    booted = time.monotonic()
                    say("booted")
                if KERNEL_LINE.match(line):
                    log.write(line)  # the kernel's own messages (the power-off) stay out of pytest's
                elif booted is not None or line.startswith("arm64-lane:"):
                    sys.stdout.write(line)
                    sys.stdout.flush()
                else:
                    log.write(line)
            qemu_status = process.wait()
        except KeyboardInterrupt:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return 130, booted
        finally:
            timer.cancel()
    if status is not None:
        return status, booted
    if qemu_status == -signal.SIGKILL:
        say(f"stopped after {LANE_TIMEOUT / 60:.0f} minutes: the guest did not finish")
    else:
        say(f"the guest stopped without a status (qemu exit {qemu_status}); its console: {log_path}")
    return 1, booted


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The pure cgroup v2 lane: `python -m tests.vm.lane [--shell] [--boot] [PYTEST ARGS...]`.

Boots Debian's stock kernel (linux-image-amd64, unpacked under build/vm, never installed) with
virtme-ng over this host's own filesystem, checks that the guest has pure cgroup v2, and runs
`pytest -m cgroup_v2` there as root (plus the tests listed in tests/vm/selection.py). Test paths
or node ids among the arguments run those tests instead, marked or not. Output and exit status are
pytest's. --shell gives a root shell in the same VM; --boot boots on a pure v2 host too (where the
cgroup_v2 tests already ran natively, so the lane says so and stops by default).
See docs/testing.md.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from tests.vm import accel, kernel
from tests.vm.command import CPUS, MEMORY, Boot, vng_command
from tests.vm.errors import LaneError
from tests.vm.guest import CHECK_FAILED, MARKER
from tests.vm.selection import ALSO_IN_LANE

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "vm"
LANE_TIMEOUT = 30 * 60.0  # ~3x what the lane takes under TCG here: a hung guest ends, with a reason
LANE_OPTIONS = ("--shell", "--boot", "--tcg")
USAGE = "usage: python -m tests.vm.lane [--shell] [--boot] [--tcg] [PYTEST ARGS...]"


def say(message: str) -> None:
    print(f"lane-v2: {message}", flush=True)


def host_is_pure_v2() -> bool:
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def split_args(argv: list[str]) -> tuple[set[str], list[str]]:
    """The lane's own options (they come first) and pytest's arguments."""
    ours: set[str] = set()
    rest = list(argv)
    while rest and rest[0] in (*LANE_OPTIONS, "-h", "--help"):
        ours.add(rest.pop(0))
    if rest and rest[0] == "--":
        rest.pop(0)
    return ours, rest


def names_tests(args: list[str], repo: Path = REPO) -> bool:
    """Whether the arguments name test files, directories or node ids of the checkout."""
    return any(not a.startswith("-") and (repo / a.split("::", 1)[0]).exists() for a in args)


def lane_files(repo: Path = REPO) -> list[str]:
    """The test files that mention cgroup_v2 (the mark) or hold a test of selection.py: pytest
    collects only these in the guest, where importing all of tests/ costs a minute under TCG."""
    files = {entry.split("::", 1)[0] for entry in ALSO_IN_LANE}
    for path in (repo / "tests").rglob("test_*.py"):
        if "cgroup_v2" in path.read_text(errors="replace"):
            files.add(str(path.relative_to(repo)))
    return sorted(files)


def pytest_args(args: list[str], repo: Path = REPO) -> list[str]:
    if names_tests(args, repo):
        return ["-p", "tests.vm.plugin", *args]
    return ["-p", "tests.vm.plugin", "-m", "cgroup_v2", "--durations=5", *lane_files(repo), *args]


def tools(venv_bin: Path) -> Path:
    """vng's path; one-line errors for what the lane cannot work without."""
    vng = venv_bin / "vng"
    if not vng.exists() or not (venv_bin / "virtme-run").exists():
        raise LaneError(f"virtme-ng is not in {venv_bin}: pip install -e '.[test]' (it is in the test extra)")
    if shutil.which("qemu-system-x86_64") is None:
        raise LaneError("qemu-system-x86_64 not found: apt-get install qemu-system-x86")
    if os.geteuid() != 0:
        raise LaneError("needs root: it unpacks a kernel package and the guest's tests need root")
    return vng


def main(argv: list[str]) -> int:
    ours, args = split_args(argv)
    if ours & {"-h", "--help"}:
        print(USAGE)
        print(__doc__)
        return 0
    if host_is_pure_v2() and not ours & {"--shell", "--boot"} and not names_tests(args):
        say("this host has pure cgroup v2: the cgroup_v2 tests ran natively in pytest; no VM booted (--boot)")
        return 0
    started = time.monotonic()
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    try:
        vng = tools(venv_bin)
        lane_kernel, fetched = kernel.prepare(BUILD)
        package = lane_kernel.package
        how = f"fetched and unpacked in {time.monotonic() - started:.0f} s" if fetched else "cached"
        where = lane_kernel.root.parent.relative_to(REPO)
        say(f"kernel {package.release} ({package.name} {package.version}, {how} in {where})")

        def boot(name: str) -> Boot:
            return Boot(vng=vng, kernel_image=lane_kernel.image, repo=REPO, accel=name)

        if "--tcg" in ours:
            chosen = accel.Accel("tcg", "--tcg asked for")
        else:
            chosen = accel.detect(BUILD, package.release, lambda name: vng_command(boot(name), ["true"]), env)
        cached = ", cached" if chosen.cached else ""
        say(f"accelerator {chosen.name} ({chosen.why}{cached}); {CPUS} CPUs, {MEMORY} memory")
    except LaneError as error:
        say(f"cannot boot: {error}")
        return 1
    guest = [sys.executable, "-m", "tests.vm.guest"]
    if "--shell" in ours:
        say(f"a root shell in the guest, in {REPO}; exit it to stop the VM")
        return subprocess.call(vng_command(boot(chosen.name), None, shell=shell_script(guest)), env=env)
    status = run(vng_command(boot(chosen.name), [*guest, *pytest_args(args)]), env, chosen.name)
    say(f"done in {time.monotonic() - started:.0f} s under {chosen.name} (exit status {status})")
    return status


def shell_script(guest: list[str]) -> Path:
    """vng gives its login shell a terminal, a command after `--` none: the lane's shell is a
    script that vng takes as the user's shell, and it checks the guest and sets it up first."""
    script = BUILD / "guest-shell"
    script.write_text(f"#!/bin/sh\ncd {shlex.quote(str(REPO))} && exec {shlex.join([*guest, '--shell'])}\n")
    script.chmod(0o755)
    return script


def run(command: list[str], env: dict[str, str], accel_name: str, log_path: Path = BUILD / "boot.log") -> int:
    """Run the VM, pass its output through from the guest's first line on; before that (the
    boot) it goes to ``log_path``, and a boot that fails is one line naming why."""
    started = time.monotonic()
    booted = threading.Event()
    boot_errors: list[str] = []  # vng's and qemu's stderr before the guest: the reason of a failed boot
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # qemu is vng's child: the whole group is stopped on a timeout
        )
        assert process.stdout is not None and process.stderr is not None
        errors = threading.Thread(target=_relay, args=(process.stderr, log, booted, boot_errors), daemon=True)
        errors.start()
        timer = threading.Timer(LANE_TIMEOUT, os.killpg, (process.pid, signal.SIGKILL))
        timer.start()
        try:
            for line in process.stdout:
                if not booted.is_set() and line.startswith(MARKER):
                    booted.set()
                    say(f"booted in {time.monotonic() - started:.0f} s")
                if booted.is_set() or line.startswith("lane-v2:"):
                    sys.stdout.write(line)
                    sys.stdout.flush()
                else:
                    log.write(line)
            status = process.wait()
        except KeyboardInterrupt:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return 130
        finally:
            timer.cancel()
            errors.join(timeout=5)
    if booted.is_set() or status == CHECK_FAILED:
        if status == -signal.SIGKILL:
            say(f"stopped after {LANE_TIMEOUT / 60:.0f} minutes: the guest did not finish")
            return 1
        return status
    why = boot_errors[-1] if boot_errors else _last_line(log_path) or "no output"
    if status == -signal.SIGKILL:
        why = f"no guest after {LANE_TIMEOUT / 60:.0f} minutes"
    say(f"cannot boot: the VM did not start under {accel_name} (vng exit {status}): {why} (see {log_path})")
    return status if status > 0 else 1


def _relay(source: IO[str], log: IO[str], booted: threading.Event, boot_errors: list[str]) -> None:
    for line in source:
        if booted.is_set():
            sys.stderr.write(line)
            sys.stderr.flush()
        else:
            log.write(line)
            if line.strip():
                boot_errors.append(line.strip())


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

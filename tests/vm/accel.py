"""Which accelerator boots the lane's VM on this host: KVM when a guest really boots under it,
software emulation (TCG) otherwise. /dev/kvm opening is not enough: under nested virtualisation
KVM_CREATE_VM succeeds and the guest then hangs or qemu aborts (REFERENCE.md §10). The answer is
kept per host kernel and lane kernel in build/vm, so the probe costs one boot per host kernel."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROBE_TIMEOUT = 60.0  # a KVM boot of `true` takes a few seconds; a hung one never ends


@dataclass(frozen=True)
class Accel:
    name: str  # "kvm" or "tcg"
    why: str  # a few words: why TCG, or "a KVM guest booted"
    cached: bool = False


def cache_file(build: Path, kernel_release: str) -> Path:
    return build / f"accel-host-{os.uname().release}-guest-{kernel_release}"


def kvm_device_problem() -> str | None:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as error:
        return f"/dev/kvm: {error.strerror}"
    os.close(fd)
    return None


def detect(
    build: Path, kernel_release: str, probe_command: Callable[[str], list[str]], env: dict[str, str]
) -> Accel:
    """``probe_command(accel)``: the vng command that boots the lane's kernel and runs `true`;
    ``env``: vng's environment (virtme-run on its PATH)."""
    cache = cache_file(build, kernel_release)
    if cache.exists():
        name, _, why = cache.read_text().strip().partition(" ")
        if name in ("kvm", "tcg"):
            return Accel(name, why, cached=True)
    problem = kvm_device_problem()
    if problem is None:
        problem = probe(probe_command("kvm"), env)
    accel = Accel("tcg", problem) if problem else Accel("kvm", "a KVM guest booted")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(f"{accel.name} {accel.why}\n")
    return accel


def probe(command: list[str], env: dict[str, str], timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when the VM booted and ran the command, else why not (one line)."""
    process = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # qemu is vng's child: the whole group goes on a timeout
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return f"a KVM guest did not finish booting in {timeout:.0f} s"
    if process.returncode == 0:
        return None
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    # qemu's own reason comes before its assertion's abort message.
    reason = next((line for line in lines if "error" in line.lower()), lines[-1] if lines else "no output")
    return f"a KVM boot failed (exit {process.returncode}): {reason}"

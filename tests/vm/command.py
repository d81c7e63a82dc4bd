"""The virtme-ng command line of the lane: Debian's kernel over this host's own filesystem, the
checkout writable, 9p (virtiofsd is not needed), KVM or software emulation (TCG)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

MEMORY = "2G"
CPUS = 2


@dataclass(frozen=True)
class Boot:
    vng: Path
    kernel_image: Path
    repo: Path
    accel: str  # "kvm" or "tcg"
    memory: str = MEMORY
    cpus: int = CPUS


def vng_command(boot: Boot, guest: list[str] | None, shell: Path | None = None) -> list[str]:
    """``guest``: the command run as root in the guest (its output comes back on stdout and its
    exit status is vng's); None for an interactive shell on a terminal, ``shell`` if given."""
    command = [
        str(boot.vng),
        "--run",
        str(boot.kernel_image),
        # virtiofsd is not installed here; 9p needs no daemon on the host.
        "--force-9p",
        "--memory",
        boot.memory,
        "--cpus",
        str(boot.cpus),
        "--user",
        "root",
        # The guest's root is the host's, read-only; the checkout is shared writable so that
        # pytest's cache and the tests' files under it work.
        "--rwdir",
        str(boot.repo),
        "--cwd",
        str(boot.repo),
    ]
    if boot.accel == "tcg":
        command.append("--disable-kvm")
    if shell is not None:
        command += ["--shell", str(shell)]
    if guest is not None:
        command += ["--", shlex.join(guest)]
    return command

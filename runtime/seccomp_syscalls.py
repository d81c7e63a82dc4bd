"""Each architecture's system call numbers by name, for compiling seccomp profiles.

One literal module per architecture (seccomp_syscalls_x86_64.py, seccomp_syscalls_aarch64.py),
imported only when a profile is compiled for it: each table is ~450 entries.
"""

from __future__ import annotations

import importlib


def syscall_numbers(machine: str) -> dict[str, int]:
    """The table of ``machine`` (a name of runtime/machine.py MACHINES)."""
    module = importlib.import_module(f"boxtrace.runtime.seccomp_syscalls_{machine}")
    numbers: dict[str, int] = module.SYSCALL_NUMBERS
    return numbers

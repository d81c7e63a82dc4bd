"""The architectures the runtime runs on: its raw syscall numbers and seccomp's names for each.

The runtime makes a few system calls through ``syscall(2)`` with their numbers (glibc has no
wrapper, or one with fork semantics), and compiles seccomp profiles for one architecture's
AUDIT_ARCH and table. Both differ between x86_64 and arm64 (the kernel's generic table,
include/uapi/asm-generic/unistd.h). The running machine is chosen at import by
``os.uname().machine``; the tracer keeps its own tables (tracer/arch), and tests/runtime compare them.
"""

from __future__ import annotations

import os

from boxtrace.runtime.errors import RuntimeUsageError
from boxtrace.runtime.records import record


@record
class Machine:
    name: str  # os.uname().machine
    audit_arch: int  # AUDIT_ARCH_* (linux/audit.h): what seccomp_data.arch reads for native calls
    scmp_arch: str  # libseccomp's name for it, as OCI profiles spell architectures
    # x86_64 only: x32 calls read AUDIT_ARCH_X86_64 too and set this bit in the number (0: no x32).
    x32_bit: int
    numbers: dict[str, int]  # the raw numbers runtime/syscalls.py passes to syscall(2)


MACHINES: dict[str, Machine] = {
    # arch/x86/entry/syscalls/syscall_64.tbl; AUDIT_ARCH_X86_64 = EM_X86_64 (62) | 64BIT | LE.
    "x86_64": Machine(
        "x86_64",
        0xC000_003E,
        "SCMP_ARCH_X86_64",
        0x4000_0000,
        {
            "clone": 56,
            "pivot_root": 155,
            "capget": 125,
            "capset": 126,
            "keyctl": 250,
            "seccomp": 317,
            "bpf": 321,
            "clone3": 435,
        },
    ),
    # include/uapi/asm-generic/unistd.h; AUDIT_ARCH_AARCH64 = EM_AARCH64 (183) | 64BIT | LE.
    "aarch64": Machine(
        "aarch64",
        0xC000_00B7,
        "SCMP_ARCH_AARCH64",
        0,
        {
            "clone": 220,
            "pivot_root": 41,
            "capget": 90,
            "capset": 91,
            "keyctl": 219,
            "seccomp": 277,
            "bpf": 280,
            "clone3": 435,
        },
    ),
}

CURRENT: Machine | None = MACHINES.get(os.uname().machine)


class UnsupportedMachine(RuntimeUsageError):
    """This machine's architecture has no table here: a one-line error, exit code 2."""


def unsupported(name: str | None = None) -> str | None:
    """The one-line complaint when ``name`` (default: this machine) has no table, else None."""
    if (CURRENT if name is None else MACHINES.get(name)) is not None:
        return None
    return (
        f"unsupported architecture {name or os.uname().machine!r}: boxtrace traces and runs "
        f"containers on {' and '.join(MACHINES)} only"
    )


def machine(name: str | None = None) -> Machine:
    """The table for ``name`` (default: this machine); UnsupportedMachine names the supported ones."""
    found = CURRENT if name is None else MACHINES.get(name)
    if found is None:
        raise UnsupportedMachine(unsupported(name) or "")
    return found

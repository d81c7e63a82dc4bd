"""The runtime's copy of the x86_64 syscall table (runtime/ may not import tracer/) must stay the
tracer's table, entry for entry."""

from __future__ import annotations

from boxtrace.runtime.seccomp_syscalls import SYSCALL_NUMBERS
from boxtrace.tracer.arch import x86_64


def test_runtime_table_is_the_tracers_table() -> None:
    assert SYSCALL_NUMBERS == x86_64.SYSCALL_NUMBERS
    assert {nr: name for name, nr in SYSCALL_NUMBERS.items()} == x86_64.SYSCALL_NAMES

"""The runtime's copies of the syscall tables (runtime/ may not import tracer/) must stay the
tracer's tables, entry for entry, for every architecture both know; and the two must know the same
architectures, with the same AUDIT_ARCH."""

from __future__ import annotations

import pytest

from boxtrace.runtime.machine import MACHINES
from boxtrace.runtime.seccomp_syscalls import syscall_numbers
from boxtrace.tracer.arch import ARCHES


def test_runtime_and_tracer_know_the_same_architectures() -> None:
    assert set(MACHINES) == set(ARCHES) == {"x86_64", "aarch64"}
    for name, arch in ARCHES.items():
        assert MACHINES[name].audit_arch == arch.audit_arch


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_runtime_table_is_the_tracers_table(arch: str) -> None:
    numbers = syscall_numbers(arch)
    assert numbers == ARCHES[arch].syscall_numbers
    assert {nr: name for name, nr in numbers.items()} == ARCHES[arch].syscall_names


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_the_runtimes_raw_numbers_are_the_tables(arch: str) -> None:
    for name, number in MACHINES[arch].numbers.items():
        assert ARCHES[arch].syscall_numbers[name] == number, name

"""The default filters compiled ahead (tracer/default_filters.py) are what the trap rules and the
syscall tables make today, for every architecture, and they are what a trace installs."""

from __future__ import annotations

from boxtrace.tracer.arch import ARCHES
from boxtrace.tracer.default_filters import PROGRAMS
from boxtrace.tracer.seccomp_filter import (
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_TRACE,
    default_filter,
    default_filters_source,
    default_program,
    pack_program,
    run_program,
)

REGENERATE = (
    "out of date: run `python -m boxtrace.tracer.seccomp_filter` and commit tracer/default_filters.py"
)


def test_the_compiled_filters_are_up_to_date() -> None:
    import boxtrace.tracer.default_filters as module

    with open(module.__file__, encoding="utf-8") as handle:
        assert handle.read() == default_filters_source(), REGENERATE
    assert sorted(PROGRAMS) == sorted(arch.audit_arch for arch in ARCHES.values())
    for arch in ARCHES.values():
        assert PROGRAMS[arch.audit_arch] == pack_program(
            default_program(arch.audit_arch, arch.syscall_numbers)
        )


def test_a_trace_installs_the_compiled_filter_and_it_traps_what_the_rules_say() -> None:
    for arch in ARCHES.values():
        packed = default_filter(arch.audit_arch)
        assert packed is PROGRAMS[arch.audit_arch]
        # Read back as the kernel reads it: mount always stops, getpid never does.
        program = [
            (int.from_bytes(packed[i : i + 2], "little"), packed[i + 2], packed[i + 3],
             int.from_bytes(packed[i + 4 : i + 8], "little"))
            for i in range(0, len(packed), 8)
        ]  # fmt: skip
        numbers = arch.syscall_numbers
        assert run_program(program, numbers["mount"], arch.audit_arch) == SECCOMP_RET_TRACE
        assert run_program(program, numbers["getpid"], arch.audit_arch) == SECCOMP_RET_ALLOW

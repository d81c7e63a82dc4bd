"""The seccomp compiler, run for real: each profile is compiled, loaded with seccomp(2) in a forked
child (no_new_privs first, so no privilege is needed) and the child reports what its syscalls return.

getppid ignores its arguments but the filter sees them, so it carries any 64-bit argument values
to the conditions without side effects."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
from typing import Any

import pytest

from boxtrace.runtime import bpf, syscalls
from boxtrace.runtime.constants import PR_SET_NO_NEW_PRIVS
from boxtrace.runtime.errors import ContainerError
from boxtrace.runtime.seccomp_profile import compile_profile
from boxtrace.runtime.spec import Seccomp, SeccompArg, SeccompRule

NR = {"getpid": 39, "getppid": 110, "personality": 135, "unshare": 272}
X32_SYSCALL_BIT = 0x4000_0000
CLONE_NEWUSER = 0x1000_0000
CLONE_NEWUTS = 0x0400_0000
CLONE_FILES = 0x0000_0400
U64 = 2**64 - 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def call(name: str | int, *args: int) -> int:
    """The syscall's result, or -errno."""
    number = NR[name] if isinstance(name, str) else name
    result = _libc.syscall(ctypes.c_long(number), *(ctypes.c_ulong(a) for a in args))
    return -ctypes.get_errno() if result == -1 else int(result)


def run_filtered(profile: Seccomp, calls: list[tuple[Any, ...]]) -> tuple[list[int], int]:
    """Load the profile in a child, make ``calls`` ((name, *args) each), return their results and
    the child's wait status. The child writes its results before it exits, with the filter on."""
    compiled = compile_profile(profile)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(reader)
            syscalls.prctl(PR_SET_NO_NEW_PRIVS, 1)
            syscalls.seccomp_set_mode_filter(compiled.program, compiled.flags)
            results = [call(*c) for c in calls]
            os.write(writer, json.dumps(results).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as handle:
        data = handle.read()
    _, status = os.waitpid(pid, 0)
    return (json.loads(data) if data else []), status


def deny_getppid(*args: SeccompArg, errno_ret: int = errno.EXDEV) -> Seccomp:
    return Seccomp(
        "SCMP_ACT_ALLOW", rules=[SeccompRule(["getppid"], "SCMP_ACT_ERRNO", errno_ret, list(args))]
    )


def test_errno_with_errno_ret_and_other_calls_untouched() -> None:
    results, status = run_filtered(deny_getppid(errno_ret=errno.EACCES), [("getppid",), ("getpid",)])
    assert status == 0
    assert results[0] == -errno.EACCES
    assert results[1] > 0


def test_errno_without_errno_ret_is_eperm() -> None:
    profile = Seccomp("SCMP_ACT_ALLOW", rules=[SeccompRule(["getppid"], "SCMP_ACT_ERRNO")])
    assert run_filtered(profile, [("getppid",)])[0] == [-errno.EPERM]


def test_arg_condition_allows_personality_query_but_not_a_change() -> None:
    # Docker's profile allows personality(0xffffffff) (a query); here everything else is refused.
    profile = Seccomp(
        "SCMP_ACT_ALLOW",
        rules=[
            SeccompRule(
                ["personality"], "SCMP_ACT_ERRNO", errno.EPERM, [SeccompArg(0, 0xFFFF_FFFF, 0, "SCMP_CMP_NE")]
            )
        ],
    )
    results, _ = run_filtered(
        profile, [("personality", 0xFFFF_FFFF), ("personality", 8), ("personality", 0x1_FFFF_FFFF)]
    )
    assert results[0] >= 0  # the current persona
    assert results[1] == -errno.EPERM
    assert results[2] == -errno.EPERM  # the high half counts: 64-bit comparison


def test_masked_eq_on_unshare_flags() -> None:
    profile = Seccomp(
        "SCMP_ACT_ALLOW",
        rules=[
            SeccompRule(
                ["unshare"],
                "SCMP_ACT_ERRNO",
                errno.ENOTSUP,
                [SeccompArg(0, CLONE_NEWUSER, CLONE_NEWUSER, "SCMP_CMP_MASKED_EQ")],
            )
        ],
    )
    results, _ = run_filtered(
        profile,
        [("unshare", CLONE_NEWUSER | CLONE_NEWUTS), ("unshare", CLONE_NEWUSER), ("unshare", CLONE_FILES)],
    )
    assert results == [-errno.ENOTSUP, -errno.ENOTSUP, 0]


def test_kill_process_rule_kills_with_sigsys() -> None:
    profile = Seccomp("SCMP_ACT_ALLOW", rules=[SeccompRule(["getppid"], "SCMP_ACT_KILL_PROCESS")])
    results, status = run_filtered(profile, [("getppid",)])
    assert results == []
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"])
def test_kill_thread_and_trap_end_a_single_threaded_child_with_sigsys(action: str) -> None:
    profile = Seccomp("SCMP_ACT_ALLOW", rules=[SeccompRule(["getppid"], action)])
    results, status = run_filtered(profile, [("getppid",)])
    assert results == []
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_trace_without_a_tracer_fails_with_enosys_and_log_allows() -> None:
    profile = Seccomp(
        "SCMP_ACT_ALLOW",
        rules=[SeccompRule(["getppid"], "SCMP_ACT_TRACE"), SeccompRule(["getpid"], "SCMP_ACT_LOG")],
    )
    results, _ = run_filtered(profile, [("getppid",), ("getpid",)])
    assert results[0] == -errno.ENOSYS  # seccomp(2): SECCOMP_RET_TRACE with no tracer
    assert results[1] > 0


# Each operator against a Python statement of what it means, on values around the boundaries of
# both 32-bit halves.
OPERATOR_MEANINGS = {
    "SCMP_CMP_EQ": lambda arg, value, _: arg == value,
    "SCMP_CMP_NE": lambda arg, value, _: arg != value,
    "SCMP_CMP_LT": lambda arg, value, _: arg < value,
    "SCMP_CMP_LE": lambda arg, value, _: arg <= value,
    "SCMP_CMP_GT": lambda arg, value, _: arg > value,
    "SCMP_CMP_GE": lambda arg, value, _: arg >= value,
    "SCMP_CMP_MASKED_EQ": lambda arg, mask, want: arg & mask == want,
}
BOUNDARY_VALUES = [0x1_0000_0005, 5, 0xFFFF_FFFF, U64 - 1]


def probes(value: int) -> list[int]:
    around = [value - 1, value, value + 1, value ^ (1 << 32), value ^ 1 ^ (1 << 40), 0, U64]
    return sorted({v & U64 for v in around})


@pytest.mark.parametrize("op", sorted(OPERATOR_MEANINGS))
@pytest.mark.parametrize("value", BOUNDARY_VALUES)
def test_operator_compares_64_bit_values(op: str, value: int) -> None:
    value_two = value & 0xFF00_0000_00FF if op == "SCMP_CMP_MASKED_EQ" else 0
    args = probes(value)
    for index in (0, 5):
        condition = SeccompArg(index, value, value_two, op)
        calls = [("getppid", *([0] * index), arg) for arg in args]
        results, status = run_filtered(deny_getppid(condition), calls)
        assert status == 0
        denied = [arg for arg, result in zip(args, results, strict=True) if result == -errno.EXDEV]
        expected = [arg for arg in args if OPERATOR_MEANINGS[op](arg, value, value_two)]
        assert denied == expected, f"{op} {value:#x} on argument {index}"


def test_conditions_of_one_rule_are_anded() -> None:
    profile = deny_getppid(SeccompArg(0, 1, 0, "SCMP_CMP_EQ"), SeccompArg(1, 2, 0, "SCMP_CMP_EQ"))
    results, _ = run_filtered(profile, [("getppid", 1, 2), ("getppid", 1, 3), ("getppid", 0, 2)])
    assert results[0] == -errno.EXDEV
    assert results[1] > 0 and results[2] > 0


def test_one_argument_tested_twice_gives_one_rule_per_condition_as_runc() -> None:
    profile = deny_getppid(SeccompArg(0, 1, 0, "SCMP_CMP_EQ"), SeccompArg(0, 2, 0, "SCMP_CMP_EQ"))
    results, _ = run_filtered(profile, [("getppid", 1), ("getppid", 2), ("getppid", 3)])
    assert results[:2] == [-errno.EXDEV, -errno.EXDEV]
    assert results[2] > 0


def test_rules_for_one_syscall_are_tried_in_order() -> None:
    profile = Seccomp(
        "SCMP_ACT_ALLOW",
        rules=[
            SeccompRule(["getppid"], "SCMP_ACT_ERRNO", errno.EXDEV, [SeccompArg(0, 1, 0, "SCMP_CMP_EQ")]),
            SeccompRule(["getppid", "no_such_syscall"], "SCMP_ACT_ERRNO", errno.EACCES),
            SeccompRule(["getppid"], "SCMP_ACT_ERRNO", errno.ENOENT),  # never reached
        ],
    )
    results, _ = run_filtered(profile, [("getppid", 1), ("getppid", 0)])
    assert results == [-errno.EXDEV, -errno.EACCES]


def test_default_errno_and_x32_calls_get_the_default_action() -> None:
    # An allow-list, as Docker's: only what the child needs after the filter is allowed.
    needed = ["write", "exit_group", "exit", "getpid", "rt_sigreturn", "munmap", "close"]
    profile = Seccomp(
        "SCMP_ACT_ERRNO", default_errno_ret=errno.EXDEV, rules=[SeccompRule(needed, "SCMP_ACT_ALLOW")]
    )
    results, status = run_filtered(profile, [("getpid",), ("getppid",), (X32_SYSCALL_BIT | NR["getpid"],)])
    assert status == 0
    assert results[0] > 0
    assert results[1] == -errno.EXDEV
    assert results[2] == -errno.EXDEV  # x32 getpid: not looked up in the x86_64 table


def test_under_a_deny_list_calls_the_filter_cannot_read_get_enosys() -> None:
    # Default ALLOW: an x32 (or i386) call would walk around the deny rules if it got the default.
    results, status = run_filtered(deny_getppid(), [(X32_SYSCALL_BIT | NR["getppid"],), ("getpid",)])
    assert status == 0
    assert results[0] == -errno.ENOSYS
    assert results[1] > 0


def test_flags_are_passed_to_seccomp() -> None:
    profile = deny_getppid()
    profile.flags = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    assert compile_profile(profile).flags == 0b111
    results, status = run_filtered(profile, [("getppid",)])
    assert (results, status) == ([-errno.EXDEV], 0)


def test_a_rule_with_the_default_action_is_skipped_as_runc_does() -> None:
    plain = compile_profile(Seccomp("SCMP_ACT_ALLOW"))
    redundant = compile_profile(Seccomp("SCMP_ACT_ALLOW", rules=[SeccompRule(["getppid"], "SCMP_ACT_ALLOW")]))
    assert redundant.program == plain.program


def test_notify_and_listener_path_are_refused() -> None:
    with pytest.raises(ContainerError, match=r"SCMP_ACT_NOTIFY is not supported"):
        compile_profile(Seccomp("SCMP_ACT_ALLOW", rules=[SeccompRule(["mkdir"], "SCMP_ACT_NOTIFY")]))
    with pytest.raises(ContainerError, match=r"listenerPath.*not supported"):
        compile_profile(Seccomp("SCMP_ACT_ALLOW", listener_path="/run/agent.sock"))


def test_a_jump_that_does_not_fit_in_eight_bits_fails_loudly() -> None:
    # 60 conditional rules for one syscall: the jump past them is longer than 255 instructions.
    rules = [
        SeccompRule(["getppid"], "SCMP_ACT_ERRNO", 1, [SeccompArg(0, n, 0, "SCMP_CMP_EQ")]) for n in range(60)
    ]
    with pytest.raises(ContainerError, match=r"classic BPF jumps reach at most 255"):
        compile_profile(Seccomp("SCMP_ACT_ALLOW", rules=rules))


def test_assembler_refuses_too_many_instructions() -> None:
    program = bpf.Program()
    for _ in range(bpf.MAX_INSTRUCTIONS + 1):
        program.ret(0)
    with pytest.raises(ContainerError, match=r"at most 4096"):
        program.assemble()

"""Compile an OCI ``linux.seccomp`` profile into the classic-BPF filter seccomp(2) loads.

The semantics are those runc gets from libseccomp:

* the filter is built for one architecture, the running machine's (runtime/machine.py: x86_64 or
  aarch64) unless the caller names another, and first checks it: only calls that read its
  AUDIT_ARCH are looked up, and on x86_64 of those, x32 calls (X32_SYSCALL_BIT set in the number)
  are not. Calls of other ABIs (i386 through ``int 0x80`` and x32 on x86_64, 32-bit arm tasks on
  arm64) number their syscalls differently, and boxtrace has only the native table
  (runtime/seccomp_syscalls.py): they get the profile's default action when it refuses (an
  allow-list such as Docker's and podman's: they all fail), and ENOSYS when it lets calls through
  (a deny-list, default SCMP_ACT_ALLOW or LOG): letting them through would let ``int 0x80`` walk
  around every rule. runc filters them with libseccomp's i386, x32 and arm tables instead;
* a rule's ``args`` conditions are ANDed and compare full 64-bit values; several rules for one
  syscall are tried in the profile's order, the first that matches decides; none: the default;
* as runc does: a rule whose action is the default action is skipped, names the architecture's
  table does not know are skipped (``arch_prctl`` on arm64, ``open`` or ``mkdir`` too: arm64 has
  only openat and mkdirat), and a rule that tests one argument index twice becomes one rule per condition
  (ORed: libseccomp cannot AND two conditions on one argument);
* errnoRet: the errno of SCMP_ACT_ERRNO (EPERM when absent), the PTRACE_GETEVENTMSG value of
  SCMP_ACT_TRACE. SCMP_ACT_NOTIFY and listenerPath need a listener process: not supported.
"""

from __future__ import annotations

from boxtrace.runtime import bpf
from boxtrace.runtime.errors import ContainerError
from boxtrace.runtime.machine import Machine, machine
from boxtrace.runtime.records import record
from boxtrace.runtime.seccomp_syscalls import syscall_numbers
from boxtrace.runtime.seccomp_tables import (
    ACTIONS,
    ACTIONS_WITH_DATA,
    DATA_ARCH,
    DATA_ARGS,
    DATA_NR,
    DEFAULT_ERRNO,
    FLAGS,
    RET_DATA_MASK,
    UNSUPPORTED_ACTIONS,
)
from boxtrace.runtime.spec import Seccomp, SeccompArg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    # (program, the condition, the label to go to when it does not hold); falls through when it does
    Emitter = Callable[[bpf.Program, SeccompArg, str], None]


@record
class CompiledFilter:
    program: bytes  # struct sock_filter[], ready for seccomp(SECCOMP_SET_MODE_FILTER)
    flags: int  # SECCOMP_FILTER_FLAG_*


def compile_profile(profile: Seccomp, arch: Machine | None = None) -> CompiledFilter:
    """The filter for ``arch`` (default: this machine; UnsupportedMachine when it has no table)."""
    if arch is None:
        arch = machine()
    if profile.listener_path:
        raise ContainerError(
            "linux.seccomp.listenerPath: seccomp user notification (SCMP_ACT_NOTIFY) is not supported "
            "by boxtrace: remove listenerPath and the SCMP_ACT_NOTIFY rules"
        )
    default = action_value(profile.default_action, profile.default_errno_ret, "linux.seccomp.defaultAction")
    program = bpf.Program()
    foreign = default if default not in _LETS_THROUGH else _FOREIGN_ABI_REFUSED
    _emit_architecture_check(program, arch, foreign)
    for number, rules in _rules_by_syscall(profile, default, syscall_numbers(arch.name)).items():
        _emit_syscall(program, number, rules, default)
    program.ret(default)
    flags = 0
    for name in profile.flags:
        flags |= FLAGS[name]
    return CompiledFilter(program.assemble(), flags)


def action_value(action: str, errno_ret: int | None, where: str) -> int:
    """SECCOMP_RET_* for an action name, with errnoRet in the data bits where the action has them."""
    if action in UNSUPPORTED_ACTIONS:
        raise ContainerError(
            f"{where}: {action} is not supported by boxtrace (it needs a seccomp listener process): "
            "use SCMP_ACT_ERRNO or SCMP_ACT_TRACE instead"
        )
    value = ACTIONS[action]
    if action in ACTIONS_WITH_DATA:
        value |= (DEFAULT_ERRNO if errno_ret is None else errno_ret) & RET_DATA_MASK
    return value


# A rule compiled: its conditions (all must hold) and the SECCOMP_RET_* value it returns.
Rule = tuple[list[SeccompArg], int]


def _rules_by_syscall(profile: Seccomp, default: int, numbers: dict[str, int]) -> dict[int, list[Rule]]:
    """Rules grouped by syscall number, each group in profile order (the first match wins)."""
    grouped: dict[int, list[Rule]] = {}
    for i, rule in enumerate(profile.rules):
        action = action_value(rule.action, rule.errno_ret, f"linux.seccomp.syscalls[{i}].action")
        if action == default:
            continue  # runc: redundant, and libseccomp would refuse it
        alternatives = _alternatives(rule.args)
        for name in rule.names:
            number = numbers.get(name)
            if number is None:
                continue  # runc: "unknown seccomp syscall ignored" (not in this arch's table)
            grouped.setdefault(number, []).extend((conditions, action) for conditions in alternatives)
    return grouped


def _alternatives(conditions: list[SeccompArg]) -> list[list[SeccompArg]]:
    """The condition lists of which one must hold: all of them together, or, when one argument
    index appears twice, each on its own (runc's "revert to old behavior")."""
    indexes = [arg.index for arg in conditions]
    if len(set(indexes)) == len(indexes):
        return [conditions]
    return [[arg] for arg in conditions]


# Default actions under which a call runs; calls of an ABI the filter cannot read get ENOSYS then.
_LETS_THROUGH = frozenset({ACTIONS["SCMP_ACT_ALLOW"], ACTIONS["SCMP_ACT_LOG"]})
_FOREIGN_ABI_REFUSED = ACTIONS["SCMP_ACT_ERRNO"] | 38  # ENOSYS


def _emit_architecture_check(program: bpf.Program, arch: Machine, foreign: int) -> None:
    native = program.new_label("native")
    table = program.new_label("syscall-table")
    program.load(DATA_ARCH)
    program.jump(bpf.JEQ_K, arch.audit_arch, native, None)
    program.ret(foreign)  # i386 (int 0x80), 32-bit arm and other ABIs: not in our table
    program.label(native)
    program.load(DATA_NR)
    if arch.x32_bit:
        program.jump(bpf.JGE_K, arch.x32_bit, None, table)
        program.ret(foreign)  # x32: its numbers are not ours either
    program.label(table)


def _emit_syscall(program: bpf.Program, number: int, rules: list[Rule], default: int) -> None:
    """if nr == number: try each rule, return the first match's action, else the default.

    A holds the syscall number on entry and on the way to the next syscall: the conditions load
    arguments into A, but every path through them ends in a return."""
    next_syscall = program.new_label(f"after-syscall-{number}")
    program.jump(bpf.JEQ_K, number, None, next_syscall)
    for conditions, action in rules:
        next_rule = program.new_label(f"syscall-{number}-next-rule")
        for condition in conditions:
            OPERATOR_EMITTERS[condition.op](program, condition, next_rule)
        program.ret(action)
        program.label(next_rule)
        if not conditions:
            break  # an unconditional rule always matches: later ones cannot be reached
    else:
        program.ret(default)
    program.label(next_syscall)


# --- 64-bit comparisons in a 32-bit machine -----------------------------------------------------------


def _halves(value: int) -> tuple[int, int]:
    return value >> 32, value & 0xFFFF_FFFF


def _load_high(program: bpf.Program, arg: SeccompArg) -> None:
    program.load(DATA_ARGS + 8 * arg.index + 4)


def _load_low(program: bpf.Program, arg: SeccompArg) -> None:
    program.load(DATA_ARGS + 8 * arg.index)


def _emit_eq(program: bpf.Program, arg: SeccompArg, fail: str) -> None:
    high, low = _halves(arg.value)
    _load_high(program, arg)
    program.jump(bpf.JEQ_K, high, None, fail)
    _load_low(program, arg)
    program.jump(bpf.JEQ_K, low, None, fail)


def _emit_ne(program: bpf.Program, arg: SeccompArg, fail: str) -> None:
    high, low = _halves(arg.value)
    holds = program.new_label("ne-holds")
    _load_high(program, arg)
    program.jump(bpf.JEQ_K, high, None, holds)
    _load_low(program, arg)
    program.jump(bpf.JEQ_K, low, fail, None)
    program.label(holds)


def _emit_masked_eq(program: bpf.Program, arg: SeccompArg, fail: str) -> None:
    """(arg & value) == valueTwo: libseccomp's SCMP_CMP_MASKED_EQ takes the mask in ``value``."""
    mask_high, mask_low = _halves(arg.value)
    want_high, want_low = _halves(arg.value_two)
    _load_high(program, arg)
    program.and_(mask_high)
    program.jump(bpf.JEQ_K, want_high, None, fail)
    _load_low(program, arg)
    program.and_(mask_low)
    program.jump(bpf.JEQ_K, want_low, None, fail)


def _greater(low_jump: int, negate: bool) -> Emitter:
    """arg > value (low_jump JGT) or arg >= value (JGE), or their negations LE and LT: decided by
    the high halves unless they are equal, then by the low halves."""

    def emit(program: bpf.Program, arg: SeccompArg, fail: str) -> None:
        high, low = _halves(arg.value)
        holds = program.new_label("cmp-holds")
        above, below = (fail, holds) if negate else (holds, fail)
        _load_high(program, arg)
        program.jump(bpf.JGT_K, high, above, None)
        program.jump(bpf.JEQ_K, high, None, below)
        _load_low(program, arg)
        program.jump(low_jump, low, above, below)
        program.label(holds)

    return emit


OPERATOR_EMITTERS: dict[str, Emitter] = {
    "SCMP_CMP_EQ": _emit_eq,
    "SCMP_CMP_NE": _emit_ne,
    "SCMP_CMP_MASKED_EQ": _emit_masked_eq,
    "SCMP_CMP_GT": _greater(bpf.JGT_K, negate=False),
    "SCMP_CMP_GE": _greater(bpf.JGE_K, negate=False),
    "SCMP_CMP_LE": _greater(bpf.JGT_K, negate=True),
    "SCMP_CMP_LT": _greater(bpf.JGE_K, negate=True),
}

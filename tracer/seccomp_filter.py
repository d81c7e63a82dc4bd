"""The classic-BPF seccomp filter that makes the kernel stop a tracee only on interesting syscalls.

Built from trap rules (syscall number plus an optional test on one argument register): the filter
returns SECCOMP_RET_TRACE when a rule holds and SECCOMP_RET_ALLOW otherwise, so the kernel never stops
the tracee for calls nobody reports (strace's ``--seccomp-bpf`` design, REFERENCE.md §1; the argument
tests go past strace, REFERENCE.md §9). Calls of another architecture (i386 or x32 on x86_64,
32-bit arm on arm64) are always trapped: the filter cannot name them, and missing one would hide it.
A program is built for one architecture: its AUDIT_ARCH and its syscall numbers.
"""

from __future__ import annotations

from boxtrace.tracer import lean_ctypes as ctypes  # not ctypes itself: ~4.5 M to import
from boxtrace.tracer.plain import Frozen

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    import struct
    from collections.abc import Iterable
    from typing import Any
else:
    # struct.py only re-exports _struct's functions: its import is ~0.5 M instructions more.
    import _struct as struct

SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_TRACE = 0x7FF00000
X32_SYSCALL_BIT = 0x40000000
# tracer/arch/x86_64.py's AUDIT_ARCH (EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE, linux/audit.h),
# named here so that building arm64's filter does not import x86_64's syscall table.
AUDIT_ARCH_X86_64 = 0xC000_003E

# BPF opcodes (linux/bpf_common.h).
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGT_K = 0x25
_JSET_K = 0x45
_RET_K = 0x06
_JA = 0x05  # BPF_JMP | BPF_JA

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6].
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARGS = 16

MAX_INSNS = 4096


class ArgTest(Frozen):
    """A test on one argument register.

    ``op`` is ``"mask_any"`` (arg & value != 0), ``"gt"`` (unsigned arg > value, on the low 32 bits:
    for int arguments such as fds), ``"in"`` (low 32 bits equal one of ``values``).
    """

    __slots__ = ("arg", "op", "value", "values")
    arg: int
    op: str
    value: int
    values: tuple[int, ...]

    def __init__(self, arg: int, op: str, value: int = 0, values: tuple[int, ...] = ()) -> None:
        self._assign(arg, op, value, values)


class FilterRule(Frozen):
    """Trap syscall ``nr`` when ``test`` holds (always when ``test`` is None)."""

    __slots__ = ("nr", "test")
    nr: int
    test: ArgTest | None

    def __init__(self, nr: int, test: ArgTest | None = None) -> None:
        self._assign(nr, test)


Insn = tuple[int, int, int, int]


def _stmt(code: int, k: int) -> Insn:
    return (code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> Insn:
    if not (0 <= jt <= 255 and 0 <= jf <= 255):
        raise ValueError("BPF jump too long")
    return (code, jt, jf, k)


def _test_block(test: ArgTest) -> list[Insn]:
    """Instructions that fall through when the test fails and return TRACE when it holds."""
    lo = _OFF_ARGS + 8 * test.arg
    hi = lo + 4
    trace = _stmt(_RET_K, SECCOMP_RET_TRACE)
    if test.op == "mask_any":
        out: list[Insn] = []
        mask_lo = test.value & 0xFFFFFFFF
        mask_hi = test.value >> 32
        if mask_lo:
            out += [_stmt(_LD_W_ABS, lo), _jump(_JSET_K, mask_lo, 0, 1), trace]
        if mask_hi:
            out += [_stmt(_LD_W_ABS, hi), _jump(_JSET_K, mask_hi, 0, 1), trace]
        return out
    if test.op == "gt":
        return [_stmt(_LD_W_ABS, lo), _jump(_JGT_K, test.value & 0xFFFFFFFF, 0, 1), trace]
    if test.op == "in":
        n = len(test.values)
        if n == 0:
            return []
        out = [_stmt(_LD_W_ABS, lo)]
        for i, v in enumerate(test.values):
            # On a match, jump over the remaining comparisons and the JA to the RET TRACE.
            out.append(_jump(_JEQ_K, v & 0xFFFFFFFF, n - i, 0))
        out.append(_stmt(_JA, 1))
        out.append(trace)
        return out
    raise ValueError(f"unknown argument test {test.op!r}")


def build_program(rules: Iterable[FilterRule], audit_arch: int, always: Iterable[int] = ()) -> list[Insn]:
    """The filter program: trap the calls that match ``rules``, and ``always`` unconditionally."""
    by_nr: dict[int, list[ArgTest | None]] = {}
    for rule in rules:
        by_nr.setdefault(rule.nr, []).append(rule.test)
    for nr in always:
        by_nr[nr] = [None]

    trace = _stmt(_RET_K, SECCOMP_RET_TRACE)
    allow = _stmt(_RET_K, SECCOMP_RET_ALLOW)
    prog: list[Insn] = [
        _stmt(_LD_W_ABS, _OFF_ARCH),
        _jump(_JEQ_K, audit_arch, 1, 0),
        trace,
        _stmt(_LD_W_ABS, _OFF_NR),
    ]
    if audit_arch == AUDIT_ARCH_X86_64:
        # x32 calls read AUDIT_ARCH_X86_64 too, with this bit in the number; arm64 has no such ABI.
        prog += [_jump(_JSET_K, X32_SYSCALL_BIT, 0, 1), trace]
    for nr in sorted(by_nr):
        tests = by_nr[nr]
        if any(t is None for t in tests):
            block = [trace]
        else:
            block = []
            for t in tests:
                assert t is not None
                block += _test_block(t)
            block.append(allow)
        prog.append(_jump(_JEQ_K, nr, 0, len(block)))
        prog += block
        # A test block clobbers the accumulator; reload nr for the next comparison.
        if block != [trace]:
            prog.append(_stmt(_LD_W_ABS, _OFF_NR))
    prog.append(allow)
    if len(prog) > MAX_INSNS:
        raise ValueError(f"seccomp filter too long ({len(prog)} instructions)")
    return prog


_INSN_SIZE = 8  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k


def pack_program(prog: list[Insn]) -> bytes:
    return b"".join(struct.pack("<HBBI", code, jt, jf, k) for code, jt, jf, k in prog)


class SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def make_fprog(raw: bytes) -> tuple[SockFprog, ctypes.Array[ctypes.c_char]]:
    """A ``struct sock_fprog`` of a packed program (``pack_program``) ready for
    prctl(PR_SET_SECCOMP); keep the buffer alive with it."""
    buf = ctypes.create_string_buffer(raw, len(raw))
    return SockFprog(len(raw) // _INSN_SIZE, ctypes.addressof(buf)), buf


def run_program(prog: list[Insn], nr: int, arch: int, args: tuple[int, ...] = (0,) * 6) -> int:
    """Interpret the filter on one call (for tests: what the kernel would return)."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    acc = 0
    pc = 0
    while pc < len(prog):
        code, jt, jf, k = prog[pc]
        pc += 1
        if code == _LD_W_ABS:
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == _RET_K:
            return k
        elif code == _JA:
            pc += k
        elif code == _JEQ_K:
            pc += jt if acc == k else jf
        elif code == _JGT_K:
            pc += jt if acc > k else jf
        elif code == _JSET_K:
            pc += jt if acc & k else jf
        else:
            raise ValueError(f"unknown opcode {code:#x}")
    raise ValueError("filter fell off the end")


def rules_from_policy(policy: Iterable[Any], numbers: dict[str, int]) -> list[FilterRule]:
    """Filter rules from the trap policy (``tables.default_set.DEFAULT_RULES``) for one arch.

    Calls the arch does not have (e.g. ``open`` on aarch64) are skipped.
    """
    out: list[FilterRule] = []
    for rule in policy:
        nr = numbers.get(rule.name)
        if nr is None:
            continue
        if rule.arg_index is None or rule.test == "always":
            out.append(FilterRule(nr))
        elif rule.test == "in_set":
            out.append(FilterRule(nr, ArgTest(rule.arg_index, "in", values=tuple(sorted(rule.value)))))
        elif rule.test in ("mask_any", "gt"):
            out.append(FilterRule(nr, ArgTest(rule.arg_index, rule.test, value=int(rule.value))))
        else:
            raise ValueError(f"unknown trap test {rule.test!r} for {rule.name}")
    return out


def default_program(audit_arch: int, numbers: dict[str, int]) -> list[Insn]:
    """The filter for the default set on one arch; execve/execveat always trapped."""
    from boxtrace.tracer.tables.default_set import DEFAULT_RULES

    always = [numbers[n] for n in ("execve", "execveat") if n in numbers]
    return build_program(rules_from_policy(DEFAULT_RULES, numbers), audit_arch, always)


def default_filter(audit_arch: int) -> bytes:
    """The default set's filter for one arch, packed, as compiled ahead into
    ``tracer/default_filters.py`` (building it at every start cost ~2.5 M instructions of a
    `boxtrace trace -q -- /bin/true`: the trap rules' table and the build)."""
    from boxtrace.tracer.default_filters import PROGRAMS

    # Every architecture of tracer/arch has one (tests/tracer/test_default_filters.py).
    return PROGRAMS[audit_arch]


def default_filters_source() -> str:
    """tracer/default_filters.py as it must read: each arch's default filter, compiled."""
    from boxtrace.tracer.arch import ARCHES

    lines = [
        '"""The default seccomp filter of each architecture, compiled ahead. Generated: do not edit.',
        "",
        "Made by `python -m boxtrace.tracer.seccomp_filter` from tables/default_set.py's trap rules and each",
        "architecture's syscall numbers (seccomp_filter.default_program, packed); tests/tracer/",
        'test_default_filters.py fails while it is out of date. See seccomp_filter.default_filter."""',
        "",
        "from __future__ import annotations",
        "",
        "# AUDIT_ARCH -> struct sock_filter[] (u16 code, u8 jt, u8 jf, u32 k; little-endian)",
        "PROGRAMS: dict[int, bytes] = {",
    ]
    for name in sorted(ARCHES):
        arch = ARCHES[name]
        packed = pack_program(default_program(arch.audit_arch, arch.syscall_numbers)).hex()
        insns = [packed[i : i + 2 * _INSN_SIZE] for i in range(0, len(packed), 2 * _INSN_SIZE)]
        lines.append(f"    0x{arch.audit_arch:08X}: bytes.fromhex(  # {name}, {len(insns)} instructions")
        for i in range(0, len(insns), 5):
            lines.append(f'        "{" ".join(insns[i : i + 5])} "')
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import os as _os

    _target = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "default_filters.py")
    with open(_target, "w", encoding="utf-8") as _out:
        _out.write(default_filters_source())
    print(f"wrote {_target}")

"""The names an OCI ``linux.seccomp`` object uses (runtime-spec config-linux.md#seccomp, libseccomp's
names) and the kernel's values for them (linux/seccomp.h, linux/audit.h).

Read by spec.py to check a profile, by seccomp_profile.py to compile it and by features.py to list
what is supported: one table for the three.
"""

from __future__ import annotations

# SECCOMP_RET_* (linux/seccomp.h). SCMP_ACT_KILL is libseccomp's old name for KILL_THREAD.
# SCMP_ACT_NOTIFY is a valid name (so the reader accepts it) but boxtrace cannot serve it: it needs a
# listener process that answers the notifications; seccomp_profile.py refuses it.
ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": 0x0000_0000,
    "SCMP_ACT_KILL_THREAD": 0x0000_0000,
    "SCMP_ACT_KILL_PROCESS": 0x8000_0000,
    "SCMP_ACT_TRAP": 0x0003_0000,
    "SCMP_ACT_ERRNO": 0x0005_0000,
    "SCMP_ACT_NOTIFY": 0x7FC0_0000,
    "SCMP_ACT_TRACE": 0x7FF0_0000,
    "SCMP_ACT_LOG": 0x7FFC_0000,
    "SCMP_ACT_ALLOW": 0x7FFF_0000,
}
UNSUPPORTED_ACTIONS = frozenset({"SCMP_ACT_NOTIFY"})
# Actions whose low 16 bits (SECCOMP_RET_DATA) carry errnoRet: the errno returned, or the value a
# tracer reads with PTRACE_GETEVENTMSG. Without errnoRet runc uses EPERM for both.
ACTIONS_WITH_DATA = frozenset({"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"})
DEFAULT_ERRNO = 1  # EPERM
RET_DATA_MASK = 0xFFFF

# libseccomp's comparison operators; seccomp_profile.OPERATOR_EMITTERS says what each compiles to.
OPERATORS = (
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)
MAX_ARGUMENTS = 6  # a syscall has at most six arguments: index 0-5

# seccomp(2) flags for SECCOMP_SET_MODE_FILTER. runc also knows WAIT_KILLABLE_RECV, which only
# matters for SCMP_ACT_NOTIFY: not supported here either.
FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1 << 0,
    "SECCOMP_FILTER_FLAG_LOG": 1 << 1,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 1 << 2,
}

# libseccomp's architecture names, all accepted in a profile. Only the native one
# (runtime/machine.py scmp_arch) is filtered rule by rule (its syscall table is the one boxtrace
# has): calls made through another ABI get the profile's default action (see seccomp_profile.py).
ARCHITECTURES = frozenset(
    {
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_PARISC",
        "SCMP_ARCH_PARISC64",
        "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_M68K",
        "SCMP_ARCH_SH",
        "SCMP_ARCH_SHEB",
    }
)
# struct seccomp_data (linux/seccomp.h): int nr; u32 arch; u64 instruction_pointer; u64 args[6].
# Offsets of 32-bit words; x86_64 and aarch64 are little-endian, so an argument's low half comes first.
DATA_NR = 0
DATA_ARCH = 4
DATA_ARGS = 16

"""aarch64 support, tested on any machine: the syscall table against the kernel's generic header,
the seccomp filter built for arm64, CLONE_BACKWARDS and arm64's open flags in the decoders."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from boxtrace.tracer import ptrace_api
from boxtrace.tracer.arch import ARCHES, BY_AUDIT_ARCH, aarch64, get_arch
from boxtrace.tracer.decoders import decode_entry
from boxtrace.tracer.seccomp_filter import SECCOMP_RET_ALLOW, SECCOMP_RET_TRACE, default_program, run_program
from boxtrace.tracer.tables import clone as C
from boxtrace.tracer.tables.default_set import DEFAULT_RULES
from tests.tracer.test_decode_fakes import FakeMemory, make_ctx

# include/uapi/asm-generic/unistd.h (Linux 6.1, as installed by linux-libc-dev 6.1.187), the table
# arm64 uses: e.g. "#define __NR_clone 220", "#define __NR_mkdirat 34", "#define __NR_clone3 435".
KNOWN = {
    "io_setup": 0,
    "dup3": 24,
    "mknodat": 33,
    "mkdirat": 34,
    "unlinkat": 35,
    "symlinkat": 36,
    "umount2": 39,
    "mount": 40,
    "pivot_root": 41,
    "chroot": 51,
    "openat": 56,
    "write": 64,
    "writev": 66,
    "pwrite64": 68,
    "newfstatat": 79,
    "fstat": 80,
    "unshare": 97,
    "setregid": 143,
    "setgid": 144,
    "setreuid": 145,
    "setuid": 146,
    "setresuid": 147,
    "setresgid": 149,
    "setgroups": 159,
    "sethostname": 161,
    "setdomainname": 162,
    "prctl": 167,
    "capget": 90,
    "capset": 91,
    "keyctl": 219,
    "clone": 220,
    "execve": 221,
    "mmap": 222,
    "setns": 268,
    "seccomp": 277,
    "bpf": 280,
    "execveat": 281,
    "pwritev2": 287,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "openat2": 437,
    "mount_setattr": 442,
}
# Calls arm64 does not have: glibc makes the *at, 3 or 2 form instead (REFERENCE.md §11).
ABSENT = (
    "open",
    "creat",
    "mkdir",
    "mknod",
    "symlink",
    "rmdir",
    "unlink",
    "rename",
    "dup2",
    "pipe",
    "poll",
    "fork",
    "vfork",
    "arch_prctl",
    "modify_ldt",
)


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_numbers(name: str) -> None:
    arch = get_arch("aarch64")
    assert arch.syscall_numbers[name] == KNOWN[name]
    assert arch.syscall_name(KNOWN[name]) == name


def test_table_shape_and_what_arm64_lacks() -> None:
    names = aarch64.SYSCALL_NAMES
    assert len(set(names.values())) == len(names)
    assert set(range(0, 244)) <= set(names)
    assert not set(range(244, 260)) & set(names)  # arch-specific block: arm64 has none
    assert set(range(260, 295)) <= set(names)
    assert not set(range(295, 424)) & set(names)  # reserved to line up with other arches
    assert set(range(424, 463)) <= set(names)
    assert set(aarch64.SYSCALL_NARGS) == set(names.values())
    assert aarch64.SYSCALL_NARGS["clone"] == 5 and aarch64.SYSCALL_NARGS["mount"] == 5
    for name in ABSENT:
        assert name not in get_arch("aarch64").syscall_numbers, name


def test_audit_arch_and_lookup() -> None:
    assert aarch64.AUDIT_ARCH == 0xC00000B7  # EM_AARCH64 183 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
    assert BY_AUDIT_ARCH[0xC00000B7] is get_arch("aarch64") is ARCHES["aarch64"]
    with pytest.raises(KeyError, match=r"'riscv64' \(known: x86_64, aarch64\)"):
        get_arch("riscv64")


_GENERIC = Path("/usr/include/asm-generic/unistd.h")


@pytest.mark.skipif(not _GENERIC.exists() or shutil.which("cpp") is None, reason="no kernel headers or cpp")
def test_matches_the_installed_generic_header() -> None:
    # Preprocessed as arch/arm64/include/uapi/asm/unistd.h does: 64-bit, with its __ARCH_WANT_*.
    source = "".join(
        f"#define {d}\n"
        for d in (
            "__BITS_PER_LONG 64",
            "__ARCH_WANT_RENAMEAT",
            "__ARCH_WANT_NEW_STAT",
            "__ARCH_WANT_SET_GET_RLIMIT",
            "__ARCH_WANT_TIME32_SYSCALLS",
            "__ARCH_WANT_SYS_CLONE3",
            "__ARCH_WANT_MEMFD_SECRET",
        )
    )
    includes = ["-I/usr/include", *(f"-I{p}" for p in Path("/usr/include").glob("*-linux-gnu"))]
    out = subprocess.run(
        ["cpp", "-dM", "-nostdinc", *includes, "-"],
        input=source + "#include <asm-generic/unistd.h>\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    defs = dict(re.findall(r"#define (__NR3?2?6?4?_\w+) (.+)", out))

    def value(text: str) -> int | None:
        text = text.strip()
        while text in defs:
            text = defs[text].strip()
        return int(text) if text.isdigit() else None

    found = {
        name[5:]: value(v)
        for name, v in defs.items()
        if name.startswith("__NR_") and name not in ("__NR_syscalls", "__NR_arch_specific_syscall")
    }
    found = {name: nr for name, nr in found.items() if nr is not None}
    assert len(found) > 290
    for name, nr in found.items():
        assert aarch64.SYSCALL_NAMES[nr] == name


def test_python_ptrace_agrees() -> None:
    table = pytest.importorskip("ptrace.syscall.linux.aarch64").SYSCALL_NAMES
    assert len(table) > 250
    for nr, name in table.items():
        assert aarch64.SYSCALL_NAMES[nr] == name


# --- the seccomp filter, built for arm64 -----------------------------------------------------------

ARM64 = get_arch("aarch64")
NR = ARM64.syscall_numbers


def _run(name: str, *args: int, audit_arch: int = ARM64.audit_arch) -> int:
    prog = default_program(ARM64.audit_arch, NR)
    return run_program(prog, NR[name], audit_arch, args)


def test_filter_checks_the_arm64_audit_arch_and_has_no_x32_test() -> None:
    prog = default_program(ARM64.audit_arch, NR)
    assert prog[1][3] == 0xC00000B7
    assert all(k != 0x40000000 for _, _, _, k in prog)
    # A call from a 32-bit arm task (AUDIT_ARCH_ARM) is trapped: its numbers are another table's.
    assert run_program(prog, NR["getpid"], aarch64.AUDIT_ARCH_ARM) == SECCOMP_RET_TRACE


def test_filter_traps_the_at_forms_and_skips_calls_arm64_lacks() -> None:
    policy_names = {rule.name for rule in DEFAULT_RULES}
    skipped = sorted(policy_names - set(NR))
    assert skipped == ["creat", "dup2", "mkdir", "mknod", "open", "rmdir", "symlink"]
    assert _run("mkdirat", -100 & (2**64 - 1), 0, 0o755) == SECCOMP_RET_TRACE
    assert _run("mknodat") == SECCOMP_RET_TRACE
    assert _run("openat", 0, 0, 0o1) == SECCOMP_RET_TRACE  # O_WRONLY
    assert _run("openat", 0, 0, 0o2000000) == SECCOMP_RET_ALLOW  # O_RDONLY|O_CLOEXEC
    assert _run("clone", C.CLONE_NEWPID | 17) == SECCOMP_RET_TRACE
    assert _run("clone", 17) == SECCOMP_RET_ALLOW  # fork() is clone(SIGCHLD) on arm64
    assert _run("clone3") == SECCOMP_RET_TRACE
    assert _run("unlinkat", 3, 0, 0x200) == SECCOMP_RET_TRACE
    assert _run("write", 1) == SECCOMP_RET_ALLOW and _run("write", 5) == SECCOMP_RET_TRACE
    assert _run("getpid") == SECCOMP_RET_ALLOW


# --- decoders --------------------------------------------------------------------------------------


def test_clone_backwards_argument_order() -> None:
    """arm64: clone(flags, stack, parent_tid, tls, child_tid); x86_64: ..., child_tid, tls."""
    flags = C.CLONE_NEWUTS | C.CLONE_SETTLS | C.CLONE_CHILD_SETTID | 17
    d = decode_entry(make_ctx("clone", flags, 0, 0x7F10, 0x7F20, 0x7F30, arch="aarch64"))
    assert d is not None and d.category == "namespace"
    assert [(a.name, a.text) for a in d.args[1:]] == [
        ("stack", "NULL"),
        ("parent_tid", "0x7f10"),
        ("tls", "0x7f20"),
        ("child_tid", "0x7f30"),
    ]
    d = decode_entry(make_ctx("clone", flags, 0, 0x7F10, 0x7F20, 0x7F30))
    assert d is not None
    assert [(a.name, a.text) for a in d.args[3:]] == [("child_tid", "0x7f20"), ("tls", "0x7f30")]


def test_open_flags_that_arm64_numbers_differently() -> None:
    mem = FakeMemory()
    path = mem.str("/sys/fs/cgroup/box/cgroup.procs")
    # 0o40000 is O_DIRECTORY on arm64 and O_DIRECT on x86_64; 0o100000 O_NOFOLLOW / O_LARGEFILE.
    for arch, text in (
        ("aarch64", "O_WRONLY|O_NOFOLLOW|O_DIRECTORY"),
        ("x86_64", "O_WRONLY|O_DIRECT|O_LARGEFILE"),
    ):
        d = decode_entry(make_ctx("openat", -100, path, 0o1 | 0o40000 | 0o100000, mem=mem, arch=arch))
        assert d is not None
        assert d.args[2].text == text


def test_registers_are_read_as_user_pt_regs_on_arm64() -> None:
    # struct user_pt_regs: regs[31], sp, pc, pstate (272 bytes); the number in x8, arg0 in x0.
    buffers = ptrace_api.Buffers("aarch64")
    assert ctypes.sizeof(buffers.regs) == 272
    assert buffers.regs_index == (8, 0)
    assert ctypes.sizeof(ptrace_api.Buffers("x86_64").regs) == 27 * 8

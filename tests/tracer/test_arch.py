"""The x86_64 syscall table: numbers against the kernel, shape of the arch interface, import cost."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from boxtrace.tracer.arch import ARCHES, BY_AUDIT_ARCH, X86_64, get_arch, x86_64

KNOWN = {
    "read": 0,
    "write": 1,
    "open": 2,
    "clone": 56,
    "fork": 57,
    "execve": 59,
    "mkdir": 83,
    "rmdir": 84,
    "creat": 85,
    "symlink": 88,
    "mknod": 133,
    "prctl": 157,
    "pivot_root": 155,
    "chroot": 161,
    "mount": 165,
    "umount2": 166,
    "sethostname": 170,
    "setdomainname": 171,
    "openat": 257,
    "mkdirat": 258,
    "mknodat": 259,
    "unlinkat": 263,
    "symlinkat": 266,
    "unshare": 272,
    "timerfd_create": 283,
    "setns": 308,
    "seccomp": 317,
    "execveat": 322,
    "uretprobe": 335,
    "pidfd_send_signal": 424,
    "io_uring_setup": 425,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "pidfd_open": 434,
    "clone3": 435,
    "close_range": 436,
    "openat2": 437,
    "faccessat2": 439,
    "epoll_pwait2": 441,
    "mount_setattr": 442,
    "landlock_create_ruleset": 444,
    "memfd_secret": 447,
    "futex_waitv": 449,
    "cachestat": 451,
    "fchmodat2": 452,
    "map_shadow_stack": 453,
    "futex_requeue": 456,
    "statmount": 457,
    "listmount": 458,
    "lsm_list_modules": 461,
    "mseal": 462,
}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_numbers(name: str) -> None:
    assert X86_64.syscall_numbers[name] == KNOWN[name]
    assert X86_64.syscall_names[KNOWN[name]] == name


def test_table_shape() -> None:
    names = x86_64.SYSCALL_NAMES
    assert len(set(names.values())) == len(names)
    assert {v: k for k, v in names.items()} == X86_64.syscall_numbers
    assert set(range(0, 336)) <= set(names)
    assert set(range(424, 463)) <= set(names)
    assert not set(range(336, 424)) & set(names)  # reserved to line up with other arches
    assert max(names) < 512  # 512+ belong to the x32 ABI
    assert set(x86_64.SYSCALL_NARGS) == set(names.values())
    assert all(0 <= n <= 6 for n in x86_64.SYSCALL_NARGS.values())
    assert x86_64.SYSCALL_NARGS["clone"] == 5 and x86_64.SYSCALL_NARGS["mount"] == 5


def test_audit_arch_constants() -> None:
    assert x86_64.AUDIT_ARCH == 0xC000003E
    assert x86_64.X32_SYSCALL_BIT == 0x40000000
    assert x86_64.AUDIT_ARCH_I386 == 0x40000003
    assert BY_AUDIT_ARCH[0xC000003E] is X86_64


def test_arch_lookup() -> None:
    assert get_arch("x86_64") is X86_64 is ARCHES["x86_64"]
    with pytest.raises(KeyError, match="sparc"):
        get_arch("sparc")
    assert X86_64.syscall_name(442) == "mount_setattr"
    assert X86_64.syscall_name(500) == "syscall_0x1f4"
    assert X86_64.nargs("no_such_call") == 6


_UNISTD = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")


@pytest.mark.skipif(not _UNISTD.exists(), reason="no kernel headers installed")
def test_matches_installed_unistd_header() -> None:
    found = dict(
        (int(m.group(2)), m.group(1)) for m in re.finditer(r"#define __NR_(\w+) (\d+)", _UNISTD.read_text())
    )
    assert len(found) > 300
    for nr, name in found.items():
        assert x86_64.SYSCALL_NAMES[nr] == name


def test_python_ptrace_agrees_below_x32() -> None:
    ptrace_table = pytest.importorskip("ptrace.syscall.linux.x86_64").SYSCALL_NAMES
    for nr, name in ptrace_table.items():
        if nr < 512 and nr != 283:  # python-ptrace calls 283 "timerfd"; the kernel says timerfd_create
            assert x86_64.SYSCALL_NAMES[nr] == name


def test_importing_the_table_does_not_import_python_ptrace() -> None:
    code = "import sys, boxtrace.tracer.arch; print('ptrace' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

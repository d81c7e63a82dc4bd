"""The default trap policy: every rule names a real syscall, has a decoder, and tests what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from boxtrace.tracer.arch import X86_64
from boxtrace.tracer.decoders import CATEGORIES_OF, CATEGORY_OF, DECODERS
from boxtrace.tracer.events import CATEGORIES
from boxtrace.tracer.tables import clone, fcntl, prctl
from boxtrace.tracer.tables.default_set import DEFAULT_RULE_OF, DEFAULT_RULES, DEFAULT_SYSCALLS, TrapRule

DESIGN_SET = {
    # DESIGN.md §Tracing
    "clone", "clone3", "unshare", "setns",
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr",
    "sethostname", "setdomainname", "capset", "prctl", "seccomp", "bpf", "setuid", "setgid", "setreuid",
    "setregid", "setresuid", "setresgid", "setgroups", "execve", "execveat",
    "mknod", "mknodat", "symlink", "symlinkat", "mkdir", "mkdirat", "rmdir", "openat", "open", "creat",
    "write",
}  # fmt: skip


def test_default_set_covers_the_design() -> None:
    assert DESIGN_SET <= DEFAULT_SYSCALLS
    # Go removes directories with unlinkat(AT_REMOVEDIR); runc opens cgroup files with openat2; the
    # vectored and positioned writes do write's work
    assert {
        "unlinkat",
        "openat2",
        "writev",
        "pwrite64",
        "pwritev",
        "pwritev2",
        "dup2",
        "dup3",
    } == DEFAULT_SYSCALLS - DESIGN_SET
    assert len(DEFAULT_RULES) == len(DEFAULT_SYSCALLS)  # one rule per syscall


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda r: r.name)
def test_rule_is_well_formed(rule: TrapRule) -> None:
    assert rule.name in X86_64.syscall_numbers
    assert rule.name in DECODERS
    assert CATEGORY_OF[rule.name] in CATEGORIES
    assert CATEGORIES_OF[rule.name] <= set(CATEGORIES)
    if rule.arg_index is None:
        assert rule.test == "always" and rule.value is None
        return
    assert 0 <= rule.arg_index < X86_64.nargs(rule.name)
    if rule.test == "in_set":
        assert isinstance(rule.value, frozenset) and rule.value
        assert all(0 <= v < 1 << 32 for v in rule.value)
    else:
        assert rule.test in ("mask_any", "gt")
        assert isinstance(rule.value, int) and 0 <= rule.value < 1 << 32
    assert rule.why


def _args(index: int, value: int) -> list[int]:
    args = [0] * 6
    args[index] = value
    return args


def test_clone_rule_traps_only_namespace_clones() -> None:
    rule = DEFAULT_RULE_OF["clone"]
    assert rule.matches(_args(0, clone.CLONE_NEWNS | clone.CLONE_NEWPID | 17))
    assert rule.matches(_args(0, clone.CLONE_NEWUSER))
    thread = clone.CLONE_VM | clone.CLONE_FS | clone.CLONE_FILES | clone.CLONE_SIGHAND | clone.CLONE_THREAD
    assert not rule.matches(_args(0, thread))
    assert not rule.matches(_args(0, 17))  # fork() via clone(SIGCHLD)
    assert not rule.matches(_args(0, 0x80 | 17))  # a 0x80 bit is part of the exit signal, not NEWTIME


def test_prctl_rule() -> None:
    rule = DEFAULT_RULE_OF["prctl"]
    for option in ("PR_SET_NO_NEW_PRIVS", "PR_CAPBSET_DROP", "PR_SET_KEEPCAPS", "PR_SET_DUMPABLE",
                   "PR_SET_SECCOMP", "PR_SET_SECUREBITS", "PR_CAP_AMBIENT", "PR_SET_CHILD_SUBREAPER",
                   "PR_SET_PDEATHSIG", "PR_SET_NAME"):  # fmt: skip
        assert rule.matches(_args(0, getattr(prctl, option))), option
    assert not rule.matches(_args(0, prctl.PR_GET_NAME))
    assert not rule.matches(_args(0, prctl.PR_CAPBSET_READ))  # a read changes nothing
    assert not rule.matches(_args(0, prctl.PR_SET_VMA))
    # the filter looks at the low 32 bits only, as the kernel does for an int option
    assert rule.matches(_args(0, (1 << 32) | prctl.PR_SET_NAME))


@pytest.mark.parametrize("name", ["write", "writev", "pwrite64", "pwritev", "pwritev2"])
def test_write_rules(name: str) -> None:
    rule = DEFAULT_RULE_OF[name]
    assert [rule.matches(_args(0, fd)) for fd in (0, 1, 2, 3, 100)] == [False, False, False, True, True]
    assert (rule.arg_index, rule.test, rule.value) == (0, "gt", 2)


def test_openat2_is_always_trapped_and_says_why() -> None:
    rule = DEFAULT_RULE_OF["openat2"]
    assert rule.test == "always" and rule.arg_index is None
    assert "open_how" in rule.why and "read-only" in rule.why
    # whatever the registers hold: the flags are behind the pointer in args[2]
    assert rule.matches([0] * 6) and rule.matches(_args(2, 0xDEAD0000))


def test_open_rules() -> None:
    openat = DEFAULT_RULE_OF["openat"]
    assert openat.arg_index == 2
    assert not openat.matches(_args(2, fcntl.O_RDONLY | fcntl.O_CLOEXEC | fcntl.O_DIRECTORY))
    assert openat.matches(_args(2, fcntl.O_WRONLY | fcntl.O_CLOEXEC))
    assert openat.matches(_args(2, fcntl.O_RDWR))
    assert openat.matches(_args(2, fcntl.O_CREAT | fcntl.O_EXCL))
    assert DEFAULT_RULE_OF["open"].arg_index == 1
    assert DEFAULT_RULE_OF["creat"].test == "always"


def test_unlinkat_rule() -> None:
    rule = DEFAULT_RULE_OF["unlinkat"]
    assert rule.matches(_args(2, fcntl.AT_REMOVEDIR))
    assert not rule.matches(_args(2, 0))


def test_always_rules() -> None:
    for name in ("clone3", "execve", "execveat", "mount", "setns", "capset"):
        assert DEFAULT_RULE_OF[name].matches([0] * 6)


def test_the_trace_format_doc_lists_the_default_set() -> None:
    """docs/trace-format.md's table of trapped calls names every rule, and nothing else."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "trace-format.md").read_text()
    section = doc.split("### Which calls a trace holds", 1)[1].split("\n\n", 3)[2]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    listed = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert listed == DEFAULT_SYSCALLS

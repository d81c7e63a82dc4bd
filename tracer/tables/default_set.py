"""The default trap policy: which syscalls stop the tracee, as data the seccomp BPF builder reads.

Each rule names a syscall and at most one test on one argument register (a classic-BPF seccomp filter
sees registers, never memory). A call that fails its rule's test runs without a stop; the decoders
apply the same interest rules, so a trace without the filter (fallback mode) reports the same calls.

Tests compare the low 32 bits of the argument, unsigned, exactly as the BPF instructions the engine
emits (JSET for ``mask_any``, a JEQ chain for ``in_set``, JGT for ``gt``); every value here fits in
32 bits. ``execve``/``execveat`` are always trapped: the engine needs every exec (strace does the same).
``openat2`` and ``clone3`` keep their flags in memory, out of a filter's reach: they are always trapped.
"""

from __future__ import annotations

from boxtrace.tracer.plain import Frozen
from boxtrace.tracer.tables.clone import CLONE_NEW_MASK_CLONE
from boxtrace.tracer.tables.fcntl import AT_REMOVEDIR, O_WRITE_MASK
from boxtrace.tracer.tables.prctl import PRCTL_TRAPPED

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Literal, TypeAlias

    TrapTest: TypeAlias = Literal["always", "mask_any", "in_set", "gt"]

_LOW32 = 0xFFFFFFFF


class TrapRule(Frozen):
    """Trap ``name`` when ``test`` holds for argument ``arg_index`` (always when arg_index is None)."""

    __slots__ = ("arg_index", "name", "test", "value", "why")
    name: str
    arg_index: int | None
    test: TrapTest
    value: int | frozenset[int] | None
    why: str

    def __init__(
        self,
        name: str,
        arg_index: int | None = None,
        test: TrapTest = "always",
        value: int | frozenset[int] | None = None,
        why: str = "",
    ) -> None:
        self._assign(name, arg_index, test, value, why)

    def matches(self, args: Sequence[int]) -> bool:
        """What the BPF filter decides for these register values (used without a filter, and in tests)."""
        if self.arg_index is None or self.test == "always":
            return True
        arg = args[self.arg_index] & _LOW32
        value = self.value
        if self.test == "mask_any":
            assert isinstance(value, int)
            return arg & value != 0
        if self.test == "gt":
            assert isinstance(value, int)
            return arg > value
        assert isinstance(value, frozenset)
        return arg in value


def _always(*names: str, why: str = "") -> tuple[TrapRule, ...]:
    return tuple(TrapRule(name, why=why) for name in names)


DEFAULT_RULES: tuple[TrapRule, ...] = (
    # Namespaces. clone3's flags live in memory, out of the filter's reach, so it is always trapped.
    TrapRule(
        "clone",
        arg_index=0,
        test="mask_any",
        value=CLONE_NEW_MASK_CLONE,
        why="only clones that create namespaces; plain forks and threads are followed without a stop",
    ),
    *_always("clone3", "unshare", "setns"),
    # Mounts, classic and new API.
    *_always(
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "move_mount",
        "open_tree",
        "mount_setattr",
    ),
    # Identity and hardening.
    *_always(
        "sethostname",
        "setdomainname",
        "capset",
        "seccomp",
        "bpf",
        "setuid",
        "setgid",
        "setreuid",
        "setregid",
        "setresuid",
        "setresgid",
        "setgroups",
    ),
    TrapRule(
        "prctl",
        arg_index=0,
        test="in_set",
        value=PRCTL_TRAPPED,
        why="only options that change privileges or process identity; PR_SET_NAME keeps comm names current",
    ),
    *_always("execve", "execveat", why="the tracer must see every exec"),
    # Container filesystem work; the decoders report only cgroupfs, id maps and /dev.
    *_always("mknod", "mknodat", "symlink", "symlinkat", "mkdir", "mkdirat", "rmdir", "creat"),
    TrapRule(
        "unlinkat",
        arg_index=2,
        test="mask_any",
        value=AT_REMOVEDIR,
        why="Go (runc) removes cgroup directories with unlinkat(AT_REMOVEDIR), never rmdir(2)",
    ),
    TrapRule(
        "openat",
        arg_index=2,
        test="mask_any",
        value=O_WRITE_MASK,
        why="read-only opens never change a container; cgroup and id-map work opens for writing",
    ),
    TrapRule("open", arg_index=1, test="mask_any", value=O_WRITE_MASK, why="as openat"),
    TrapRule(
        "openat2",
        why=(
            "its flags are in struct open_how, in memory the filter cannot read, so every call stops;"
            " the decoder drops read-only opens (runc opens cgroup files with openat2)"
        ),
    ),
    TrapRule(
        "write",
        arg_index=0,
        test="gt",
        value=2,
        why="writes to stdin/stdout/stderr are output, never cgroup or id-map work",
    ),
    *(
        TrapRule(
            name, arg_index=0, test="gt", value=2, why="as write: the same work, other calling conventions"
        )
        for name in ("writev", "pwrite64", "pwritev", "pwritev2")
    ),
    *(
        TrapRule(
            name,
            arg_index=1,
            test="in_set",
            value=frozenset({0, 1, 2}),
            why=(
                "a shell's `echo 5 > pids.max` moves the file onto fd 1 and writes fd 1, which the"
                " write rule lets through: such a process is then watched"
            ),
        )
        for name in ("dup2", "dup3")
    ),
)

DEFAULT_RULE_OF: dict[str, TrapRule] = {rule.name: rule for rule in DEFAULT_RULES}
DEFAULT_SYSCALLS: frozenset[str] = frozenset(DEFAULT_RULE_OF)

"""clone/clone3/unshare/setns flags, from include/uapi/linux/sched.h."""

from __future__ import annotations

from boxtrace.tracer.tables.xlat import Xlat

# clone(2) keeps the child's exit signal in the low byte of flags.
CSIGNAL = 0x000000FF

CLONE_NEWTIME = 0x00000080  # Linux 5.6; only clone3/unshare/setns: for clone(2) this bit is in CSIGNAL
CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
CLONE_SIGHAND = 0x00000800
CLONE_PIDFD = 0x00001000
CLONE_PTRACE = 0x00002000
CLONE_VFORK = 0x00004000
CLONE_PARENT = 0x00008000
CLONE_THREAD = 0x00010000
CLONE_NEWNS = 0x00020000
CLONE_SYSVSEM = 0x00040000
CLONE_SETTLS = 0x00080000
CLONE_PARENT_SETTID = 0x00100000
CLONE_CHILD_CLEARTID = 0x00200000
CLONE_DETACHED = 0x00400000  # unused, ignored by the kernel
CLONE_UNTRACED = 0x00800000
CLONE_CHILD_SETTID = 0x01000000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_IO = 0x80000000
# clone3-only flags above 32 bits.
CLONE_CLEAR_SIGHAND = 1 << 32  # Linux 5.5
CLONE_INTO_CGROUP = 1 << 33  # Linux 5.7
CLONE_AUTOREAP = 1 << 34  # newer than 6.18 (uapi v7.1)
CLONE_NNP = 1 << 35  # newer than 6.18 (uapi v7.1)
CLONE_PIDFD_AUTOKILL = 1 << 36  # newer than 6.18 (uapi v7.1)
CLONE_EMPTY_MNTNS = 1 << 37  # newer than 6.18 (uapi v7.1)
# unshare(2) reuses CLONE_PARENT_SETTID's bit, which has no meaning there.
UNSHARE_EMPTY_MNTNS = 0x00100000  # newer than 6.18 (uapi v7.1)

# The namespace flags a seccomp filter can test in clone(2)'s flags register. CLONE_NEWTIME is left
# out: in clone(2) that bit belongs to the exit signal.
CLONE_NEW_MASK_CLONE = (
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
)
# Every namespace flag (clone3, unshare, setns).
CLONE_NEW_MASK = CLONE_NEW_MASK_CLONE | CLONE_NEWTIME

_LEGACY: dict[str, int] = {
    "CLONE_VM": CLONE_VM,
    "CLONE_FS": CLONE_FS,
    "CLONE_FILES": CLONE_FILES,
    "CLONE_SIGHAND": CLONE_SIGHAND,
    "CLONE_PIDFD": CLONE_PIDFD,
    "CLONE_PTRACE": CLONE_PTRACE,
    "CLONE_VFORK": CLONE_VFORK,
    "CLONE_PARENT": CLONE_PARENT,
    "CLONE_THREAD": CLONE_THREAD,
    "CLONE_NEWNS": CLONE_NEWNS,
    "CLONE_SYSVSEM": CLONE_SYSVSEM,
    "CLONE_SETTLS": CLONE_SETTLS,
    "CLONE_PARENT_SETTID": CLONE_PARENT_SETTID,
    "CLONE_CHILD_CLEARTID": CLONE_CHILD_CLEARTID,
    "CLONE_DETACHED": CLONE_DETACHED,
    "CLONE_UNTRACED": CLONE_UNTRACED,
    "CLONE_CHILD_SETTID": CLONE_CHILD_SETTID,
    "CLONE_NEWCGROUP": CLONE_NEWCGROUP,
    "CLONE_NEWUTS": CLONE_NEWUTS,
    "CLONE_NEWIPC": CLONE_NEWIPC,
    "CLONE_NEWUSER": CLONE_NEWUSER,
    "CLONE_NEWPID": CLONE_NEWPID,
    "CLONE_NEWNET": CLONE_NEWNET,
    "CLONE_IO": CLONE_IO,
}

# clone(2): flags above the CSIGNAL byte.
CLONE_FLAGS = Xlat(_LEGACY, "CLONE_")

# clone3(2): the whole 64-bit flags field (exit_signal has its own field there).
CLONE3_FLAGS = Xlat(
    {
        "CLONE_NEWTIME": CLONE_NEWTIME,
        **_LEGACY,
        "CLONE_CLEAR_SIGHAND": CLONE_CLEAR_SIGHAND,
        "CLONE_INTO_CGROUP": CLONE_INTO_CGROUP,
        "CLONE_AUTOREAP": CLONE_AUTOREAP,
        "CLONE_NNP": CLONE_NNP,
        "CLONE_PIDFD_AUTOKILL": CLONE_PIDFD_AUTOKILL,
        "CLONE_EMPTY_MNTNS": CLONE_EMPTY_MNTNS,
    },
    "CLONE_",
)

# unshare(2): only the flags it accepts (kernel/fork.c check_unshare_flags), in sched.h order.
UNSHARE_FLAGS = Xlat(
    {
        "CLONE_NEWTIME": CLONE_NEWTIME,
        "CLONE_VM": CLONE_VM,
        "CLONE_FS": CLONE_FS,
        "CLONE_FILES": CLONE_FILES,
        "CLONE_SIGHAND": CLONE_SIGHAND,
        "CLONE_THREAD": CLONE_THREAD,
        "CLONE_NEWNS": CLONE_NEWNS,
        "CLONE_SYSVSEM": CLONE_SYSVSEM,
        "UNSHARE_EMPTY_MNTNS": UNSHARE_EMPTY_MNTNS,
        "CLONE_NEWCGROUP": CLONE_NEWCGROUP,
        "CLONE_NEWUTS": CLONE_NEWUTS,
        "CLONE_NEWIPC": CLONE_NEWIPC,
        "CLONE_NEWUSER": CLONE_NEWUSER,
        "CLONE_NEWPID": CLONE_NEWPID,
        "CLONE_NEWNET": CLONE_NEWNET,
    },
    "CLONE_",
)

# setns(2) nstype: one namespace flag for a namespace fd, any combination for a pidfd, 0 = any type.
SETNS_TYPES = Xlat(
    {
        "CLONE_NEWTIME": CLONE_NEWTIME,
        "CLONE_NEWNS": CLONE_NEWNS,
        "CLONE_NEWCGROUP": CLONE_NEWCGROUP,
        "CLONE_NEWUTS": CLONE_NEWUTS,
        "CLONE_NEWIPC": CLONE_NEWIPC,
        "CLONE_NEWUSER": CLONE_NEWUSER,
        "CLONE_NEWPID": CLONE_NEWPID,
        "CLONE_NEWNET": CLONE_NEWNET,
    },
    "CLONE_NEW",
)

# Namespace flag -> the name of its file in /proc/PID/ns/ (and in nsfs link text "net:[4026531840]").
NS_FILE_OF_FLAG: dict[int, str] = {
    CLONE_NEWTIME: "time",
    CLONE_NEWNS: "mnt",
    CLONE_NEWCGROUP: "cgroup",
    CLONE_NEWUTS: "uts",
    CLONE_NEWIPC: "ipc",
    CLONE_NEWUSER: "user",
    CLONE_NEWPID: "pid",
    CLONE_NEWNET: "net",
}

# The order in which the kernel creates namespaces for one clone/unshare: the user namespace first
# (copy_creds; it owns the others), then kernel/nsproxy.c create_new_namespaces().
NS_CREATE_ORDER: tuple[int, ...] = (
    CLONE_NEWUSER,
    CLONE_NEWNS,
    CLONE_NEWUTS,
    CLONE_NEWIPC,
    CLONE_NEWPID,
    CLONE_NEWCGROUP,
    CLONE_NEWNET,
    CLONE_NEWTIME,
)

# clone(2)'s register order by architecture (kernel/fork.c's CONFIG_CLONE_BACKWARDS variants; strace
# src/clone.c ARG_*). x86_64: flags, stack, parent_tid, child_tid, tls. arm64 (and arm, riscv,
# powerpc) is CLONE_BACKWARDS: tls comes before child_tid. The glibc wrapper hides this; a raw
# syscall(SYS_clone, ...) and a trace do not.
CLONE_ARG_ORDER: dict[str, tuple[str, str, str, str, str]] = {
    "x86_64": ("flags", "stack", "parent_tid", "child_tid", "tls"),
    "aarch64": ("flags", "stack", "parent_tid", "tls", "child_tid"),
}

# struct clone_args sizes (clone3's size argument tells which fields the caller knows).
CLONE_ARGS_SIZE_VER0 = 64
CLONE_ARGS_SIZE_VER1 = 80  # + set_tid, set_tid_size
CLONE_ARGS_SIZE_VER2 = 88  # + cgroup
CLONE_ARGS_FIELDS: tuple[str, ...] = (
    "flags",
    "pidfd",
    "child_tid",
    "parent_tid",
    "exit_signal",
    "stack",
    "stack_size",
    "tls",
    "set_tid",
    "set_tid_size",
    "cgroup",
)


def namespaces_of(flags: int) -> list[str]:
    """The /proc/PID/ns names of the namespace flags in ``flags``, in creation order."""
    return [NS_FILE_OF_FLAG[f] for f in NS_CREATE_ORDER if flags & f]

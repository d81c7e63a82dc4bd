"""open(2) flags and the *at() family's dirfd/AT_* flags.

From include/uapi/asm-generic/fcntl.h (the values x86_64 uses; alpha, mips, parisc, powerpc and
sparc differ) and include/uapi/linux/fcntl.h. arm64 takes the generic file but moves four flags,
as 32-bit arm has them (arch/arm64/include/uapi/asm/fcntl.h, kept for AArch32 compat): see
``OPEN_FLAGS_OF_ARCH``.
"""

from __future__ import annotations

from boxtrace.tracer.tables.xlat import Xlat

AT_FDCWD = -100

AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200  # unlinkat; shares its value with AT_EACCESS (faccessat) and AT_HANDLE_FID
AT_SYMLINK_FOLLOW = 0x400
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000  # Linux 5.2, open_tree and mount_setattr
AT_EXECVE_CHECK = 0x10000  # Linux 6.14, execveat

AT_FLAGS = Xlat(
    {
        "AT_SYMLINK_NOFOLLOW": AT_SYMLINK_NOFOLLOW,
        "AT_REMOVEDIR": AT_REMOVEDIR,
        "AT_SYMLINK_FOLLOW": AT_SYMLINK_FOLLOW,
        "AT_NO_AUTOMOUNT": AT_NO_AUTOMOUNT,
        "AT_EMPTY_PATH": AT_EMPTY_PATH,
        "AT_RECURSIVE": AT_RECURSIVE,
    },
    "AT_",
)
UNLINKAT_FLAGS = Xlat({"AT_REMOVEDIR": AT_REMOVEDIR}, "AT_")
EXECVEAT_FLAGS = Xlat(
    {
        "AT_SYMLINK_NOFOLLOW": AT_SYMLINK_NOFOLLOW,
        "AT_EMPTY_PATH": AT_EMPTY_PATH,
        "AT_EXECVE_CHECK": AT_EXECVE_CHECK,
    },
    "AT_",
)

O_ACCMODE = 0o3
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_CREAT = 0o100
O_EXCL = 0o200
O_NOCTTY = 0o400
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
O_DSYNC = 0o10000
FASYNC = 0o20000
O_DIRECT = 0o40000
O_LARGEFILE = 0o100000  # glibc defines it as 0 on 64-bit, but the kernel sets this bit itself
O_DIRECTORY = 0o200000
O_NOFOLLOW = 0o400000
O_NOATIME = 0o1000000
O_CLOEXEC = 0o2000000
__O_SYNC = 0o4000000
O_SYNC = __O_SYNC | O_DSYNC
O_PATH = 0o10000000
__O_TMPFILE = 0o20000000
O_TMPFILE = __O_TMPFILE | O_DIRECTORY
O_EMPTYPATH = 1 << 26  # newer than 6.18 (uapi v7.2)

# Any of these in an open's flags means the caller may change the file (what the trap filter tests).
O_WRITE_MASK = O_WRONLY | O_RDWR | O_CREAT

OPEN_ACCESS_MODES = Xlat({"O_RDONLY": O_RDONLY, "O_WRONLY": O_WRONLY, "O_RDWR": O_RDWR}, "O_")


def _open_flags(directory: int, nofollow: int, direct: int, largefile: int) -> Xlat:
    # Multi-bit names first so that O_SYNC and O_TMPFILE win over their parts.
    return Xlat(
        {
            "O_SYNC": O_SYNC,
            "O_TMPFILE": __O_TMPFILE | directory,
            "O_CREAT": O_CREAT,
            "O_EXCL": O_EXCL,
            "O_NOCTTY": O_NOCTTY,
            "O_TRUNC": O_TRUNC,
            "O_APPEND": O_APPEND,
            "O_NONBLOCK": O_NONBLOCK,
            "__O_SYNC": __O_SYNC,
            "O_DSYNC": O_DSYNC,
            "O_DIRECT": direct,
            "O_LARGEFILE": largefile,
            "O_NOFOLLOW": nofollow,
            "O_NOATIME": O_NOATIME,
            "O_CLOEXEC": O_CLOEXEC,
            "O_PATH": O_PATH,
            "__O_TMPFILE": __O_TMPFILE,
            "O_DIRECTORY": directory,
            "O_EMPTYPATH": O_EMPTYPATH,
            "FASYNC": FASYNC,
        },
        "O_",
    )


OPEN_FLAGS = _open_flags(O_DIRECTORY, O_NOFOLLOW, O_DIRECT, O_LARGEFILE)
# arm64: O_DIRECTORY 0o40000, O_NOFOLLOW 0o100000, O_DIRECT 0o200000, O_LARGEFILE 0o400000.
OPEN_FLAGS_OF_ARCH: dict[str, Xlat] = {
    "x86_64": OPEN_FLAGS,
    "aarch64": _open_flags(0o40000, 0o100000, 0o200000, 0o400000),
}

# dup3(2): O_CLOEXEC is its only flag.
DUP3_FLAGS = Xlat({"O_CLOEXEC": O_CLOEXEC}, "O_")

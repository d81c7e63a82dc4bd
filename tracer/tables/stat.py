"""File types and permission bits of a mode_t (include/uapi/linux/stat.h), and dev_t encoding."""

from __future__ import annotations

from boxtrace.tracer.tables.xlat import Xlat

S_IFMT = 0o170000
S_IFSOCK = 0o140000
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFBLK = 0o060000
S_IFDIR = 0o040000
S_IFCHR = 0o020000
S_IFIFO = 0o010000

S_ISUID = 0o4000
S_ISGID = 0o2000
S_ISVTX = 0o1000

# An enumeration over ``mode & S_IFMT``, not a flag set: the type bits overlap.
FILE_TYPES = Xlat(
    {
        "S_IFREG": S_IFREG,
        "S_IFSOCK": S_IFSOCK,
        "S_IFIFO": S_IFIFO,
        "S_IFLNK": S_IFLNK,
        "S_IFDIR": S_IFDIR,
        "S_IFBLK": S_IFBLK,
        "S_IFCHR": S_IFCHR,
    },
    "S_IF",
)

# What ls -l shows for each type, for explanations.
FILE_TYPE_WORDS: dict[int, str] = {
    S_IFREG: "regular file",
    S_IFSOCK: "socket",
    S_IFIFO: "FIFO",
    S_IFLNK: "symbolic link",
    S_IFDIR: "directory",
    S_IFBLK: "block device",
    S_IFCHR: "character device",
}


def octal_text(perms: int) -> str:
    """C's ``%#03o`` as strace prints modes: ``0755``, ``000``."""
    return ("0" + format(perms, "o") if perms else "0").rjust(3, "0")


def mode_text(mode: int) -> str:
    """strace's rendering of a mode with a type: ``S_IFCHR|0666``; a bare mode prints as ``0755``."""
    kind = mode & S_IFMT
    perms = mode & ~S_IFMT
    if not kind:
        return octal_text(perms)
    name = FILE_TYPES.by_value.get(kind)
    type_text = name if name is not None else "0" + format(kind, "o")
    return f"{type_text}|{octal_text(perms)}" if perms else type_text


# dev_t as glibc's makedev() and the kernel's new_encode_dev() lay it out: 12+ bit major, 20+ bit minor.
def dev_major(dev: int) -> int:
    return ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF & 0xFFFFFFFF)


def dev_minor(dev: int) -> int:
    return (dev & 0xFF) | ((dev >> 12) & ~0xFF & 0xFFFFFFFF)


def makedev(major: int, minor: int) -> int:
    return (
        ((major & 0xFFF) << 8)
        | ((major & ~0xFFF & 0xFFFFFFFF) << 32)
        | (minor & 0xFF)
        | ((minor & ~0xFF & 0xFFFFFFFF) << 12)
    )

"""openat2(2)'s ``struct open_how``: its size, its RESOLVE_* flags and the flags only openat2 takes.

From include/uapi/linux/openat2.h (Linux 5.6). ``OPENAT2_REGULAR`` lives in the upper 32 bits of
``open_how.flags``, out of reach of open(2)/openat(2)'s C ``int`` flags.
"""

from __future__ import annotations

from boxtrace.tracer.tables.fcntl import OPEN_FLAGS_OF_ARCH
from boxtrace.tracer.tables.xlat import Xlat

# struct open_how { __u64 flags; __u64 mode; __u64 resolve; }: the first (and so far only) version.
OPEN_HOW_SIZE_VER0 = 24
OPEN_HOW_FIELDS = ("flags", "mode", "resolve")

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE_CACHED = 0x20  # Linux 5.12

RESOLVE_FLAGS = Xlat(
    {
        "RESOLVE_NO_XDEV": RESOLVE_NO_XDEV,
        "RESOLVE_NO_MAGICLINKS": RESOLVE_NO_MAGICLINKS,
        "RESOLVE_NO_SYMLINKS": RESOLVE_NO_SYMLINKS,
        "RESOLVE_BENEATH": RESOLVE_BENEATH,
        "RESOLVE_IN_ROOT": RESOLVE_IN_ROOT,
        "RESOLVE_CACHED": RESOLVE_CACHED,
    },
    "RESOLVE_",
)

OPENAT2_REGULAR = 1 << 32  # newer than 6.18 (uapi v7.2): only open regular files

# open_how.flags: every open(2) flag, then openat2's own (strace prints them in this order).
OPEN_HOW_FLAGS_OF_ARCH: dict[str, Xlat] = {
    arch: Xlat({**flags.by_name, "OPENAT2_REGULAR": OPENAT2_REGULAR}, "O_")
    for arch, flags in OPEN_FLAGS_OF_ARCH.items()
}
OPEN_HOW_FLAGS = OPEN_HOW_FLAGS_OF_ARCH["x86_64"]

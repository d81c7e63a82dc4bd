"""Vectored and positioned writes: the RWF_* flags of pwritev2(2) and the iovec limit.

From include/uapi/linux/fs.h and include/uapi/linux/uio.h.
"""

from __future__ import annotations

from boxtrace.tracer.tables.xlat import Xlat

IOV_MAX = 1024  # UIO_MAXIOV: more iovecs than this and readv/writev fail with EINVAL
IOVEC_SIZE = 16  # struct iovec { void *iov_base; size_t iov_len; } on 64-bit

RWF_HIPRI = 0x01
RWF_DSYNC = 0x02
RWF_SYNC = 0x04
RWF_NOWAIT = 0x08
RWF_APPEND = 0x10
RWF_NOAPPEND = 0x20  # Linux 6.9
RWF_ATOMIC = 0x40  # Linux 6.11
RWF_DONTCACHE = 0x80  # Linux 6.14
RWF_NOSIGNAL = 0x100  # Linux 6.18

RWF_FLAGS = Xlat(
    {
        "RWF_HIPRI": RWF_HIPRI,
        "RWF_DSYNC": RWF_DSYNC,
        "RWF_SYNC": RWF_SYNC,
        "RWF_NOWAIT": RWF_NOWAIT,
        "RWF_APPEND": RWF_APPEND,
        "RWF_NOAPPEND": RWF_NOAPPEND,
        "RWF_ATOMIC": RWF_ATOMIC,
        "RWF_DONTCACHE": RWF_DONTCACHE,
        "RWF_NOSIGNAL": RWF_NOSIGNAL,
    },
    "RWF_",
)

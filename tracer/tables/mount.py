"""mount(2) and umount2(2) flags, from include/uapi/linux/mount.h and include/linux/fs.h."""

from __future__ import annotations

from boxtrace.tracer.tables.xlat import Xlat

MS_RDONLY = 1 << 0
MS_NOSUID = 1 << 1
MS_NODEV = 1 << 2
MS_NOEXEC = 1 << 3
MS_SYNCHRONOUS = 1 << 4
MS_REMOUNT = 1 << 5
MS_MANDLOCK = 1 << 6
MS_DIRSYNC = 1 << 7
MS_NOSYMFOLLOW = 1 << 8  # Linux 5.10
MS_NOATIME = 1 << 10
MS_NODIRATIME = 1 << 11
MS_BIND = 1 << 12
MS_MOVE = 1 << 13
MS_REC = 1 << 14
MS_SILENT = 1 << 15  # the header's MS_VERBOSE is a deprecated alias
MS_POSIXACL = 1 << 16
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_KERNMOUNT = 1 << 22
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
# Kernel-internal superblock flags: userspace passing them is a bug, but strace names them too.
MS_SUBMOUNT = 1 << 26
MS_NOREMOTELOCK = 1 << 27
MS_NOSEC = 1 << 28
MS_BORN = 1 << 29
MS_ACTIVE = 1 << 30
MS_NOUSER = 1 << 31

# Before Linux 2.4 the top 16 bits had to hold this magic; the kernel still strips it when present.
MS_MGC_VAL = 0xC0ED0000
MS_MGC_MSK = 0xFFFF0000

MS_PROPAGATION = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE

MOUNT_FLAGS = Xlat(
    {
        "MS_RDONLY": MS_RDONLY,
        "MS_NOSUID": MS_NOSUID,
        "MS_NODEV": MS_NODEV,
        "MS_NOEXEC": MS_NOEXEC,
        "MS_SYNCHRONOUS": MS_SYNCHRONOUS,
        "MS_REMOUNT": MS_REMOUNT,
        "MS_MANDLOCK": MS_MANDLOCK,
        "MS_DIRSYNC": MS_DIRSYNC,
        "MS_NOSYMFOLLOW": MS_NOSYMFOLLOW,
        "MS_NOATIME": MS_NOATIME,
        "MS_NODIRATIME": MS_NODIRATIME,
        "MS_BIND": MS_BIND,
        "MS_MOVE": MS_MOVE,
        "MS_REC": MS_REC,
        "MS_SILENT": MS_SILENT,
        "MS_POSIXACL": MS_POSIXACL,
        "MS_UNBINDABLE": MS_UNBINDABLE,
        "MS_PRIVATE": MS_PRIVATE,
        "MS_SLAVE": MS_SLAVE,
        "MS_SHARED": MS_SHARED,
        "MS_RELATIME": MS_RELATIME,
        "MS_KERNMOUNT": MS_KERNMOUNT,
        "MS_I_VERSION": MS_I_VERSION,
        "MS_STRICTATIME": MS_STRICTATIME,
        "MS_LAZYTIME": MS_LAZYTIME,
        "MS_SUBMOUNT": MS_SUBMOUNT,
        "MS_NOREMOTELOCK": MS_NOREMOTELOCK,
        "MS_NOSEC": MS_NOSEC,
        "MS_BORN": MS_BORN,
        "MS_ACTIVE": MS_ACTIVE,
        "MS_NOUSER": MS_NOUSER,
    },
    "MS_",
)

# Propagation type by flag, as /proc/PID/mountinfo and mount(8) name them.
PROPAGATION_NAMES: dict[int, str] = {
    MS_SHARED: "shared",
    MS_PRIVATE: "private",
    MS_SLAVE: "slave",
    MS_UNBINDABLE: "unbindable",
}

MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8

UMOUNT_FLAGS = Xlat(
    {
        "MNT_FORCE": MNT_FORCE,
        "MNT_DETACH": MNT_DETACH,
        "MNT_EXPIRE": MNT_EXPIRE,
        "UMOUNT_NOFOLLOW": UMOUNT_NOFOLLOW,
    },
    "MNT_",
)

"""Kernel constants the runtime passes to its system calls (values from the Linux uapi headers).

The runtime imports no other boxtrace package (it must start fast and stand alone), so it keeps the
few values it uses here rather than borrowing the tracer's decoding tables.
"""

from __future__ import annotations

# clone(2) / unshare(2) namespace flags, by OCI namespace type (runtime-spec config-linux.md).
NAMESPACE_FLAGS: dict[str, int] = {
    "mount": 0x00020000,  # CLONE_NEWNS
    "cgroup": 0x02000000,  # CLONE_NEWCGROUP
    "uts": 0x04000000,  # CLONE_NEWUTS
    "ipc": 0x08000000,  # CLONE_NEWIPC
    "user": 0x10000000,  # CLONE_NEWUSER
    "pid": 0x20000000,  # CLONE_NEWPID
    "network": 0x40000000,  # CLONE_NEWNET
    "time": 0x00000080,  # CLONE_NEWTIME
}
# The file under /proc/PID/ns/ for each OCI namespace type.
NAMESPACE_PROC_NAMES: dict[str, str] = {
    "mount": "mnt",
    "cgroup": "cgroup",
    "uts": "uts",
    "ipc": "ipc",
    "user": "user",
    "pid": "pid",
    "network": "net",
    "time": "time",
}
SIGCHLD = 17
SIGKILL = 9  # here too: signal.py's enums cost ~16 M instructions where only a number is needed

# mount(2) flags.
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000
MNT_DETACH = 0x2

# OCI mount options (runtime-spec config.md, as runc reads them): option -> (clear, flag).
# clear=True means the option removes the flag ("rw" clears MS_RDONLY).
MOUNT_OPTION_FLAGS: dict[str, tuple[bool, int]] = {
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "nosuid": (False, MS_NOSUID),
    "suid": (True, MS_NOSUID),
    "nodev": (False, MS_NODEV),
    "dev": (True, MS_NODEV),
    "noexec": (False, MS_NOEXEC),
    "exec": (True, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS),
    "async": (True, MS_SYNCHRONOUS),
    "dirsync": (False, MS_DIRSYNC),
    "remount": (False, MS_REMOUNT),
    "mand": (False, MS_MANDLOCK),
    "nomand": (True, MS_MANDLOCK),
    "atime": (True, MS_NOATIME),
    "noatime": (False, MS_NOATIME),
    "diratime": (True, MS_NODIRATIME),
    "nodiratime": (False, MS_NODIRATIME),
    "bind": (False, MS_BIND),
    "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME),
    "norelatime": (True, MS_RELATIME),
    "strictatime": (False, MS_STRICTATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "lazytime": (False, MS_LAZYTIME),
    "nolazytime": (True, MS_LAZYTIME),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "symfollow": (True, MS_NOSYMFOLLOW),
}
# Propagation options are applied with a second mount(2) call, as runc does.
PROPAGATION_OPTIONS: dict[str, int] = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}
# statvfs f_flag bits -> mount flags: flags a bind remount must keep (the kernel refuses to clear
# "locked" flags inherited from a more privileged mount namespace).
STATVFS_TO_MOUNT_FLAGS: dict[int, int] = {
    0x0002: MS_NOSUID,  # ST_NOSUID
    0x0004: MS_NODEV,  # ST_NODEV
    0x0008: MS_NOEXEC,  # ST_NOEXEC
    0x0400: MS_NOATIME,  # ST_NOATIME
    0x0800: MS_NODIRATIME,  # ST_NODIRATIME
    0x1000: MS_RELATIME,  # ST_RELATIME
    0x2000: MS_NOSYMFOLLOW,  # ST_NOSYMFOLLOW
}

# /proc/PID/oom_score_adj's range (proc_pid_oom_score_adj(5)): -1000 never kills, 1000 kills first.
OOM_SCORE_ADJ_MIN = -1000
OOM_SCORE_ADJ_MAX = 1000

# prctl(2) options.
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

# capabilities(7), by number.
CAPABILITIES: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

# Docker's default capability set (moby oci/caps/defaults.go): CapEff 00000000a80425fb.
DOCKER_DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

# Docker's default masked and read-only paths (moby oci/defaults.go; /proc/interrupts since Docker 28).
DOCKER_MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
DOCKER_READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

# Devices every OCI container has (runtime-spec config-linux.md "Default Devices"):
# name -> (type, major, minor, mode).
DEFAULT_DEVICES: dict[str, tuple[str, int, int, int]] = {
    "null": ("c", 1, 3, 0o666),
    "zero": ("c", 1, 5, 0o666),
    "full": ("c", 1, 7, 0o666),
    "random": ("c", 1, 8, 0o666),
    "urandom": ("c", 1, 9, 0o666),
    "tty": ("c", 5, 0, 0o666),
}
# Links in /dev (runc libcontainer/rootfs_linux.go setupDevSymlinks and /dev/ptmx).
DEV_SYMLINKS: dict[str, str] = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
    "ptmx": "pts/ptmx",
}

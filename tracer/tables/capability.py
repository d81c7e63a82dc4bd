"""Capabilities, from include/uapi/linux/capability.h (CAP_LAST_CAP is 40 since Linux 5.9)."""

from __future__ import annotations

from boxtrace.tracer.tables.xlat import Xlat

# Capability numbers (bit positions in the 64-bit sets of /proc/PID/status CapEff etc.).
CAPABILITIES = Xlat(
    {
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
    },
    "CAP_",
)
CAP_LAST_CAP = 40

# capset/capget header versions: v1 takes one 32-bit data struct, v2 (deprecated) and v3 take two.
_LINUX_CAPABILITY_VERSION_1 = 0x19980330
_LINUX_CAPABILITY_VERSION_2 = 0x20071026
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
CAP_VERSIONS = Xlat(
    {
        "_LINUX_CAPABILITY_VERSION_1": _LINUX_CAPABILITY_VERSION_1,
        "_LINUX_CAPABILITY_VERSION_2": _LINUX_CAPABILITY_VERSION_2,
        "_LINUX_CAPABILITY_VERSION_3": _LINUX_CAPABILITY_VERSION_3,
    },
    "_LINUX_CAPABILITY_VERSION_",
)
# Number of struct __user_cap_data_struct {u32 effective, permitted, inheritable} per version.
CAP_DATA_COUNT: dict[int, int] = {
    _LINUX_CAPABILITY_VERSION_1: 1,
    _LINUX_CAPABILITY_VERSION_2: 2,
    _LINUX_CAPABILITY_VERSION_3: 2,
}


def cap_set_names(mask: int) -> list[str]:
    """Capability names of the bits set in a 64-bit capability set; unknown bits as their number."""
    names: list[str] = []
    bit = 0
    while mask:
        if mask & 1:
            name = CAPABILITIES.by_value.get(bit)
            names.append(name if name is not None else f"{bit}")
        mask >>= 1
        bit += 1
    return names


def cap_set_hex(mask: int) -> str:
    """The set as /proc/PID/status prints CapEff: 16 hex digits."""
    return f"{mask:016x}"


def cap_name(value: int) -> str:
    """``CAP_SYS_ADMIN`` for 21; an unknown number prints as itself, as strace does."""
    name = CAPABILITIES.by_value.get(value)
    return name if name is not None else str(value)

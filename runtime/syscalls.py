"""Thin ctypes wrappers for the system calls Python's os module does not offer.

Each wrapper raises OSError with the errno and names what it was doing, so an error in a container
step reads like "mount proc on /run/boxtrace/x/rootfs/proc: Operation not permitted".
ctypes only: this module is on the runtime's start path.
"""

from __future__ import annotations

import ctypes
import os
import struct

from boxtrace.runtime.machine import CURRENT, machine

_libc = ctypes.CDLL(None, use_errno=True)

# The raw numbers of the calls glibc has no wrapper for (or a wrapper with fork semantics we must
# avoid): the runtime is the thing being taught, so it makes these calls itself. Per architecture
# (runtime/machine.py); on a machine without a table the first such call names the supported ones.
_NR: dict[str, int] = CURRENT.numbers if CURRENT is not None else {}


def _nr(name: str) -> int:
    number = _NR.get(name)
    return number if number is not None else machine().numbers[name]


_KEYCTL_JOIN_SESSION_KEYRING = 1

_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
_libc.unshare.argtypes = (ctypes.c_int,)
_libc.setns.argtypes = (ctypes.c_int, ctypes.c_int)
_libc.sethostname.argtypes = (ctypes.c_char_p, ctypes.c_size_t)
_libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)


def _check(result: int, what: str) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    what = f"mount {source or fstype or '(none)'} on {target}"
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), what)


def umount2(target: str, flags: int) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_nr("pivot_root"), _b(new_root), _b(put_old)), f"pivot_root to {new_root}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int, path: str) -> None:
    _check(_libc.setns(fd, nstype), f"setns {path}")


def clone(flags: int) -> int:
    """clone(2) with fork semantics (no new stack) into new namespaces.

    Returns 0 in the child and the child's host pid in the parent, like fork(). Python's os.fork()
    cannot pass CLONE_NEW* flags; unshare(CLONE_NEWPID) would only move the *next* child into the
    new pid namespace, and one clone with every flag is the call students should see.
    Only the flags are given: the other four arguments are 0, so their order (x86_64: stack,
    parent_tid, child_tid, tls; arm64's CLONE_BACKWARDS: stack, parent_tid, tls, child_tid) does
    not matter.
    """
    return _check(_libc.syscall(_nr("clone"), ctypes.c_ulong(flags), None, None, None, None), "clone")


CLONE_INTO_CGROUP = 0x200000000  # clone_args.flags: start the child in the cgroup clone_args.cgroup names
CLONE_ARGS_SIZE_VER2 = 88  # struct clone_args up to and including .cgroup (Linux 5.7)
# What a kernel or an outer seccomp filter answers when it will not run clone3 as asked: no clone3
# (before 5.3, or Docker's default profile: ENOSYS), a filter's EPERM, a struct bigger than the
# kernel knows (E2BIG) or a flag it does not (CLONE_INTO_CGROUP before 5.7: EINVAL). clone(2) and
# cgroup.procs do the same job then, as crun falls back.
CLONE3_REFUSED = frozenset({38, 1, 7, 22})  # ENOSYS, EPERM, E2BIG, EINVAL


class _CloneArgs(ctypes.Structure):
    # struct clone_args (linux/sched.h), every field an __aligned_u64, CLONE_ARGS_SIZE_VER2 bytes.
    _fields_ = tuple(
        (name, ctypes.c_uint64)
        for name in (
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
    )


def clone3(flags: int, exit_signal: int, cgroup_fd: int = -1) -> int:
    """clone3(2) with fork semantics, like :func:`clone`: 0 in the child, its host pid in the parent.

    With ``cgroup_fd`` (an fd of a cgroup v2 directory; O_PATH is enough) the call adds
    CLONE_INTO_CGROUP: the kernel places the child in that cgroup as part of creating it, so it
    never runs a single instruction outside its limits. No stack is given: the child returns from
    the syscall on a copy of the parent's stack, as after fork. The interpreter's after-fork hooks
    are not run, as with :func:`clone`: the runtime has one thread, and the child only runs the
    container's steps and execs (or exits with os._exit).
    """
    args = _CloneArgs(flags=flags, exit_signal=exit_signal)
    if cgroup_fd >= 0:
        args.flags |= CLONE_INTO_CGROUP
        args.cgroup = cgroup_fd
    return _check(
        _libc.syscall(_nr("clone3"), ctypes.byref(args), ctypes.c_size_t(CLONE_ARGS_SIZE_VER2)), "clone3"
    )


def join_session_keyring(name: str) -> None:
    """keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a new session keyring; ENOSYS (no keyrings in
    this kernel) is not an error, as in runc."""
    result = _libc.syscall(_nr("keyctl"), _KEYCTL_JOIN_SESSION_KEYRING, _b(name), None, None, None)
    if result == -1 and ctypes.get_errno() != 38:  # ENOSYS
        _check(result, f"join session keyring {name}")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), f"sethostname {name!r}")


def prctl(
    option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0, what: str = "prctl"
) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), what)


_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


class _IfreqFlags(ctypes.Structure):
    # struct ifreq with its union used as ifr_flags (netdevice(7)); padded to the kernel's 40 bytes.
    _fields_ = (("name", ctypes.c_char * 16), ("flags", ctypes.c_short), ("pad", ctypes.c_char * 22))


def set_interface_up(name: str) -> None:
    """ioctl(SIOCSIFFLAGS) with IFF_UP, as `ip link set NAME up` does (netdevice(7))."""
    sock = _check(_libc.socket(2, 2 | 0o2000000, 0), "socket")  # AF_INET, SOCK_DGRAM|SOCK_CLOEXEC
    try:
        request = _IfreqFlags(name.encode(), 0)
        _check(_libc.ioctl(sock, _SIOCGIFFLAGS, ctypes.byref(request)), f"read flags of {name}")
        request.flags |= _IFF_UP
        _check(_libc.ioctl(sock, _SIOCSIFFLAGS, ctypes.byref(request)), f"bring {name} up")
    finally:
        os.close(sock)


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) with the version 3 header: 64-bit sets passed as two 32-bit halves."""
    header = ctypes.create_string_buffer(struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0))
    data = ctypes.create_string_buffer(
        struct.pack(
            "IIIIII",
            effective & 0xFFFFFFFF,
            permitted & 0xFFFFFFFF,
            inheritable & 0xFFFFFFFF,
            effective >> 32,
            permitted >> 32,
            inheritable >> 32,
        )
    )
    _check(_libc.syscall(_nr("capset"), header, data), "capset")


_SECCOMP_SET_MODE_FILTER = 1


class _SockFprog(ctypes.Structure):
    # struct sock_fprog (linux/filter.h): the number of instructions and a pointer to them.
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def seccomp_set_mode_filter(program: bytes, flags: int) -> None:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog): ``program`` is struct sock_filter[] (8 bytes
    each). Needs no_new_privs or CAP_SYS_ADMIN (EACCES otherwise); the filter lasts for this
    process and every child and execve after."""
    code = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(code))
    result = _libc.syscall(
        _nr("seccomp"), _SECCOMP_SET_MODE_FILTER, ctypes.c_ulong(flags), ctypes.byref(fprog)
    )
    if result > 0:  # SECCOMP_FILTER_FLAG_TSYNC: the id of a thread that could not be synchronized
        raise OSError(0, f"seccomp: thread {result} could not take the filter (SECCOMP_FILTER_FLAG_TSYNC)")
    _check(result, "load seccomp filter")


def bpf(cmd: int, attr: ctypes.Array[ctypes.c_char], what: str) -> int:
    """bpf(cmd, &attr, sizeof attr): ``attr`` is the command's part of union bpf_attr, packed by the
    caller (runtime/cgroup_bpf.py); the kernel may write results back into it."""
    return _check(_libc.syscall(_nr("bpf"), cmd, attr, ctypes.c_uint(len(attr))), what)

"""bpf(2) for cgroup device programs: load one, attach it to a cgroup, replace the ones attached.

Each command takes its own part of ``union bpf_attr`` (linux/bpf.h), packed here byte for byte.
The kernel keeps an attached program alive: after BPF_PROG_ATTACH the runtime closes its fds, and
the program goes away with the cgroup (rmdir), so `delete` has nothing to do.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import struct

from boxtrace.runtime import syscalls
from boxtrace.runtime.errors import ContainerError

# enum bpf_cmd
BPF_CMD = {
    "BPF_PROG_LOAD": 5,
    "BPF_PROG_ATTACH": 8,
    "BPF_PROG_DETACH": 9,
    "BPF_PROG_GET_FD_BY_ID": 13,
    "BPF_PROG_QUERY": 16,
}
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6  # enum bpf_attach_type
# Several programs may sit on one cgroup: the new one is attached before the old one is taken off,
# so no device access happens without a filter in between (runc and crun do the same).
BPF_F_ALLOW_MULTI = 1 << 1

LICENSE = b"Apache"  # the license string is checked only when a program calls GPL-only helpers
PROGRAM_NAME = b"boxtrace_dev"  # shown by bpftool prog list; [A-Za-z0-9_.], at most 15 bytes
LOG_SIZE = 1 << 16

# The BPF_PROG_LOAD part: prog_type, insn_cnt, insns, license, log_level, log_size, log_buf,
# kern_version, prog_flags, prog_name[16].
_PROG_LOAD = struct.Struct("=IIQQIIQII16s")
# BPF_PROG_ATTACH / BPF_PROG_DETACH: target_fd, attach_bpf_fd, attach_type, attach_flags, replace_bpf_fd.
_PROG_ATTACH = struct.Struct("=IIIII")
# BPF_PROG_QUERY: target_fd, attach_type, query_flags, attach_flags, prog_ids, prog_cnt (padded).
_PROG_QUERY = struct.Struct("=IIIIQI4x")
# BPF_PROG_GET_FD_BY_ID: prog_id, next_id, open_flags.
_GET_FD_BY_ID = struct.Struct("=III")


class BpfRefused(Exception):
    """The kernel does not let this process load or attach BPF programs (no CAP_BPF/CAP_SYS_ADMIN,
    as in a rootless container): the caller decides whether that is an error."""


def _buffer(data: bytes) -> ctypes.Array[ctypes.c_char]:
    return ctypes.create_string_buffer(data, len(data))


def load_device_program(program: bytes) -> int:
    """BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program; returns its fd.

    The first try goes without a log (the verifier's log costs time); when the kernel refuses the
    program, a second try with log_level 1 gets the verifier's reasons for the error message."""
    insns = _buffer(program)
    license = ctypes.create_string_buffer(LICENSE)

    def attr(
        log_level: int = 0, log: ctypes.Array[ctypes.c_char] | None = None
    ) -> ctypes.Array[ctypes.c_char]:
        return _buffer(
            _PROG_LOAD.pack(
                BPF_PROG_TYPE_CGROUP_DEVICE,
                len(program) // 8,
                ctypes.addressof(insns),
                ctypes.addressof(license),
                log_level,
                len(log) if log is not None else 0,
                ctypes.addressof(log) if log is not None else 0,
                0,
                0,
                PROGRAM_NAME,
            )
        )

    try:
        return _load(attr())
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES) and _no_privilege():
            raise BpfRefused(exc.strerror) from None
        first = exc
    log = ctypes.create_string_buffer(LOG_SIZE)
    try:
        return _load(attr(1, log))
    except OSError as exc:
        lines = log.value.decode(errors="replace").splitlines()
        reasons = " | ".join(" ".join(line.split()) for line in lines if line.strip())
        raise ContainerError(
            f"the kernel refused the device program ({exc.strerror or first.strerror}); "
            f"verifier: {reasons or '(no log)'}"
        ) from None


def _load(attr: ctypes.Array[ctypes.c_char]) -> int:
    """BPF_PROG_LOAD; before Linux 5.11 programs were charged to RLIMIT_MEMLOCK, which makes a load
    fail with EPERM: then once more with the limit raised for the moment (crun does the same)."""
    try:
        return syscalls.bpf(BPF_CMD["BPF_PROG_LOAD"], attr, "bpf BPF_PROG_LOAD")
    except OSError as exc:
        if exc.errno != errno.EPERM:
            raise
    old = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if old[0] == resource.RLIM_INFINITY:
        raise OSError(errno.EPERM, f"bpf BPF_PROG_LOAD: {os.strerror(errno.EPERM)}")
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (old[1], old[1]))
    except (OSError, ValueError):
        raise OSError(errno.EPERM, f"bpf BPF_PROG_LOAD: {os.strerror(errno.EPERM)}") from None
    try:
        return syscalls.bpf(BPF_CMD["BPF_PROG_LOAD"], attr, "bpf BPF_PROG_LOAD")
    finally:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, old)  # the container must not inherit it


def _no_privilege() -> bool:
    """Whether this process lacks CAP_SYS_ADMIN (21) and CAP_BPF (39) in its effective set: an
    EPERM then means "not allowed", not "the verifier refused"."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("CapEff:"):
                effective = int(line.split()[1], 16)
                return not effective & (1 << 21 | 1 << 39)
    return True


def query_device_programs(cgroup_fd: int) -> list[int]:
    """BPF_PROG_QUERY: the ids of the device programs attached to this cgroup itself."""
    count = 64
    while True:
        ids = (ctypes.c_uint32 * count)()
        attr = _buffer(_PROG_QUERY.pack(cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), count))
        try:
            syscalls.bpf(BPF_CMD["BPF_PROG_QUERY"], attr, "bpf BPF_PROG_QUERY")
        except OSError as exc:
            if exc.errno == errno.ENOSPC and count < 4096:
                count *= 2
                continue
            raise
        found = _PROG_QUERY.unpack(attr.raw)[5]
        return list(ids[:found])


def attach(cgroup_fd: int, program_fd: int) -> None:
    attr = _buffer(_PROG_ATTACH.pack(cgroup_fd, program_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, 0))
    syscalls.bpf(BPF_CMD["BPF_PROG_ATTACH"], attr, "bpf BPF_PROG_ATTACH")


def detach(cgroup_fd: int, program_id: int) -> None:
    """BPF_PROG_DETACH of one program, named by an fd got from its id; gone already is fine."""
    try:
        program_fd = syscalls.bpf(
            BPF_CMD["BPF_PROG_GET_FD_BY_ID"],
            _buffer(_GET_FD_BY_ID.pack(program_id, 0, 0)),
            "bpf BPF_PROG_GET_FD_BY_ID",
        )
    except FileNotFoundError:
        return
    try:
        attr = _buffer(_PROG_ATTACH.pack(cgroup_fd, program_fd, BPF_CGROUP_DEVICE, 0, 0))
        syscalls.bpf(BPF_CMD["BPF_PROG_DETACH"], attr, "bpf BPF_PROG_DETACH")
    except FileNotFoundError:
        pass
    finally:
        os.close(program_fd)


def set_device_program(cgroup_dir: str, program: bytes) -> None:
    """Make ``program`` the device filter of the cgroup at ``cgroup_dir``: load it, attach it, then
    detach the device programs that were there before (update), as runc does.

    Raises BpfRefused when this process may not use bpf(2), ContainerError when the kernel
    refuses the program or the directory is not a cgroup v2 directory."""
    program_fd = load_device_program(program)
    try:
        cgroup_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except BaseException:
        os.close(program_fd)
        raise
    try:
        old = query_device_programs(cgroup_fd)
        attach(cgroup_fd, program_fd)
        for program_id in old:
            detach(cgroup_fd, program_id)
    except OSError as exc:
        if exc.errno == errno.EPERM and _no_privilege():
            raise BpfRefused(str(exc)) from None
        if exc.errno == errno.EBADF:
            raise ContainerError(f"{cgroup_dir} is not a cgroup v2 directory: {exc}") from None
        raise ContainerError(f"device program on {cgroup_dir}: {exc}") from None
    finally:
        os.close(cgroup_fd)
        os.close(program_fd)

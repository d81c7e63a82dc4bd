"""Reading a stopped tracee's memory (implements ``decoders.base.MemoryReader``).

process_vm_readv copies straight from the tracee in one syscall; when the kernel refuses it (e.g. a
Yama or LSM policy, or a kernel built without it) the reader falls back to pread on /proc/TID/mem.
"""

from __future__ import annotations

import errno
import os

from boxtrace.tracer import lean_ctypes as ctypes  # not ctypes itself: ~4.5 M to import

_PAGE = os.sysconf("SC_PAGE_SIZE")

# PyDLL, as in ptrace_api: a read from a stopped tracee is quick; keeping the GIL spares the tracer
# thread a wait for it behind the delivery thread.
_libc = ctypes.PyDLL("libc.so.6", use_errno=True)


class _IoVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


_readv = _libc.process_vm_readv
_readv.restype = ctypes.c_ssize_t
_readv.argtypes = (
    ctypes.c_int,
    ctypes.POINTER(_IoVec),
    ctypes.c_ulong,
    ctypes.POINTER(_IoVec),
    ctypes.c_ulong,
    ctypes.c_ulong,
)


class VmReader:
    """process_vm_readv with one page-sized buffer and iovec pair, reused for every read.

    One per engine: reads happen only on that engine's tracer thread, and building ctypes objects
    per read cost more than the read itself. It also remembers when the kernel refused the call,
    so that the engine's tasks go straight to /proc/TID/mem from then on.
    """

    __slots__ = ("buf", "buf_addr", "local", "local_ref", "remote", "remote_ref", "usable")

    def __init__(self) -> None:
        self.buf = ctypes.create_string_buffer(_PAGE)
        self.buf_addr = ctypes.addressof(self.buf)
        self.local = _IoVec(self.buf_addr, _PAGE)
        self.remote = _IoVec(0, 0)
        self.local_ref = ctypes.byref(self.local)
        self.remote_ref = ctypes.byref(self.remote)
        self.usable = True

    def read(self, tid: int, addr: int, size: int) -> bytes | None:
        """Up to ``size`` bytes (short at an unmapped page); None on error or once refused."""
        if size > _PAGE:
            big = ctypes.create_string_buffer(size)
            buf_addr = ctypes.addressof(big)
            local_ref = ctypes.byref(_IoVec(buf_addr, size))
        else:
            buf_addr = self.buf_addr
            self.local.iov_len = size
            local_ref = self.local_ref
        self.remote.iov_base = addr
        self.remote.iov_len = size
        got = _readv(tid, local_ref, 1, self.remote_ref, 1, 0)
        if got < 0:
            if ctypes.get_errno() in (errno.ENOSYS, errno.EPERM):
                self.usable = False
            return None
        return ctypes.string_at(buf_addr, got)


class TaskMemory:
    """Memory of one task. Cheap to create: nothing is opened until the first read."""

    __slots__ = ("_mem_fd", "tid", "vm")

    def __init__(self, tid: int, vm: VmReader) -> None:
        self.tid = tid
        self.vm = vm
        self._mem_fd: int | None = None

    def close(self) -> None:
        if self._mem_fd is not None:
            try:
                os.close(self._mem_fd)
            finally:
                self._mem_fd = None

    def _read_proc(self, addr: int, size: int) -> bytes | None:
        try:
            if self._mem_fd is None:
                self._mem_fd = os.open(f"/proc/{self.tid}/mem", os.O_RDONLY | os.O_CLOEXEC)
            return os.pread(self._mem_fd, size, addr)
        except (OSError, OverflowError):
            return None

    def _read_some(self, addr: int, size: int) -> bytes | None:
        """Up to ``size`` bytes; may stop short at an unmapped page."""
        vm = self.vm
        if vm.usable:
            data = vm.read(self.tid, addr, size)
            if data is not None or vm.usable:
                return data
        return self._read_proc(addr, size)

    def read_bytes(self, addr: int, size: int) -> bytes | None:
        if addr == 0 or size < 0:
            return None
        if size == 0:
            return b""
        data = self._read_some(addr, size)
        if data is None or len(data) != size:
            return None
        return data

    def read_cstring(self, addr: int, limit: int = 4096) -> str | None:
        raw = self.read_cbytes(addr, limit)
        return None if raw is None else raw.decode("utf-8", "surrogateescape")

    def read_cbytes(self, addr: int, limit: int = 4096) -> bytes | None:
        """A NUL-terminated byte string of at most ``limit`` bytes (cut there if longer)."""
        if addr == 0:
            return None
        parts: list[bytes] = []
        total = 0
        while total < limit:
            # Never cross a page boundary in one read: the next page may be unmapped while the
            # string ends on this one.
            chunk = min(_PAGE - (addr % _PAGE), limit - total)
            data = self._read_some(addr, chunk)
            if not data:
                if not parts:
                    return None
                break
            nul = data.find(b"\0")
            if nul >= 0:
                parts.append(data[:nul])
                break
            parts.append(data)
            total += len(data)
            addr += len(data)
        return b"".join(parts)

    def read_words(self, addr: int, count: int) -> list[int] | None:
        """``count`` native unsigned longs (e.g. an argv pointer array)."""
        data = self.read_bytes(addr, 8 * count)
        if data is None:
            return None
        return [int.from_bytes(data[i : i + 8], "little") for i in range(0, len(data), 8)]

    def read_string_array(self, addr: int, max_items: int = 256, limit: int = 4096) -> list[str] | None:
        """A NULL-terminated array of string pointers, like execve's argv."""
        if addr == 0:
            return None
        out: list[str] = []
        while len(out) < max_items:
            words = self.read_words(addr, 8)
            if words is None:
                words = self.read_words(addr, 1)
                if words is None:
                    return out or None
            for ptr in words:
                if ptr == 0:
                    return out
                s = self.read_cstring(ptr, limit)
                out.append("" if s is None else s)
                if len(out) >= max_items:
                    break
            addr += 8 * len(words)
        return out

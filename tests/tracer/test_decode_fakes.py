"""Fakes for decoder tests: tracee memory as a few mapped regions, a process's fd table and cwd.

Imported by the other test_decode_* modules; the tests at the bottom keep the fakes honest.
"""

from __future__ import annotations

import struct

from boxtrace.tracer.arch import get_arch
from boxtrace.tracer.decoders.base import CallContext


class FakeMemory:
    """Tracee memory: regions placed one page apart so that a read past a region's end fails."""

    def __init__(self) -> None:
        self.regions: dict[int, bytes] = {}
        self._next = 0x10000

    def put(self, data: bytes, addr: int | None = None) -> int:
        if addr is None:
            addr = self._next
            self._next += (len(data) // 0x1000 + 2) * 0x1000
        self.regions[addr] = data
        return addr

    def str(self, text: str) -> int:
        return self.put(text.encode("utf-8", "surrogateescape") + b"\0")

    def u64s(self, *values: int) -> int:
        return self.put(struct.pack(f"<{len(values)}Q", *values))

    def u32s(self, *values: int) -> int:
        return self.put(struct.pack(f"<{len(values)}I", *[v & 0xFFFFFFFF for v in values]))

    def strings(self, *texts: str) -> int:
        """A NULL-terminated array of pointers to strings (argv)."""
        return self.u64s(*[self.str(t) for t in texts], 0)

    def read_bytes(self, addr: int, size: int) -> bytes | None:
        for base, data in self.regions.items():
            if base <= addr and addr + size <= base + len(data):
                return data[addr - base : addr - base + size]
        return None

    def read_cstring(self, addr: int, limit: int = 4096) -> str | None:
        if addr == 0:
            return None
        for base, data in self.regions.items():
            if base <= addr < base + len(data):
                raw = data[addr - base :]
                end = raw.find(b"\0")
                raw = raw[: min(limit, end if end >= 0 else len(raw))]
                return raw.decode("utf-8", "surrogateescape")
        return None


class FakeProc:
    def __init__(self, fds: dict[int, str] | None = None, cwd: str | None = "/") -> None:
        self.fds = fds or {}
        self._cwd = cwd
        self.lookups: list[int] = []

    def fd_path(self, fd: int) -> str | None:
        self.lookups.append(fd)
        return self.fds.get(fd)

    def cwd(self) -> str | None:
        return self._cwd


UNMAPPED = 0xDEAD0000  # an address no fake region covers


def make_ctx(
    name: str,
    *args: int,
    mem: FakeMemory | None = None,
    proc: FakeProc | None = None,
    report_all: bool = False,
    pid: int = 100,
    arch: str = "x86_64",
) -> CallContext:
    r = [a & 0xFFFFFFFFFFFFFFFF for a in (*args, 0, 0, 0, 0, 0, 0)[:6]]
    return CallContext(
        pid=pid,
        tid=pid,
        nr=get_arch(arch).syscall_numbers[name],
        name=name,
        args=(r[0], r[1], r[2], r[3], r[4], r[5]),
        mem=mem if mem is not None else FakeMemory(),
        proc=proc if proc is not None else FakeProc(),
        report_all=report_all,
        arch=arch,
    )


def test_fake_memory_reads_inside_regions_only() -> None:
    mem = FakeMemory()
    addr = mem.put(b"abcdef")
    assert mem.read_bytes(addr + 1, 3) == b"bcd"
    assert mem.read_bytes(addr + 4, 4) is None
    assert mem.read_bytes(UNMAPPED, 1) is None


def test_fake_memory_strings() -> None:
    mem = FakeMemory()
    addr = mem.str("hello")
    assert mem.read_cstring(addr) == "hello"
    assert mem.read_cstring(addr, limit=3) == "hel"
    assert mem.read_cstring(0) is None
    argv = mem.strings("a", "b")
    data = mem.read_bytes(argv, 24)
    assert data is not None and struct.unpack("<3Q", data)[2] == 0

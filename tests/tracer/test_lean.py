"""tracer/lean.py and tracer/lean_ctypes.py: what the trace path uses instead of threading,
contextlib and ctypes behaves as they do (docs/benchmarks.md, "Start-up")."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest

from boxtrace.tracer import lean_ctypes
from boxtrace.tracer.lean import Event, Timer, Worker, other_threads, suppress


def test_event_set_clear_and_wait() -> None:
    event = Event()
    assert not event.is_set()
    assert event.wait(0.01) is False  # times out while clear
    event.set()
    event.set()  # twice: still set, no error
    assert event.is_set() and event.wait(0) and event.wait()
    event.clear()
    event.clear()
    assert not event.is_set() and event.wait(0) is False


def test_event_wakes_a_waiting_thread_and_a_worker_is_joined() -> None:
    started, go, seen = Event(), Event(), []

    def waiter() -> None:
        started.set()
        seen.append(go.wait(30))

    worker = Worker(waiter, name="test")
    assert started.wait(30)
    assert worker.is_alive() and other_threads() >= 1
    go.set()
    worker.join(30)
    assert not worker.is_alive() and seen == [True]


def test_timer_runs_once_unless_cancelled() -> None:
    ran = Event()
    Timer(0.01, ran.set)
    assert ran.wait(30)
    never = Event()
    timer = Timer(5, never.set)  # cancelled at once; were it not, it would fire within the join
    timer.cancel()
    timer.join(30)  # its thread has ended: had it called the function, the event would be set
    assert not never.is_set()


def test_suppress_ignores_only_what_it_names() -> None:
    with suppress(ProcessLookupError, PermissionError):
        raise ProcessLookupError
    with pytest.raises(ValueError), suppress(OSError):
        raise ValueError


def test_lean_ctypes_types_have_ctypes_sizes() -> None:
    for name in ("c_int", "c_long", "c_ulong", "c_ushort", "c_void_p", "c_char_p", "c_char", "c_uint64"):
        assert lean_ctypes.sizeof(getattr(lean_ctypes, name)) == ctypes.sizeof(getattr(ctypes, name)), name
    assert lean_ctypes.sizeof(lean_ctypes.c_size_t) == ctypes.sizeof(ctypes.c_size_t)
    assert lean_ctypes.sizeof(lean_ctypes.c_ssize_t) == ctypes.sizeof(ctypes.c_ssize_t)
    assert lean_ctypes.c_ssize_t(-1).value == -1 and lean_ctypes.c_size_t(-1).value == (1 << 64) - 1


def test_lean_ctypes_buffers_structures_and_string_at() -> None:
    buf = lean_ctypes.create_string_buffer(8)
    assert buf.raw == b"\0" * 8
    held = lean_ctypes.create_string_buffer(b"abc", 3)
    assert held.raw == b"abc"
    assert lean_ctypes.create_string_buffer(b"abc").raw == b"abc\0"
    assert lean_ctypes.string_at(lean_ctypes.addressof(held), 2) == b"ab"

    class Iovec(lean_ctypes.Structure):
        _fields_ = (("base", lean_ctypes.c_void_p), ("len", lean_ctypes.c_size_t))

    iov = Iovec(lean_ctypes.addressof(buf), 8)
    assert lean_ctypes.sizeof(iov) == 16 and iov.len == 8
    pointer = lean_ctypes.POINTER(Iovec)
    assert pointer is lean_ctypes.POINTER(Iovec)  # one pointer type per structure, as ctypes'
    assert lean_ctypes.byref(iov) is not None


def test_lean_ctypes_calls_libc_and_reads_errno() -> None:
    libc = lean_ctypes.PyDLL("libc.so.6", use_errno=True)
    getpid = libc.getpid
    assert getpid() == os.getpid() and libc.getpid is getpid  # looked up once
    close = libc.close
    close.restype = lean_ctypes.c_int
    close.argtypes = (lean_ctypes.c_int,)
    assert close(-1) == -1 and lean_ctypes.get_errno() == errno.EBADF
    with pytest.raises(AttributeError):
        libc.no_such_function_in_libc  # noqa: B018 (the look-up is what is tested)
    fresh = libc["getpid"]  # indexing: a function object of its own, as ctypes' CDLL gives
    assert fresh is not libc["getpid"] and fresh is not getpid and fresh() == os.getpid()
    assert fresh.__name__ == "getpid"


def test_a_ctypes_c_part_without_what_it_needs_falls_back_to_ctypes() -> None:
    """On a CPython whose _ctypes lacks a name the lean module builds on, the tracer still runs."""
    import subprocess
    import sys

    code = (
        "import _ctypes\n"
        "import ctypes\n"  # ctypes itself needs the name: imported before it goes
        "del _ctypes._string_at_addr\n"
        "from boxtrace.tracer import lean_ctypes\n"
        "assert lean_ctypes.c_int is ctypes.c_int and lean_ctypes.string_at is ctypes.string_at\n"
        "libc = lean_ctypes.PyDLL(None, use_errno=True)\n"
        "assert libc.getpid() > 0\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

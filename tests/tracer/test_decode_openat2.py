"""openat2: struct open_how decoded like strace, the same categories as openat, read-only opens
dropped by the decoder (the filter cannot see the flags)."""

from __future__ import annotations

import struct

import pytest

from boxtrace.tracer.decoders import RESULT_KIND, decode_entry, decode_exit
from boxtrace.tracer.tables import fcntl as F
from boxtrace.tracer.tables import openat2 as O
from tests.tracer.test_decode_fakes import UNMAPPED, FakeMemory, FakeProc, make_ctx

CG = "/sys/fs/cgroup"
RUNC_RESOLVE = O.RESOLVE_BENEATH | O.RESOLVE_NO_MAGICLINKS


def how(mem: FakeMemory, flags: int, mode: int = 0, resolve: int = 0, tail: bytes = b"") -> int:
    return mem.put(struct.pack("<3Q", flags, mode, resolve) + tail)


def texts(d: object) -> list[str]:
    return [a.text for a in d.args]  # type: ignore[attr-defined]


def test_a_cgroup_file_opened_for_writing() -> None:
    mem = FakeMemory()
    flags = F.O_WRONLY | F.O_CLOEXEC
    ctx = make_ctx(
        "openat2", F.AT_FDCWD, mem.str(f"{CG}/x/pids.max"), how(mem, flags, 0, RUNC_RESOLVE), 24, mem=mem
    )
    d = decode_entry(ctx)
    assert d is not None and d.category == "cgroup"
    assert texts(d) == [
        "AT_FDCWD",
        f'"{CG}/x/pids.max"',
        "{flags=O_WRONLY|O_CLOEXEC, resolve=RESOLVE_NO_MAGICLINKS|RESOLVE_BENEATH}",
        "24",
    ]
    assert [a.name for a in d.args] == ["dirfd", "pathname", "how", "size"]
    how_arg = d.args[2]
    assert how_arg.flags == ["O_WRONLY", "O_CLOEXEC", "RESOLVE_NO_MAGICLINKS", "RESOLVE_BENEATH"]
    assert how_arg.fields == {
        "flags": "O_WRONLY|O_CLOEXEC",
        "resolve": "RESOLVE_NO_MAGICLINKS|RESOLVE_BENEATH",
    }
    assert d.detail["cgroup_file"] == "pids.max" and d.detail["controller"] == "pids"
    assert d.detail["flags"] == ["O_WRONLY", "O_CLOEXEC"]
    assert d.detail["resolve"] == ["RESOLVE_NO_MAGICLINKS", "RESOLVE_BENEATH"]
    assert RESULT_KIND["openat2"] == "fd"
    assert decode_exit(d, ctx, 3).detail == {"fd": 3}  # the engine starts watching stdio on this
    done = decode_exit(d, ctx, -18)
    assert (done.result_text, done.errno) == ("-1 EXDEV (Invalid cross-device link)", "EXDEV")


def test_runc_style_open_relative_to_a_cgroupfs_fd() -> None:
    mem = FakeMemory()
    proc = FakeProc({3: CG})
    path = mem.str("cpuset/box/cgroup.procs")
    d = decode_entry(
        make_ctx(
            "openat2", 3, path, how(mem, F.O_WRONLY | F.O_CLOEXEC, 0, RUNC_RESOLVE), 24, mem=mem, proc=proc
        )
    )
    assert d is not None and d.category == "cgroup"
    assert d.args[0].text == f"3<{CG}>"
    assert d.detail["resolved"] == {"pathname": f"{CG}/cpuset/box/cgroup.procs"}
    assert d.detail["version"] == 1 and d.detail["cgroup_file"] == "cgroup.procs"
    # runc's first openat2: the cgroupfs root itself, O_PATH, read-only: not reported
    root = mem.str(CG)
    o_path = F.O_RDONLY | F.O_CLOEXEC | F.O_PATH | F.O_DIRECTORY
    assert decode_entry(make_ctx("openat2", -1, root, how(mem, o_path), 24, mem=mem)) is None
    d = decode_entry(make_ctx("openat2", -1, root, how(mem, o_path), 24, mem=mem, report_all=True))
    assert d is not None and d.category == "file"
    assert texts(d) == ["-1", f'"{CG}"', "{flags=O_RDONLY|O_CLOEXEC|O_PATH|O_DIRECTORY, resolve=0}", "24"]


def test_read_only_opens_are_not_reported_even_on_cgroupfs() -> None:
    mem = FakeMemory()
    path = mem.str(f"{CG}/x/pids.max")
    assert decode_entry(make_ctx("openat2", F.AT_FDCWD, path, how(mem, F.O_RDONLY), 24, mem=mem)) is None
    d = decode_entry(
        make_ctx("openat2", F.AT_FDCWD, path, how(mem, F.O_RDONLY), 24, mem=mem, report_all=True)
    )
    assert d is not None and d.category == "file"  # a read is never cgroup work
    other = mem.str("/etc/hostname")
    assert decode_entry(make_ctx("openat2", F.AT_FDCWD, other, how(mem, F.O_WRONLY), 24, mem=mem)) is None


def test_id_map_and_device_categories() -> None:
    mem = FakeMemory()
    d = decode_entry(
        make_ctx(
            "openat2", F.AT_FDCWD, mem.str("/proc/self/uid_map"), how(mem, F.O_RDWR), 24, mem=mem, pid=321
        )
    )
    assert d is not None and d.category == "idmap" and d.detail["target_pid"] == 321
    assert d.detail["file"] == "uid_map"
    flags = F.O_WRONLY | F.O_CREAT | F.O_EXCL
    d = decode_entry(
        make_ctx("openat2", F.AT_FDCWD, mem.str("/r/dev/null"), how(mem, flags, 0o644), 24, mem=mem)
    )
    assert d is not None and d.category == "device"
    assert d.args[2].text == "{flags=O_WRONLY|O_CREAT|O_EXCL, mode=0644, resolve=0}"


@pytest.mark.parametrize(
    ("flags", "mode", "resolve", "text"),
    [
        # mode shown with O_CREAT or __O_TMPFILE, or whenever non-zero (the kernel then says EINVAL)
        (F.O_WRONLY | F.O_CREAT, 0, 0, "{flags=O_WRONLY|O_CREAT, mode=000, resolve=0}"),
        (F.O_WRONLY, 0o600, 0, "{flags=O_WRONLY, mode=0600, resolve=0}"),
        (F.O_RDWR | F.O_TMPFILE, 0o600, 0, "{flags=O_RDWR|O_TMPFILE, mode=0600, resolve=0}"),
        (F.O_WRONLY | (1 << 22), 0, 0, "{flags=O_WRONLY|__O_TMPFILE, mode=000, resolve=0}"),
        # every resolve flag, unknown bits alone (strace's RESOLVE_??? comment) and mixed
        (F.O_WRONLY, 0, 0x3F, "{flags=O_WRONLY, resolve=RESOLVE_NO_XDEV|RESOLVE_NO_MAGICLINKS|"
         "RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH|RESOLVE_IN_ROOT|RESOLVE_CACHED}"),
        (F.O_WRONLY, 0, 0x40, "{flags=O_WRONLY, resolve=0x40 /* RESOLVE_??? */}"),
        (F.O_WRONLY, 0, O.RESOLVE_IN_ROOT | 0x80, "{flags=O_WRONLY, resolve=RESOLVE_IN_ROOT|0x80}"),
        # openat2's own flag in the upper half, then unknown bits
        (F.O_WRONLY | O.OPENAT2_REGULAR | (1 << 40), 0, 0,
         "{flags=O_WRONLY|OPENAT2_REGULAR|0x10000000000, resolve=0}"),
        (F.O_ACCMODE | F.O_CLOEXEC, 0, 0, "{flags=O_ACCMODE|O_CLOEXEC, resolve=0}"),
    ],
)  # fmt: skip
def test_open_how_texts(flags: int, mode: int, resolve: int, text: str) -> None:
    mem = FakeMemory()
    d = decode_entry(
        make_ctx(
            "openat2",
            F.AT_FDCWD,
            mem.str("/tmp/f"),
            how(mem, flags, mode, resolve),
            24,
            mem=mem,
            report_all=True,
        )
    )
    assert d is not None and d.args[2].text == text


def test_unreadable_or_short_open_how_is_shown_as_its_address() -> None:
    mem = FakeMemory()
    path = mem.str(f"{CG}/x/pids.max")
    # the kernel cannot read it either (EFAULT), or refuses a size below 24 (EINVAL): nothing opens
    for addr, size in ((UNMAPPED, 24), (0, 24), (how(mem, F.O_WRONLY), 16)):
        assert decode_entry(make_ctx("openat2", F.AT_FDCWD, path, addr, size, mem=mem)) is None
        d = decode_entry(make_ctx("openat2", F.AT_FDCWD, path, addr, size, mem=mem, report_all=True))
        assert d is not None and d.category == "file"
        assert d.args[2].text == (hex(addr) if addr else "NULL") and d.args[2].fields is None
        assert d.args[3].text == str(size) and "flags" not in d.detail


def test_a_larger_open_how_shows_its_non_zero_tail_like_strace() -> None:
    mem = FakeMemory()
    path = mem.str("/tmp/f")
    zeros = how(mem, F.O_WRONLY, tail=bytes(16))
    d = decode_entry(make_ctx("openat2", F.AT_FDCWD, path, zeros, 40, mem=mem, report_all=True))
    assert d is not None and d.args[2].text == "{flags=O_WRONLY, resolve=0}"
    tail = bytes(8) + b"\x01" + bytes(40)
    d = decode_entry(
        make_ctx(
            "openat2",
            F.AT_FDCWD,
            path,
            how(mem, F.O_RDWR | F.O_CREAT, 0o644, 0x40, tail),
            73,
            mem=mem,
            report_all=True,
        )
    )
    assert d is not None
    shown = "\\x00" * 8 + "\\x01" + "\\x00" * 23
    assert d.args[2].text == (
        "{flags=O_RDWR|O_CREAT, mode=0644, resolve=0x40 /* RESOLVE_??? */, "
        f'/* bytes 24..72 */ "{shown}"...}}'
    )
    short_tail = how(mem, F.O_WRONLY, tail=b"\xff")
    d = decode_entry(make_ctx("openat2", F.AT_FDCWD, path, short_tail, 25, mem=mem, report_all=True))
    assert d is not None and d.args[2].text == '{flags=O_WRONLY, resolve=0, /* bytes 24..24 */ "\\xff"}'
    # the struct is readable, the tail the caller claims is not
    d = decode_entry(make_ctx("openat2", F.AT_FDCWD, path, zeros, 4096, mem=mem, report_all=True))
    assert d is not None and d.args[2].text == "{flags=O_WRONLY, resolve=0, ???}"


def test_unreadable_path_keeps_the_struct() -> None:
    mem = FakeMemory()
    d = decode_entry(make_ctx("openat2", F.AT_FDCWD, UNMAPPED, how(mem, F.O_WRONLY), 24, mem=mem))
    assert d is None  # no path, no category
    d = decode_entry(
        make_ctx("openat2", F.AT_FDCWD, UNMAPPED, how(mem, F.O_WRONLY), 24, mem=mem, report_all=True)
    )
    assert d is not None and texts(d)[1:3] == [hex(UNMAPPED), "{flags=O_WRONLY, resolve=0}"]
    assert d.detail["path"] is None


def test_openat_mode_follows_strace_too() -> None:
    """openat shows the mode on the same test as openat2 (``O_CREAT | __O_TMPFILE``)."""
    mem = FakeMemory()
    d = decode_entry(
        make_ctx("openat", F.AT_FDCWD, mem.str("/tmp"), F.O_RDWR | (1 << 22), 0o600, mem=mem, report_all=True)
    )
    assert d is not None and texts(d)[2:] == ["O_RDWR|__O_TMPFILE", "0600"]
    d = decode_entry(
        make_ctx("openat", F.AT_FDCWD, mem.str("/tmp"), F.O_RDWR, 0o600, mem=mem, report_all=True)
    )
    assert d is not None and texts(d)[2:] == ["O_RDWR"]

"""writev, pwrite64, pwritev, pwritev2: the same cgroup and id-map work as write, shown like strace."""

from __future__ import annotations

import pytest

from boxtrace.tracer.decoders import CATEGORIES_OF, decode_entry, decode_exit
from boxtrace.tracer.decoders.base import CallContext
from boxtrace.tracer.tables import rw
from tests.tracer.test_decode_fakes import UNMAPPED, FakeMemory, FakeProc, make_ctx

CG = "/sys/fs/cgroup"
PIDS_MAX = f"{CG}/box/pids.max"
VECTORED = ("writev", "pwritev", "pwritev2")


def iovec(mem: FakeMemory, *parts: bytes | tuple[int, int]) -> int:
    """An iovec array; a part is bytes (put in memory) or a raw ``(iov_base, iov_len)``."""
    values: list[int] = []
    for part in parts:
        if isinstance(part, bytes):
            values += [mem.put(part) if part else mem.put(b"\0"), len(part)]
        else:
            values += list(part)
    return mem.u64s(*values)


def texts(d: object) -> list[str]:
    return [a.text for a in d.args]  # type: ignore[attr-defined]


def watched(ctx: CallContext) -> CallContext:
    ctx.watch_stdio = True
    return ctx


# --- writev -------------------------------------------------------------------------------------


def test_writev_to_a_cgroup_file() -> None:
    mem = FakeMemory()
    ctx = make_ctx("writev", 5, iovec(mem, b"6", b"4\n"), 2, mem=mem, proc=FakeProc({5: PIDS_MAX}))
    d = decode_entry(ctx)
    assert d is not None and d.category == "cgroup"
    assert texts(d) == [
        f"5<{PIDS_MAX}>",
        '[{iov_base="6", iov_len=1}, {iov_base="4\\n", iov_len=2}]',
        "2",
    ]
    assert [a.name for a in d.args] == ["fd", "iov", "iovcnt"]
    # cgroupfs applies the iovecs as one write: the value is their concatenation, as write's
    assert (
        d.detail["value"] == "64" and d.detail["cgroup_file"] == "pids.max" and d.detail["path"] == PIDS_MAX
    )
    assert decode_exit(d, ctx, 3).result_text == "3"
    assert decode_exit(d, ctx, -22).errno == "EINVAL"


def test_writev_to_an_id_map_takes_the_first_non_empty_iovec() -> None:
    """/proc id maps have a plain write method: the kernel writes each iovec separately and
    refuses every write after the first (offset no longer 0)."""
    mem = FakeMemory()
    iov = iovec(mem, b"", b"0 1000 1\n", b"1 100000 65536\n")
    d = decode_entry(make_ctx("writev", 7, iov, 3, mem=mem, proc=FakeProc({7: "/proc/4242/uid_map"})))
    assert d is not None and d.category == "idmap"
    assert d.detail["value"] == "0 1000 1" and d.detail["mappings"] == [[0, 1000, 1]]
    assert d.detail["file"] == "uid_map" and d.detail["target_pid"] == 4242
    d = decode_entry(
        make_ctx("writev", 7, iovec(mem, b"deny"), 1, mem=mem, proc=FakeProc({7: "/proc/9/setgroups"}))
    )
    assert d is not None and d.detail["value"] == "deny" and "mappings" not in d.detail


def test_writes_to_stdio_and_other_files_are_not_reported() -> None:
    mem = FakeMemory()
    iov = iovec(mem, b"hello\n")
    proc = FakeProc({1: PIDS_MAX, 4: "pipe:[1234]", 5: "/tmp/log"})
    for fd in (1, 4, 5, 9):
        assert decode_entry(make_ctx("writev", fd, iov, 1, mem=mem, proc=proc)) is None
    assert 1 not in proc.lookups  # stdout is skipped before any readlink
    # a task that opened a cgroup file (`echo 5 > pids.max` in a shell) writes it on fd 1
    d = decode_entry(watched(make_ctx("writev", 1, iov, 1, mem=mem, proc=proc)))
    assert d is not None and d.category == "cgroup" and d.args[0].text == f"1<{PIDS_MAX}>"
    d = decode_entry(make_ctx("writev", 4, iov, 1, mem=mem, proc=proc, report_all=True))
    assert d is not None and d.category == "file" and "value" not in d.detail
    assert texts(d) == ["4<pipe:[1234]>", '[{iov_base="hello\\n", iov_len=6}]', "1"]


def test_an_uninteresting_writev_shows_32_bytes_and_32_iovecs() -> None:
    mem = FakeMemory()
    d = decode_entry(make_ctx("writev", 4, iovec(mem, b"x" * 40), 1, mem=mem, report_all=True))
    assert d is not None and d.args[1].text == '[{iov_base="' + "x" * 32 + '"..., iov_len=40}]'
    many = iovec(mem, *[b"a"] * 40)
    d = decode_entry(make_ctx("writev", 4, many, 40, mem=mem, report_all=True))
    assert d is not None
    assert d.args[1].text == "[" + '{iov_base="a", iov_len=1}, ' * 32 + "...]"
    d = decode_entry(make_ctx("writev", 4, many, 32, mem=mem, report_all=True))
    assert d is not None and d.args[1].text == "[" + ", ".join(['{iov_base="a", iov_len=1}'] * 32) + "]"


@pytest.mark.parametrize(
    ("iov", "iovcnt", "text"),
    [
        (0, 0, "NULL"),
        (0, 2, "NULL"),
        (UNMAPPED, 0, "[]"),
        (UNMAPPED, 2, hex(UNMAPPED)),
        # the array would wrap around the address space (strace: the address)
        (0xFFFFFFFFFFFFF000, 1 << 60, "0xfffffffffffff000"),
    ],
)
def test_iovec_array_edge_cases(iov: int, iovcnt: int, text: str) -> None:
    proc = FakeProc({5: PIDS_MAX})
    d = decode_entry(make_ctx("writev", 5, iov, iovcnt, proc=proc))
    assert d is not None and d.category == "cgroup" and d.args[1].text == text
    assert d.args[2].text == str(iovcnt)
    assert d.detail["value"] == ("" if iovcnt == 0 else None)  # as write(fd, NULL, 0)


def test_an_array_that_ends_at_an_unmapped_page() -> None:
    mem = FakeMemory()
    good = mem.put(b"ok")
    base = mem.u64s(good, 2)  # one iovec; the second would be past the region
    d = decode_entry(make_ctx("writev", 5, base, 3, mem=mem, proc=FakeProc({5: PIDS_MAX})))
    assert d is not None
    assert d.args[1].text == f'[{{iov_base="ok", iov_len=2}}, ... /* {base + 16:#x} */]'
    assert d.detail["value"] is None  # the kernel cannot read the array either: EFAULT


def test_unreadable_and_null_buffers_inside_the_array() -> None:
    mem = FakeMemory()
    iov = iovec(mem, b"ab", (UNMAPPED, 5), (0, 0))
    d = decode_entry(make_ctx("writev", 5, iov, 3, mem=mem, proc=FakeProc({5: PIDS_MAX})))
    assert d is not None
    assert d.args[1].text == (
        f'[{{iov_base="ab", iov_len=2}}, {{iov_base={UNMAPPED:#x}, iov_len=5}}, {{iov_base=NULL, iov_len=0}}]'
    )
    assert d.detail["value"] is None


def test_too_many_iovecs_is_einval_so_no_value() -> None:
    mem = FakeMemory()
    iov = iovec(mem, *[b"1"] * (rw.IOV_MAX + 1))
    d = decode_entry(make_ctx("writev", 5, iov, rw.IOV_MAX + 1, mem=mem, proc=FakeProc({5: PIDS_MAX})))
    assert d is not None and d.args[1].text.endswith(", ...]") and d.detail["value"] is None


def test_a_cgroup_value_spans_iovecs_past_the_shown_ones_and_is_cut_at_a_page() -> None:
    mem = FakeMemory()
    iov = iovec(mem, *[b"1"] * 40)
    d = decode_entry(make_ctx("writev", 5, iov, 40, mem=mem, proc=FakeProc({5: f"{CG}/box/cpuset.cpus"})))
    assert d is not None and d.detail["value"] == "1" * 40  # all 40 iovecs, 32 shown
    iov = iovec(mem, b"y" * 3000, b"z" * 3000)
    d = decode_entry(make_ctx("writev", 5, iov, 2, mem=mem, proc=FakeProc({5: f"{CG}/box/x.y"})))
    assert d is not None and d.detail["value"] == "y" * 3000 + "z" * 1096


# --- pwrite64, pwritev, pwritev2 ------------------------------------------------------------------


def test_pwrite64_to_a_cgroup_file() -> None:
    mem = FakeMemory()
    ctx = make_ctx("pwrite64", 5, mem.put(b"max\n"), 4, 0, mem=mem, proc=FakeProc({5: PIDS_MAX}))
    d = decode_entry(ctx)
    assert d is not None and d.category == "cgroup"
    assert texts(d) == [f"5<{PIDS_MAX}>", '"max\\n"', "4", "0"]
    assert [a.name for a in d.args] == ["fd", "buf", "count", "offset"]
    assert d.detail["value"] == "max" and d.detail["cgroup_file"] == "pids.max"
    assert decode_exit(d, ctx, 4).result_text == "4"


def test_pwrite64_offsets_and_buffers() -> None:
    mem = FakeMemory()
    proc = FakeProc({5: PIDS_MAX, 6: "/proc/77/gid_map"})
    d = decode_entry(make_ctx("pwrite64", 5, mem.put(b"1"), 1, -1, mem=mem, proc=proc))
    assert d is not None and d.args[3].text == "-1" and d.args[3].raw == -1
    d = decode_entry(make_ctx("pwrite64", 5, UNMAPPED, 3, 1 << 40, proc=proc))
    assert d is not None and texts(d)[1:] == [hex(UNMAPPED), "3", str(1 << 40)] and d.detail["value"] is None
    d = decode_entry(make_ctx("pwrite64", 5, 0, 0, 0, proc=proc))
    assert d is not None and d.args[1].text == "NULL" and d.detail["value"] == ""
    d = decode_entry(make_ctx("pwrite64", 6, mem.put(b"0 1000 1\n"), 9, 0, mem=mem, proc=proc))
    assert d is not None and d.category == "idmap" and d.detail["mappings"] == [[0, 1000, 1]]
    assert decode_entry(make_ctx("pwrite64", 2, mem.put(b"x"), 1, 0, mem=mem, proc=proc)) is None


def test_pwritev_and_pwritev2() -> None:
    mem = FakeMemory()
    iov = iovec(mem, b"1", b"2\n")
    proc = FakeProc({5: PIDS_MAX})
    d = decode_entry(make_ctx("pwritev", 5, iov, 2, 100, mem=mem, proc=proc))
    assert d is not None and d.category == "cgroup" and d.detail["value"] == "12"
    assert texts(d)[1:] == ['[{iov_base="1", iov_len=1}, {iov_base="2\\n", iov_len=2}]', "2", "100"]
    assert [a.name for a in d.args] == ["fd", "iov", "iovcnt", "offset"]
    d = decode_entry(make_ctx("pwritev2", 5, iov, 2, 0, 0, rw.RWF_DSYNC | rw.RWF_APPEND, mem=mem, proc=proc))
    assert d is not None and texts(d)[3:] == ["0", "RWF_DSYNC|RWF_APPEND"]
    assert d.args[4].flags == ["RWF_DSYNC", "RWF_APPEND"] and d.detail["value"] == "12"
    d = decode_entry(make_ctx("pwritev2", 5, iov, 2, -1, 0, 0x200, mem=mem, proc=proc))
    assert d is not None and texts(d)[3:] == ["-1", "0x200 /* RWF_??? */"]
    d = decode_entry(make_ctx("pwritev2", 5, iov, 2, 0, 0, 0, mem=mem, proc=proc))
    assert d is not None and d.args[4].text == "0" and d.args[4].flags == []


@pytest.mark.parametrize("name", ["write", "pwrite64", *VECTORED])
def test_every_write_call_files_as_write_does(name: str) -> None:
    assert CATEGORIES_OF[name] == frozenset({"cgroup", "idmap", "device", "file"})
    mem = FakeMemory()
    buf = iovec(mem, b"7\n") if name in VECTORED else mem.put(b"7\n")
    count = 1 if name in VECTORED else 2
    d = decode_entry(make_ctx(name, 5, buf, count, 0, 0, 0, mem=mem, proc=FakeProc({5: PIDS_MAX})))
    assert d is not None and d.category == "cgroup"
    assert {k: d.detail[k] for k in ("path", "cgroup", "cgroup_file", "value")} == {
        "path": PIDS_MAX,
        "cgroup": "/box",
        "cgroup_file": "pids.max",
        "value": "7",
    }

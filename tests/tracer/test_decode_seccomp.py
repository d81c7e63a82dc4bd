"""seccomp(2)."""

from __future__ import annotations

import struct

from boxtrace.tracer.decoders import decode_entry, decode_exit
from boxtrace.tracer.tables import seccomp as S
from tests.tracer.test_decode_fakes import UNMAPPED, FakeMemory, make_ctx


def _fprog(mem: FakeMemory, length: int, filt: int) -> int:
    return mem.put(struct.pack("<H6xQ", length, filt))


def test_set_mode_filter() -> None:
    mem = FakeMemory()
    flags = S.SECCOMP_FILTER_FLAG_TSYNC | S.SECCOMP_FILTER_FLAG_NEW_LISTENER | 0x100
    ctx = make_ctx("seccomp", S.SECCOMP_SET_MODE_FILTER, flags, _fprog(mem, 42, 0x7F00), mem=mem)
    d = decode_entry(ctx)
    assert d is not None and d.category == "security"
    assert [a.text for a in d.args] == [
        "SECCOMP_SET_MODE_FILTER",
        "SECCOMP_FILTER_FLAG_TSYNC|SECCOMP_FILTER_FLAG_NEW_LISTENER|0x100",
        "{len=42, filter=0x7f00}",
    ]
    assert d.detail["filter_len"] == 42 and d.detail["mode"] == "filter"
    assert decode_exit(d, ctx, 5).result_text == "5"
    assert decode_exit(d, ctx, -14).result_text == "-1 EFAULT (Bad address)"


def test_strict_action_avail_and_unknown() -> None:
    mem = FakeMemory()
    d = decode_entry(make_ctx("seccomp", S.SECCOMP_SET_MODE_STRICT, 0, 0))
    assert d is not None and [a.text for a in d.args] == ["SECCOMP_SET_MODE_STRICT", "0", "NULL"]
    d = decode_entry(make_ctx("seccomp", S.SECCOMP_GET_ACTION_AVAIL, 0, mem.u32s(S.SECCOMP_RET_LOG), mem=mem))
    assert d is not None and d.args[2].text == "[SECCOMP_RET_LOG]" and d.detail["action"] == "SECCOMP_RET_LOG"
    d = decode_entry(make_ctx("seccomp", S.SECCOMP_GET_ACTION_AVAIL, 0, UNMAPPED))
    assert d is not None and d.args[2].text == hex(UNMAPPED)
    ctx = make_ctx("seccomp", 9, 0, 0)
    d = decode_entry(ctx)
    assert d is not None and d.args[0].text == "0x9 /* SECCOMP_??? */"
    assert decode_exit(d, ctx, -22).errno == "EINVAL"


def test_unreadable_filter() -> None:
    d = decode_entry(make_ctx("seccomp", S.SECCOMP_SET_MODE_FILTER, 0, UNMAPPED))
    assert d is not None and d.args[2].text == hex(UNMAPPED) and d.detail["filter_len"] is None
    d = decode_entry(make_ctx("seccomp", S.SECCOMP_SET_MODE_FILTER, 0, 0))
    assert d is not None and d.args[2].text == "NULL"

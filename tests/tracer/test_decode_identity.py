"""sethostname, setdomainname, set*id, setgroups."""

from __future__ import annotations

import pytest

from boxtrace.tracer.decoders import decode_entry, decode_exit
from tests.tracer.test_decode_fakes import UNMAPPED, FakeMemory, make_ctx


@pytest.mark.parametrize(("call", "key"), [("sethostname", "hostname"), ("setdomainname", "domainname")])
def test_uts_names(call: str, key: str) -> None:
    mem = FakeMemory()
    addr = mem.put(b"boxtrace-demoXXXX")
    ctx = make_ctx(call, addr, 13, mem=mem)
    d = decode_entry(ctx)
    assert d is not None and d.category == "identity"
    assert [a.text for a in d.args] == ['"boxtrace-demo"', "13"]
    assert d.detail == {key: "boxtrace-demo"}
    assert decode_exit(d, ctx, 0).result_text == "0"
    assert decode_exit(d, ctx, -1).result_text == "-1 EPERM (Operation not permitted)"


def test_hostname_too_long_null_and_unreadable() -> None:
    mem = FakeMemory()
    addr = mem.put(b"h" * 100)
    d = decode_entry(make_ctx("sethostname", addr, 100, mem=mem))
    assert d is not None and d.args[0].text == '"' + "h" * 64 + '"...'
    assert d.detail["hostname"] == "h" * 64
    d = decode_entry(make_ctx("sethostname", 0, 5, mem=mem))
    assert d is not None and d.args[0].text == "NULL" and d.detail["hostname"] is None
    d = decode_entry(make_ctx("sethostname", UNMAPPED, 5, mem=mem))
    assert d is not None and d.args[0].text == hex(UNMAPPED)
    d = decode_entry(make_ctx("sethostname", addr, 0, mem=mem))
    assert d is not None and d.args[0].text == '""' and d.detail["hostname"] == ""


def test_set_ids() -> None:
    d = decode_entry(make_ctx("setuid", 0))
    assert d is not None and d.category == "identity"
    assert [(a.name, a.text) for a in d.args] == [("uid", "0")]
    d = decode_entry(make_ctx("setgid", 1000))
    assert d is not None and d.detail == {"gid": 1000}
    d = decode_entry(make_ctx("setresuid", -1, 1000, 0xFFFFFFFF))
    assert d is not None
    assert [(a.name, a.text) for a in d.args] == [("ruid", "-1"), ("euid", "1000"), ("suid", "-1")]
    assert d.detail == {"ruid": None, "euid": 1000, "suid": None}
    d = decode_entry(make_ctx("setresgid", 1, 2, 3))
    assert d is not None and [a.name for a in d.args] == ["rgid", "egid", "sgid"]
    d = decode_entry(make_ctx("setreuid", 5, -1))
    assert d is not None and [a.text for a in d.args] == ["5", "-1"]
    ctx = make_ctx("setregid", 7, 8)
    d = decode_entry(ctx)
    assert d is not None and d.detail == {"rgid": 7, "egid": 8}
    assert decode_exit(d, ctx, -1).errno == "EPERM"
    assert decode_exit(d, ctx, -22).errno == "EINVAL"


def test_setgroups() -> None:
    mem = FakeMemory()
    ctx = make_ctx("setgroups", 3, mem.u32s(0, 10, 65534), mem=mem)
    d = decode_entry(ctx)
    assert d is not None and d.category == "identity"
    assert [a.text for a in d.args] == ["3", "[0, 10, 65534]"]
    assert d.detail == {"groups": [0, 10, 65534]}
    assert decode_exit(d, ctx, -1).errno == "EPERM"


def test_setgroups_empty_unreadable_and_huge() -> None:
    d = decode_entry(make_ctx("setgroups", 0, 0))
    assert d is not None and d.args[1].text == "[]" and d.detail == {"groups": []}
    d = decode_entry(make_ctx("setgroups", 2, UNMAPPED))
    assert d is not None and d.args[1].text == hex(UNMAPPED) and d.detail == {"groups": None}
    d = decode_entry(make_ctx("setgroups", -1, UNMAPPED))
    assert d is not None and d.args[0].text == "-1"
    mem = FakeMemory()
    d = decode_entry(make_ctx("setgroups", 2000, mem.u32s(*range(2000)), mem=mem))
    assert d is not None and d.args[1].text.endswith(", ...]") and len(d.detail["groups"]) == 1024

"""capset: header and the three capability sets."""

from __future__ import annotations

from boxtrace.tracer.decoders import decode_entry, decode_exit
from boxtrace.tracer.tables.capability import _LINUX_CAPABILITY_VERSION_1, _LINUX_CAPABILITY_VERSION_3
from tests.tracer.test_decode_fakes import UNMAPPED, FakeMemory, make_ctx

# Docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
# NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
DOCKER = 0x00000000A80425FB


def test_capset_v3() -> None:
    mem = FakeMemory()
    hdr = mem.u32s(_LINUX_CAPABILITY_VERSION_3, 0)
    lo, hi = DOCKER & 0xFFFFFFFF, DOCKER >> 32
    data = mem.u32s(lo, lo, 0, hi | 0x4, hi, 0)  # CAP_SYSLOG (34) only effective
    ctx = make_ctx("capset", hdr, data, mem=mem)
    d = decode_entry(ctx)
    assert d is not None and d.category == "security"
    assert d.args[0].text == "{version=_LINUX_CAPABILITY_VERSION_3, pid=0}"
    assert d.detail["effective_hex"] == "00000004a80425fb"
    assert d.detail["permitted_hex"] == "00000000a80425fb"
    assert d.detail["inheritable"] == [] and d.detail["inheritable_hex"] == "0000000000000000"
    assert d.detail["permitted"][:3] == ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"]
    assert "CAP_SYSLOG" in d.detail["effective"] and "CAP_SYSLOG" not in d.detail["permitted"]
    assert len(d.detail["permitted"]) == 14
    assert d.args[1].fields is not None and d.args[1].fields["inheritable"] == "0"
    assert d.args[1].text.startswith("{effective=CAP_CHOWN|CAP_DAC_OVERRIDE|")
    assert decode_exit(d, ctx, -1).result_text == "-1 EPERM (Operation not permitted)"


def test_capset_v1_has_one_struct() -> None:
    mem = FakeMemory()
    hdr = mem.u32s(_LINUX_CAPABILITY_VERSION_1, 1234)
    data = mem.u32s(1, 1, 1)
    d = decode_entry(make_ctx("capset", hdr, data, mem=mem))
    assert d is not None and d.detail["pid"] == 1234
    assert d.detail["effective"] == ["CAP_CHOWN"]


def test_capset_unknown_version_and_bad_pointers() -> None:
    mem = FakeMemory()
    hdr = mem.u32s(0x12345678, 0)
    ctx = make_ctx("capset", hdr, mem.u32s(0, 0, 0, 0, 0, 0), mem=mem)
    d = decode_entry(ctx)
    assert d is not None
    assert d.args[0].text == "{version=0x12345678 /* _LINUX_CAPABILITY_VERSION_??? */, pid=0}"
    assert d.detail["version"] is None and "effective" not in d.detail
    assert decode_exit(d, ctx, -22).errno == "EINVAL"
    d = decode_entry(make_ctx("capset", 0, 0))
    assert d is not None and [a.text for a in d.args] == ["NULL", "NULL"]
    d = decode_entry(make_ctx("capset", mem.u32s(_LINUX_CAPABILITY_VERSION_3, 0), UNMAPPED, mem=mem))
    assert d is not None and d.args[1].text == hex(UNMAPPED)

"""prctl: the options a runtime uses, the ones it does not, and unknown ones."""

from __future__ import annotations

from boxtrace.tracer.decoders import decode_entry, decode_exit
from boxtrace.tracer.tables import prctl as P
from boxtrace.tracer.tables.securebits import SECBIT_KEEP_CAPS_LOCKED, SECBIT_NOROOT
from tests.tracer.test_decode_fakes import UNMAPPED, FakeMemory, make_ctx


def test_no_new_privs() -> None:
    ctx = make_ctx("prctl", P.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    d = decode_entry(ctx)
    assert d is not None and d.category == "security"
    assert [a.text for a in d.args] == ["PR_SET_NO_NEW_PRIVS", "1"]
    assert d.detail == {"no_new_privs": True, "option": "PR_SET_NO_NEW_PRIVS"}
    assert decode_exit(d, ctx, 0).result_text == "0"
    assert decode_exit(d, ctx, -22).result_text == "-1 EINVAL (Invalid argument)"


def test_capbset_drop_and_read() -> None:
    d = decode_entry(make_ctx("prctl", P.PR_CAPBSET_DROP, 21))
    assert d is not None and [a.text for a in d.args] == ["PR_CAPBSET_DROP", "CAP_SYS_ADMIN"]
    assert d.detail["capability"] == "CAP_SYS_ADMIN"
    d = decode_entry(make_ctx("prctl", P.PR_CAPBSET_DROP, 99))
    assert d is not None and d.args[1].text == "99"
    # PR_CAPBSET_READ is not trapped, but decodes with --all; its result is 0 or 1
    assert decode_entry(make_ctx("prctl", P.PR_CAPBSET_READ, 0)) is None
    ctx = make_ctx("prctl", P.PR_CAPBSET_READ, 0, report_all=True)
    d = decode_entry(ctx)
    assert d is not None and d.args[1].text == "CAP_CHOWN"
    assert decode_exit(d, ctx, 1).result_text == "1"


def test_cap_ambient() -> None:
    d = decode_entry(make_ctx("prctl", P.PR_CAP_AMBIENT, P.PR_CAP_AMBIENT_RAISE, 10, 0, 0))
    assert d is not None
    assert [a.text for a in d.args] == ["PR_CAP_AMBIENT", "PR_CAP_AMBIENT_RAISE", "CAP_NET_BIND_SERVICE"]
    assert d.detail["op"] == "PR_CAP_AMBIENT_RAISE" and d.detail["capability"] == "CAP_NET_BIND_SERVICE"
    d = decode_entry(make_ctx("prctl", P.PR_CAP_AMBIENT, P.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
    assert d is not None and [a.text for a in d.args] == ["PR_CAP_AMBIENT", "PR_CAP_AMBIENT_CLEAR_ALL"]
    d = decode_entry(make_ctx("prctl", P.PR_CAP_AMBIENT, 9, 1))
    assert d is not None and d.args[1].text == "0x9 /* PR_CAP_AMBIENT_??? */"


def test_keepcaps_dumpable_securebits() -> None:
    d = decode_entry(make_ctx("prctl", P.PR_SET_KEEPCAPS, 1))
    assert d is not None and d.detail["keepcaps"] is True
    d = decode_entry(make_ctx("prctl", P.PR_SET_DUMPABLE, 0))
    assert d is not None and d.args[1].text == "SUID_DUMP_DISABLE" and d.category == "security"
    d = decode_entry(make_ctx("prctl", P.PR_SET_DUMPABLE, 7))
    assert d is not None and d.args[1].text == "0x7 /* SUID_DUMP_??? */"
    d = decode_entry(
        make_ctx("prctl", P.PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_KEEP_CAPS_LOCKED | 1 << 20)
    )
    assert d is not None and d.args[1].text == "SECBIT_NOROOT|SECBIT_KEEP_CAPS_LOCKED|0x100000"
    assert d.detail["securebits"] == ["SECBIT_NOROOT", "SECBIT_KEEP_CAPS_LOCKED"]


def test_process_options() -> None:
    mem = FakeMemory()
    d = decode_entry(make_ctx("prctl", P.PR_SET_NAME, mem.str("runc:[1:CHILD]"), mem=mem))
    assert d is not None and d.category == "process"
    assert d.args[1].text == '"runc:[1:CHILD]"' and d.detail["name"] == "runc:[1:CHILD]"
    d = decode_entry(make_ctx("prctl", P.PR_SET_NAME, mem.str("a-much-too-long-thread-name"), mem=mem))
    assert d is not None and d.detail["name"] == "a-much-too-long"  # the kernel keeps 15 bytes
    d = decode_entry(make_ctx("prctl", P.PR_SET_NAME, UNMAPPED))
    assert d is not None and d.args[1].text == hex(UNMAPPED) and d.detail["name"] is None
    d = decode_entry(make_ctx("prctl", P.PR_SET_PDEATHSIG, 9))
    assert d is not None and d.args[1].text == "SIGKILL" and d.category == "process"
    d = decode_entry(make_ctx("prctl", P.PR_SET_PDEATHSIG, 0))
    assert d is not None and d.args[1].text == "0" and d.detail["signal"] is None
    d = decode_entry(make_ctx("prctl", P.PR_SET_CHILD_SUBREAPER, 1))
    assert d is not None and d.detail["subreaper"] is True and d.category == "process"


def test_set_seccomp() -> None:
    mem = FakeMemory()
    prog = mem.put(bytes([12, 0]) + bytes(6) + (0x7000).to_bytes(8, "little"))
    d = decode_entry(make_ctx("prctl", P.PR_SET_SECCOMP, 2, prog, mem=mem))
    assert d is not None and d.category == "security"
    assert [a.text for a in d.args] == ["PR_SET_SECCOMP", "SECCOMP_MODE_FILTER", "{len=12, filter=0x7000}"]
    assert d.detail["filter_len"] == 12
    d = decode_entry(make_ctx("prctl", P.PR_SET_SECCOMP, 2, UNMAPPED))
    assert d is not None and d.args[2].text == hex(UNMAPPED) and d.detail["filter_len"] is None
    d = decode_entry(make_ctx("prctl", P.PR_SET_SECCOMP, 1))
    assert d is not None and [a.text for a in d.args] == ["PR_SET_SECCOMP", "SECCOMP_MODE_STRICT"]


def test_untrapped_and_unknown_options() -> None:
    assert decode_entry(make_ctx("prctl", P.PR_GET_NAME, 0x1000)) is None
    assert decode_entry(make_ctx("prctl", P.PR_SET_VMA, 0, 0x1000, 0x2000, 0)) is None
    ctx = make_ctx("prctl", 0x1234, 1, 2, 3, 4, report_all=True)
    d = decode_entry(ctx)
    assert d is not None
    assert [a.text for a in d.args] == ["0x1234 /* PR_??? */", "0x1", "0x2", "0x3", "0x4"]
    assert d.detail == {"option": None}
    assert decode_exit(d, ctx, -22).errno == "EINVAL"
    d = decode_entry(make_ctx("prctl", P.PR_SET_VMA, 0, 0x1000, report_all=True))
    assert d is not None and d.args[0].text == "PR_SET_VMA"

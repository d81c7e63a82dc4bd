"""The registry: dispatch, every default-set call decodes, robustness, and exit values."""

from __future__ import annotations

import json

import pytest

import boxtrace.tracer.decoders as registry
from boxtrace.tracer.decoders import CATEGORIES_OF, CATEGORY_OF, DECODERS, decode_entry, decode_exit
from boxtrace.tracer.decoders.base import Decoded
from boxtrace.tracer.events import CATEGORIES, Arg, SyscallEvent
from boxtrace.tracer.tables.default_set import DEFAULT_SYSCALLS
from tests.tracer.test_decode_fakes import UNMAPPED, FakeMemory, FakeProc, make_ctx

ALL_DECODED = sorted(DECODERS)


def test_every_default_syscall_has_a_decoder_and_category() -> None:
    assert set(DECODERS) >= DEFAULT_SYSCALLS
    assert set(CATEGORY_OF) == set(DECODERS)
    for name, category in CATEGORY_OF.items():
        assert category in CATEGORIES
        assert category in CATEGORIES_OF[name]


@pytest.mark.parametrize("name", ALL_DECODED)
@pytest.mark.parametrize("value", [0, UNMAPPED, (1 << 64) - 1])
def test_decoders_survive_any_register_values(name: str, value: int) -> None:
    """NULL, unreadable and all-ones arguments: a Decoded or None, never an exception."""
    ctx = make_ctx(name, *[value] * 6, report_all=True, proc=FakeProc(cwd=None))
    d = DECODERS[name](ctx)
    assert d is not None  # with --all everything is reported
    assert d.category in CATEGORIES_OF[name] | {"other"}
    for arg in d.args:
        assert isinstance(arg, Arg) and isinstance(arg.text, str)
    quiet = make_ctx(name, *[value] * 6, proc=FakeProc(cwd=None))
    d = DECODERS[name](quiet)
    assert d is None or d.category in CATEGORIES_OF[name]


@pytest.mark.parametrize("name", ALL_DECODED)
def test_decoded_calls_make_valid_events(name: str) -> None:
    mem = FakeMemory()
    path = mem.str("/sys/fs/cgroup/box/pids.max")
    ctx = make_ctx(
        name, 5, path, 0x41, path, 0, 0, mem=mem, proc=FakeProc({5: "/sys/fs/cgroup/box"}), report_all=True
    )
    d = decode_entry(ctx)
    assert d is not None
    done = decode_exit(d, ctx, 0)
    event = SyscallEvent(
        seq=1, time=0.0, pid=100, tid=100, comm="t", nspid=None, name=name, nr=ctx.nr,
        category_name=d.category, args=d.args, result=0, result_text=done.result_text,
        errno=done.errno, detail={**d.detail, **done.detail},
    )  # fmt: skip
    assert "decode_error" not in event.detail
    json.dumps(event.to_json())  # every detail is plain JSON


def test_the_family_table_names_every_familys_calls() -> None:
    # Families are imported on their first call (FAMILY_OF says which): the table must say what
    # each family module decodes, no more, no less.
    for family, names in registry.FAMILY_CALLS.items():
        assert tuple(registry.family(family).DECODERS) == names, family
    assert set(DECODERS) == registry.DECODED
    for name in DECODERS:
        assert registry.decoder_of(name) is DECODERS[name]
    assert registry.decoder_of("getpid") is None


def test_max_errno_is_the_errno_tables() -> None:
    from boxtrace.tracer.tables.errnos import MAX_ERRNO

    assert registry.MAX_ERRNO == MAX_ERRNO


def test_unknown_syscalls_use_the_generic_decoder_with_all() -> None:
    assert decode_entry(make_ctx("getpid")) is None
    d = decode_entry(make_ctx("read", 3, 0x1000, 64, report_all=True))
    assert d is not None and d.category == "other"
    # python-ptrace's prototype names the arguments; the buffer is an output, shown as a pointer
    assert [(a.name, a.text) for a in d.args] == [("fd", "3"), ("buf", "0x1000"), ("count", "64")]
    assert decode_exit(d, make_ctx("read", 3), 64).result_text == "64"


def test_generic_decoder_reads_strings_and_fd_paths() -> None:
    mem = FakeMemory()
    path = mem.str("/etc/hostname")
    proc = FakeProc(fds={5: "/var/log/app.log"})
    d = decode_entry(make_ctx("access", path, 4, mem=mem, report_all=True))
    assert d is not None and [a.text for a in d.args] == ['"/etc/hostname"', "4"]
    d = decode_entry(make_ctx("fsync", 5, proc=proc, report_all=True))
    assert d is not None and [a.text for a in d.args] == ["5</var/log/app.log>"]
    d = decode_entry(make_ctx("kill", -1, 15, report_all=True))
    assert d is not None and [a.text for a in d.args] == ["-1", "15"]
    d = decode_entry(make_ctx("access", 0xDEAD0000, 0, mem=mem, report_all=True))
    assert d is not None and d.args[0].text == "0xdead0000"


def test_a_crashing_decoder_falls_back_to_raw_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: object) -> Decoded:
        raise ValueError("boom")

    registry.family("mount")  # loaded first: the table a call's decoder is taken from
    monkeypatch.setitem(registry._decoder_of, "mount", broken)
    d = decode_entry(make_ctx("mount", 1, 2, 3, 4, 5))
    assert d is not None and d.category == "mount"
    assert d.detail["decode_error"] == "ValueError: boom"
    assert [a.text for a in d.args] == ["0x1", "0x2", "0x3", "0x4", "0x5"]


def test_exit_values() -> None:
    d = Decoded(category="mount", args=[])
    ctx = make_ctx("mount")
    assert decode_exit(d, ctx, 0).result_text == "0"
    assert decode_exit(d, ctx, (1 << 64) - 1).result_text == "-1 EPERM (Operation not permitted)"
    done = decode_exit(d, ctx, -512)
    assert (
        done.errno == "ERESTARTSYS"
        and done.result_text == "-1 ERESTARTSYS (To be restarted if SA_RESTART is set)"
    )
    done = decode_exit(d, ctx, -4000)
    assert done.errno == "errno 4000" and done.result_text == "-1 4000 (Unknown error 4000)"
    assert decode_exit(d, ctx, -4096).result_text == "-4096"  # outside the errno range: a value
    assert decode_exit(d, make_ctx("clone3"), 77).detail == {"child_pid": 77}
    assert decode_exit(d, make_ctx("openat"), 3).detail == {"fd": 3}
    assert decode_exit(d, make_ctx("openat"), -24).errno == "EMFILE"

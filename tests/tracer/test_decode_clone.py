"""clone, clone3, unshare, setns."""

from __future__ import annotations

from boxtrace.tracer.decoders import decode_entry, decode_exit
from boxtrace.tracer.tables import clone as C
from tests.tracer.test_decode_fakes import UNMAPPED, FakeMemory, FakeProc, make_ctx

THREAD_FLAGS = C.CLONE_VM | C.CLONE_FS | C.CLONE_FILES | C.CLONE_SIGHAND | C.CLONE_THREAD | C.CLONE_SYSVSEM


def test_clone_with_namespaces() -> None:
    flags = C.CLONE_NEWNS | C.CLONE_NEWPID | C.CLONE_NEWUSER | 17
    ctx = make_ctx("clone", flags, 0, 0x7F10, 0x7F20, 0x7F30)
    d = decode_entry(ctx)
    assert d is not None and d.category == "namespace"
    assert [a.name for a in d.args] == ["flags", "stack", "parent_tid", "child_tid", "tls"]
    assert d.args[0].text == "CLONE_NEWNS|CLONE_NEWUSER|CLONE_NEWPID|SIGCHLD"
    assert d.args[0].flags == ["CLONE_NEWNS", "CLONE_NEWUSER", "CLONE_NEWPID"]
    assert d.args[1].text == "NULL" and d.args[3].text == "0x7f20"
    assert d.detail["namespaces"] == ["user", "mnt", "pid"]
    assert d.detail["exit_signal"] == "SIGCHLD"
    done = decode_exit(d, ctx, 4242)
    assert (done.result_text, done.errno, done.detail) == ("4242", None, {"child_pid": 4242})


def test_clone_without_namespaces_is_not_reported() -> None:
    assert decode_entry(make_ctx("clone", THREAD_FLAGS | C.CLONE_SETTLS, 0x1000)) is None
    assert decode_entry(make_ctx("clone", 17)) is None


def test_clone_thread_with_report_all() -> None:
    d = decode_entry(make_ctx("clone", THREAD_FLAGS, report_all=True))
    assert d is not None and d.category == "process"
    assert d.args[0].text == "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM"
    d = decode_entry(make_ctx("clone", 17, report_all=True))
    assert d is not None and d.args[0].text == "SIGCHLD"
    d = decode_entry(make_ctx("clone", 0, report_all=True))
    assert d is not None and d.args[0].text == "0" and d.detail["exit_signal"] is None


def test_clone_error() -> None:
    ctx = make_ctx("clone", C.CLONE_NEWUSER | 17)
    d = decode_entry(ctx)
    assert d is not None
    done = decode_exit(d, ctx, -1)
    assert done.result_text == "-1 EPERM (Operation not permitted)" and done.errno == "EPERM"
    assert done.detail == {}


def _clone_args(
    mem: FakeMemory, flags: int, size: int = 88, cgroup: int = 0, set_tid: list[int] | None = None
) -> int:
    tids = mem.u32s(*set_tid) if set_tid else 0
    values = [flags, 0x5000, 0x6000, 0, 17, 0x7000, 0x2000, 0x8000, tids, len(set_tid or []), cgroup]
    return mem.u64s(*values[: size // 8])


def test_clone3_struct() -> None:
    mem = FakeMemory()
    flags = C.CLONE_NEWUSER | C.CLONE_NEWNET | C.CLONE_PIDFD | C.CLONE_INTO_CGROUP | C.CLONE_NEWTIME
    addr = _clone_args(mem, flags, cgroup=7, set_tid=[1, 42])
    ctx = make_ctx("clone3", addr, 88, mem=mem, proc=FakeProc({7: "/sys/fs/cgroup/box"}))
    d = decode_entry(ctx)
    assert d is not None and d.category == "namespace"
    cl = d.args[0]
    assert cl.name == "cl_args" and cl.fields is not None
    assert cl.fields["flags"] == "CLONE_NEWTIME|CLONE_PIDFD|CLONE_NEWUSER|CLONE_NEWNET|CLONE_INTO_CGROUP"
    assert cl.fields["exit_signal"] == "SIGCHLD"
    assert cl.fields["pidfd"] == "0x5000" and cl.fields["parent_tid"] == "NULL"
    assert cl.fields["stack"] == "0x7000" and cl.fields["stack_size"] == 0x2000
    assert cl.fields["set_tid"] == [1, 42] and cl.fields["set_tid_size"] == 2
    assert cl.fields["cgroup"] == "7</sys/fs/cgroup/box>"
    assert cl.text.startswith("{flags=CLONE_NEWTIME|") and "set_tid=[1, 42]" in cl.text
    assert d.args[1].text == "88"
    assert d.detail["namespaces"] == ["user", "net", "time"]
    assert d.detail["cgroup_path"] == "/sys/fs/cgroup/box"
    assert decode_exit(d, ctx, 555).detail == {"child_pid": 555}


def test_clone3_version0_struct_and_unknown_bits() -> None:
    mem = FakeMemory()
    addr = _clone_args(mem, C.CLONE_NEWNS | (1 << 40), size=64)
    d = decode_entry(make_ctx("clone3", addr, 64, mem=mem))
    assert d is not None and d.args[0].fields is not None
    assert d.args[0].fields["flags"] == "CLONE_NEWNS|0x10000000000"
    assert "set_tid" not in d.args[0].fields and "cgroup" not in d.args[0].fields


def test_clone3_into_cgroup_only_is_a_cgroup_event() -> None:
    mem = FakeMemory()
    addr = _clone_args(mem, C.CLONE_INTO_CGROUP, cgroup=9)
    d = decode_entry(make_ctx("clone3", addr, 88, mem=mem, proc=FakeProc({9: "/sys/fs/cgroup/x"})))
    assert d is not None and d.category == "cgroup" and d.detail["namespaces"] == []


def test_clone3_threads_and_bad_memory() -> None:
    mem = FakeMemory()
    assert decode_entry(make_ctx("clone3", _clone_args(mem, THREAD_FLAGS), 88, mem=mem)) is None
    assert decode_entry(make_ctx("clone3", UNMAPPED, 88, mem=mem)) is None
    assert decode_entry(make_ctx("clone3", 0, 88, mem=mem)) is None
    assert decode_entry(make_ctx("clone3", _clone_args(mem, C.CLONE_NEWNS), 32, mem=mem)) is None  # too small
    d = decode_entry(make_ctx("clone3", UNMAPPED, 88, mem=mem, report_all=True))
    assert d is not None and d.args[0].text == hex(UNMAPPED)
    d = decode_entry(make_ctx("clone3", 0, 88, mem=mem, report_all=True))
    assert d is not None and d.args[0].text == "NULL"


def test_clone3_bad_set_tid_pointer() -> None:
    mem = FakeMemory()
    addr = mem.u64s(C.CLONE_NEWPID, 0, 0, 0, 17, 0, 0, 0, UNMAPPED, 1, 0)
    d = decode_entry(make_ctx("clone3", addr, 88, mem=mem))
    assert d is not None and d.args[0].fields is not None
    assert d.args[0].fields["set_tid"] == hex(UNMAPPED)


def test_clone3_errors() -> None:
    mem = FakeMemory()
    ctx = make_ctx("clone3", _clone_args(mem, C.CLONE_NEWUSER), 88, mem=mem)
    d = decode_entry(ctx)
    assert d is not None
    assert decode_exit(d, ctx, -38).result_text == "-1 ENOSYS (Function not implemented)"
    assert decode_exit(d, ctx, -22).errno == "EINVAL"


def test_unshare() -> None:
    ctx = make_ctx("unshare", C.CLONE_NEWNS | C.CLONE_NEWUTS | C.CLONE_NEWIPC | C.CLONE_NEWTIME)
    d = decode_entry(ctx)
    assert d is not None and d.category == "namespace"
    assert d.args[0].text == "CLONE_NEWTIME|CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC"
    assert d.detail["namespaces"] == ["mnt", "uts", "ipc", "time"]
    assert decode_exit(d, ctx, 0).result_text == "0"
    assert decode_exit(d, ctx, -1).errno == "EPERM"


def test_unshare_unknown_bits_and_non_namespace_flags() -> None:
    d = decode_entry(make_ctx("unshare", C.CLONE_FS | 0x4))
    assert d is not None and d.category == "process"
    assert d.args[0].text == "CLONE_FS|0x4"
    d = decode_entry(make_ctx("unshare", 0))
    assert d is not None and d.args[0].text == "0"


def test_setns_namespace_fd() -> None:
    ctx = make_ctx("setns", 5, C.CLONE_NEWNET, proc=FakeProc({5: "net:[4026531840]"}))
    d = decode_entry(ctx)
    assert d is not None and d.category == "namespace"
    assert d.args[0].text == "5<net:[4026531840]>"
    assert d.args[1].text == "CLONE_NEWNET"
    assert d.detail["ns_type"] == "net" and d.detail["ns_inode"] == 4026531840
    assert d.detail["namespaces"] == ["net"]
    assert decode_exit(d, ctx, -22).result_text == "-1 EINVAL (Invalid argument)"


def test_setns_fd_opened_by_path_and_any_type() -> None:
    d = decode_entry(make_ctx("setns", 3, 0, proc=FakeProc({3: "/proc/123/ns/mnt"})))
    assert d is not None
    assert d.args[1].text == "0"
    assert d.detail["ns_type"] == "mnt" and d.detail["target_pid"] == 123
    assert d.detail["namespaces"] == ["mnt"]


def test_setns_pidfd_and_unknown_fd() -> None:
    flags = C.CLONE_NEWNET | C.CLONE_NEWUTS | C.CLONE_NEWIPC
    d = decode_entry(make_ctx("setns", 4, flags, proc=FakeProc({4: "anon_inode:[pidfd]"})))
    assert d is not None and d.detail["pidfd"] is True
    assert d.detail["namespaces"] == ["uts", "ipc", "net"]
    d = decode_entry(make_ctx("setns", 9, C.CLONE_NEWPID | 0x1))
    assert d is not None and d.args[0].text == "9" and d.detail["fd_path"] is None
    assert d.args[1].text == "CLONE_NEWPID|0x1"

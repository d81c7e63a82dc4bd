"""bpf(2) on fake memory: each decoded command as strace prints it, the category, the facts the
catalogue reads, and the fd results."""

from __future__ import annotations

import struct

from boxtrace.tracer.decoders import decode_entry, decode_exit
from boxtrace.tracer.tables import bpf as B
from tests.tracer.test_decode_fakes import UNMAPPED, FakeMemory, FakeProc, make_ctx

CGROUP = "/sys/fs/cgroup/mybox"
FDS = {0: "/dev/null", 4: CGROUP, 5: "anon_inode:bpf-prog", 7: "/sys/fs/bpf/pinned"}


def prog_load_attr(mem: FakeMemory, size: int, prog_type: int = B.BPF_PROG_TYPE_CGROUP_DEVICE) -> int:
    insns = mem.put(struct.pack("<BBhi", 0xB7, 0, 0, 1) + struct.pack("<BBhi", 0x95, 0, 0, 0))
    license_ = mem.str("Apache")
    head = struct.pack("<IIQQIIQII16sII", prog_type, 2, insns, license_, 0, 0, 0, 0x050A01, 1, b"dev", 0, 6)
    return mem.put(head.ljust(size, b"\0"))


def test_prog_load_of_a_device_program_as_strace_prints_it() -> None:
    mem = FakeMemory()
    addr = prog_load_attr(mem, 148)
    ctx = make_ctx("bpf", B.BPF_PROG_LOAD, addr, 148, mem=mem, proc=FakeProc(FDS))
    d = decode_entry(ctx)
    assert d is not None and d.category == "cgroup"
    text = d.args[1].text
    assert text.startswith("{prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=2, insns=0x")
    assert ', license="Apache", log_level=0, log_size=0, log_buf=NULL,' in text
    assert "kern_version=KERNEL_VERSION(5, 10, 1), prog_flags=BPF_F_STRICT_ALIGNMENT" in text
    assert 'prog_name="dev", prog_ifindex=0, expected_attach_type=BPF_CGROUP_DEVICE' in text
    assert "prog_btf_fd=0</dev/null>" in text and text.endswith("prog_token_fd=0</dev/null>}")
    assert [a.text for a in (d.args[0], d.args[2])] == ["BPF_PROG_LOAD", "148"]
    assert d.detail["command"] == "BPF_PROG_LOAD" and d.detail["prog_type"] == "BPF_PROG_TYPE_CGROUP_DEVICE"
    assert d.detail["license"] == "Apache" and d.detail["insn_cnt"] == 2 and d.detail["prog_name"] == "dev"
    assert not d.args[1].flags  # program flags are not the runtime's attach/query flags
    ctx.proc = FakeProc({**FDS, 9: "anon_inode:bpf-prog"})
    done = decode_exit(d, ctx, 9)
    assert done.result_text == "9<anon_inode:bpf-prog>" and done.detail == {"fd": 9}
    assert decode_exit(d, ctx, -13).result_text == "-1 EACCES (Permission denied)"


def test_prog_load_prints_only_the_fields_the_size_covers() -> None:
    """strace stops at the fields a smaller (older) bpf_attr does not have; the kernel reads zeros."""
    mem = FakeMemory()
    d = decode_entry(make_ctx("bpf", B.BPF_PROG_LOAD, prog_load_attr(mem, 48), 48, mem=mem))
    assert d is not None
    assert d.args[1].text.endswith(
        "log_buf=NULL, kern_version=KERNEL_VERSION(5, 10, 1), prog_flags=BPF_F_STRICT_ALIGNMENT}"
    )
    d = decode_entry(make_ctx("bpf", B.BPF_PROG_LOAD, prog_load_attr(mem, 24), 24, mem=mem))
    assert d is not None and d.args[1].text.endswith('license="Apache"}')


def test_a_socket_filter_is_security_work() -> None:
    mem = FakeMemory()
    d = decode_entry(make_ctx("bpf", B.BPF_PROG_LOAD, prog_load_attr(mem, 72, prog_type=1), 72, mem=mem))
    assert d is not None and d.category == "security"
    assert d.args[1].text.startswith("{prog_type=BPF_PROG_TYPE_SOCKET_FILTER,")


def test_prog_attach_to_a_cgroup() -> None:
    mem = FakeMemory()
    addr = mem.put(struct.pack("<IIII", 4, 5, B.BPF_CGROUP_DEVICE, 2))
    d = decode_entry(make_ctx("bpf", B.BPF_PROG_ATTACH, addr, 16, mem=mem, proc=FakeProc(FDS)))
    assert d is not None and d.category == "cgroup"
    assert [a.text for a in d.args] == [
        "BPF_PROG_ATTACH",
        f"{{target_fd=4<{CGROUP}>, attach_bpf_fd=5<anon_inode:bpf-prog>, attach_type=BPF_CGROUP_DEVICE,"
        " attach_flags=BPF_F_ALLOW_MULTI}",
        "16",
    ]
    assert d.args[1].flags == ["BPF_F_ALLOW_MULTI"]
    assert d.detail["cgroup_path"] == CGROUP and d.detail["target_path"] == CGROUP
    assert d.detail["attach_type"] == "BPF_CGROUP_DEVICE" and d.detail["attach_flags"] == [
        "BPF_F_ALLOW_MULTI"
    ]
    assert decode_exit(d, make_ctx("bpf"), 0).result_text == "0"  # not an fd


def test_prog_attach_with_replace_and_a_larger_attr() -> None:
    mem = FakeMemory()
    addr = mem.put(struct.pack("<IIIIIIQ", 4, 5, B.BPF_CGROUP_DEVICE, 2 | 4, 7, 0, 3).ljust(40, b"\0"))
    d = decode_entry(make_ctx("bpf", B.BPF_PROG_ATTACH, addr, 40, mem=mem, proc=FakeProc(FDS)))
    assert d is not None
    assert d.args[1].text.endswith(
        "attach_flags=BPF_F_ALLOW_MULTI|BPF_F_REPLACE, replace_bpf_fd=7</sys/fs/bpf/pinned>,"
        " relative_fd=0</dev/null>, expected_revision=3}"
    )
    assert d.args[1].flags == ["BPF_F_ALLOW_MULTI", "BPF_F_REPLACE"]


def test_detach_and_query_name_the_cgroup_and_an_unknown_target_is_security() -> None:
    mem = FakeMemory()
    detach = mem.put(struct.pack("<III", 4, 5, B.BPF_CGROUP_DEVICE))
    d = decode_entry(make_ctx("bpf", B.BPF_PROG_DETACH, detach, 12, mem=mem, proc=FakeProc(FDS)))
    assert d is not None and d.category == "cgroup"
    assert d.args[1].text == (
        f"{{target_fd=4<{CGROUP}>, attach_bpf_fd=5<anon_inode:bpf-prog>, attach_type=BPF_CGROUP_DEVICE,"
        " attach_flags=0}"
    )
    query = mem.put(struct.pack("<IIIIQI4x", 4, B.BPF_CGROUP_DEVICE, 1, 0, 0x7000, 8))
    d = decode_entry(make_ctx("bpf", B.BPF_PROG_QUERY, query, 32, mem=mem, proc=FakeProc(FDS)))
    assert d is not None and d.category == "cgroup"
    assert d.args[1].text == (
        f"{{query={{target_fd=4<{CGROUP}>, attach_type=BPF_CGROUP_DEVICE, query_flags=BPF_F_QUERY_EFFECTIVE,"
        " attach_flags=0, prog_ids=0x7000, prog_cnt=8}}"
    )
    assert d.args[1].flags == ["BPF_F_QUERY_EFFECTIVE"]
    # A socket hook attached through an fd the tracer cannot name: not cgroup work it can show.
    other = mem.put(struct.pack("<IIII", 11, 5, 7, 0))  # BPF_SK_MSG_VERDICT on a sockmap
    d = decode_entry(make_ctx("bpf", B.BPF_PROG_ATTACH, other, 16, mem=mem, proc=FakeProc(FDS)))
    assert d is not None and d.category == "security" and "cgroup_path" not in d.detail
    assert "target_fd=11, " in d.args[1].text and "attach_type=BPF_SK_MSG_VERDICT" in d.args[1].text


def test_get_fd_by_id_and_map_create_return_fds() -> None:
    mem = FakeMemory()
    by_id = mem.put(struct.pack("<III", 98, 0, 8))
    ctx = make_ctx("bpf", B.BPF_PROG_GET_FD_BY_ID, by_id, 12, mem=mem, proc=FakeProc(FDS))
    d = decode_entry(ctx)
    assert d is not None and d.category == "security"
    assert d.args[1].text == "{prog_id=98, next_id=0, open_flags=BPF_F_RDONLY}"
    assert decode_exit(d, ctx, 5).result_text == "5<anon_inode:bpf-prog>"
    create = mem.put(struct.pack("<IIIIII4x16s", 2, 4, 8, 1, 0x400, 0, b"counters").ljust(48, b"\0"))
    d = decode_entry(make_ctx("bpf", B.BPF_MAP_CREATE, create, 48, mem=mem, proc=FakeProc(FDS)))
    assert d is not None and d.args[1].text == (
        "{map_type=BPF_MAP_TYPE_ARRAY, key_size=4, value_size=8, max_entries=1, map_flags=BPF_F_MMAPABLE,"
        ' inner_map_fd=0</dev/null>, map_name="counters", map_ifindex=0}'
    )
    assert d.detail["map_type"] == "BPF_MAP_TYPE_ARRAY" and d.detail["map_name"] == "counters"


def test_other_commands_unknown_commands_and_unreadable_attrs_are_generic() -> None:
    d = decode_entry(make_ctx("bpf", 1, 0x7000, 32))  # BPF_MAP_LOOKUP_ELEM
    assert d is not None and [a.text for a in d.args] == ["BPF_MAP_LOOKUP_ELEM", "0x7000", "32"]
    assert d.category == "security" and d.detail == {"command": "BPF_MAP_LOOKUP_ELEM"}
    d = decode_entry(make_ctx("bpf", 99, 0x7000, 8))
    assert d is not None and d.args[0].text == "0x63 /* BPF_??? */" and d.detail["command"] == 99
    d = decode_entry(make_ctx("bpf", B.BPF_PROG_LOAD, UNMAPPED, 148))
    assert d is not None and d.args[1].text == hex(UNMAPPED) and d.category == "security"
    assert decode_exit(d, make_ctx("bpf"), 3).result_text == "3"  # unknown to the fake fd table
    d = decode_entry(make_ctx("bpf", B.BPF_PROG_ATTACH, 0, 16))
    assert d is not None and d.args[1].text == "NULL"

"""The file family: what is reported (cgroupfs, id maps, /dev) and what is not."""

from __future__ import annotations

import pytest

from boxtrace.tracer.decoders import decode_entry, decode_exit
from boxtrace.tracer.decoders.classify import cgroup_info, idmap_target, is_dev_path, parse_id_map
from boxtrace.tracer.tables import fcntl as F
from boxtrace.tracer.tables import stat as S
from tests.tracer.test_decode_fakes import UNMAPPED, FakeMemory, FakeProc, make_ctx

CG = "/sys/fs/cgroup"


# --- classification -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "is_file", "expected"),
    [
        (
            f"{CG}/box/pids.max",
            True,
            {"cgroup": "/box", "version": 2, "controller": "pids", "cgroup_file": "pids.max"},
        ),
        (f"{CG}/a/b/memory.max", True, {"cgroup": "/a/b", "version": 2, "controller": "memory"}),
        (f"{CG}/box/cgroup.procs", True, {"cgroup": "/box", "version": 2, "controller": None}),
        (f"{CG}/cgroup.subtree_control", True, {"cgroup": "/", "controller": None}),
        (
            f"{CG}/memory/box/memory.limit_in_bytes",
            True,
            {"cgroup": "/box", "version": 1, "controller": "memory"},
        ),
        (f"{CG}/cpu,cpuacct/box/cpu.shares", True, {"version": 1, "controller": "cpu"}),
        (f"{CG}/cpu,cpuacct/box/tasks", True, {"version": 1, "controller": "cpu,cpuacct"}),
        (f"{CG}/systemd/box/cgroup.procs", True, {"version": 1, "controller": "systemd"}),
        (f"{CG}/unified/box/cgroup.procs", True, {"cgroup": "/box", "version": 2}),
        (f"{CG}/pids/box", False, {"cgroup": "/box", "version": 1, "controller": "pids"}),
        (f"{CG}/box", False, {"cgroup": "/box", "version": 2, "controller": None}),
    ],
)
def test_cgroup_info(path: str, is_file: bool, expected: dict[str, object]) -> None:
    info = cgroup_info(path, is_file)
    assert info is not None
    assert {k: info.get(k) for k in expected} == expected


def test_not_cgroupfs() -> None:
    assert cgroup_info("/sys/fs/cgroupx/a", True) is None
    assert cgroup_info("/tmp/pids.max", True) is None


def test_idmap_and_dev_paths() -> None:
    assert idmap_target("/proc/self/uid_map", 7) == (7, "uid_map")
    assert idmap_target("/proc/4242/gid_map", 7) == (4242, "gid_map")
    assert idmap_target("/proc/4242/task/4243/setgroups", 7) == (4243, "setgroups")
    assert idmap_target("/proc/4242/status", 7) is None
    assert idmap_target("/proc/self/fd/3", 7) is None
    assert parse_id_map("0 1000 1\n1 100000 65536\nbad line\n") == [[0, 1000, 1], [1, 100000, 65536]]
    assert is_dev_path("/dev/null") and is_dev_path("/run/box/rootfs/dev") and is_dev_path("dev/pts")
    assert not is_dev_path("/run/box/rootfs/devices") and not is_dev_path("/home/devon")


# --- write --------------------------------------------------------------------------------------


def test_write_cgroup_limit() -> None:
    mem = FakeMemory()
    buf = mem.put(b"64\n")
    ctx = make_ctx("write", 5, buf, 3, mem=mem, proc=FakeProc({5: f"{CG}/box/pids.max"}))
    d = decode_entry(ctx)
    assert d is not None and d.category == "cgroup"
    assert [a.text for a in d.args] == [f"5<{CG}/box/pids.max>", '"64\\n"', "3"]
    assert d.detail["cgroup_file"] == "pids.max" and d.detail["controller"] == "pids"
    assert d.detail["value"] == "64" and d.detail["path"] == f"{CG}/box/pids.max"
    assert decode_exit(d, ctx, 3).result_text == "3"
    done = decode_exit(d, ctx, -22)
    assert (done.result_text, done.errno) == ("-1 EINVAL (Invalid argument)", "EINVAL")


def test_write_cgroup_v1_and_procs() -> None:
    mem = FakeMemory()
    proc = FakeProc({5: f"{CG}/memory/box/memory.limit_in_bytes", 6: f"{CG}/box/cgroup.procs"})
    d = decode_entry(make_ctx("write", 5, mem.put(b"268435456"), 9, mem=mem, proc=proc))
    assert d is not None and d.detail["controller"] == "memory" and d.detail["version"] == 1
    d = decode_entry(make_ctx("write", 6, mem.put(b"4242"), 4, mem=mem, proc=proc))
    assert d is not None and d.detail["cgroup_file"] == "cgroup.procs" and d.detail["value"] == "4242"


def test_write_uid_map() -> None:
    mem = FakeMemory()
    text = b"0 1000 1\n1 100000 65536\n"
    ctx = make_ctx("write", 7, mem.put(text), len(text), mem=mem, proc=FakeProc({7: "/proc/4242/uid_map"}))
    d = decode_entry(ctx)
    assert d is not None and d.category == "idmap"
    assert d.detail["file"] == "uid_map" and d.detail["target_pid"] == 4242
    assert d.detail["mappings"] == [[0, 1000, 1], [1, 100000, 65536]]
    assert d.detail["value"] == "0 1000 1\n1 100000 65536"
    assert decode_exit(d, ctx, -1).errno == "EPERM"


def test_write_setgroups_deny() -> None:
    mem = FakeMemory()
    ctx = make_ctx(
        "write", 8, mem.put(b"deny"), 4, mem=mem, proc=FakeProc({8: "/proc/4242/setgroups"}), pid=1
    )
    d = decode_entry(ctx)
    assert d is not None and d.category == "idmap"
    assert d.detail["value"] == "deny" and "mappings" not in d.detail


def test_uninteresting_writes() -> None:
    mem = FakeMemory()
    buf = mem.put(b"hello")
    proc = FakeProc({1: "/dev/pts/0", 4: "pipe:[1234]", 5: "/tmp/log"})
    assert decode_entry(make_ctx("write", 1, buf, 5, mem=mem, proc=proc)) is None
    assert decode_entry(make_ctx("write", 4, buf, 5, mem=mem, proc=proc)) is None
    assert decode_entry(make_ctx("write", 5, buf, 5, mem=mem, proc=proc)) is None
    assert decode_entry(make_ctx("write", 9, buf, 5, mem=mem, proc=proc)) is None  # fd unknown
    assert 1 not in proc.lookups  # stdout is skipped before any readlink
    d = decode_entry(make_ctx("write", 4, buf, 5, mem=mem, proc=proc, report_all=True))
    assert d is not None and d.category == "file" and d.args[0].text == "4<pipe:[1234]>"
    assert d.args[1].text == '"hello"'


def test_write_bad_buffer_and_empty_write() -> None:
    proc = FakeProc({5: f"{CG}/box/pids.max"})
    d = decode_entry(make_ctx("write", 5, UNMAPPED, 3, proc=proc))
    assert d is not None and d.args[1].text == hex(UNMAPPED) and d.detail["value"] is None
    d = decode_entry(make_ctx("write", 5, 0, 0, proc=proc))
    assert d is not None and d.args[1].text == "NULL" and d.detail["value"] == ""  # strace: NULL
    mem = FakeMemory()
    d = decode_entry(make_ctx("write", 5, mem.put(b"x"), 0, mem=mem, proc=proc))
    assert d is not None and d.args[1].text == '""' and d.detail["value"] == ""


def test_write_long_value_is_cut_at_a_page() -> None:
    mem = FakeMemory()
    buf = mem.put(b"x" * 5000)
    d = decode_entry(make_ctx("write", 5, buf, 5000, mem=mem, proc=FakeProc({5: f"{CG}/a/b.c"})))
    assert d is not None and len(d.detail["value"]) == 4096 and d.args[1].text.endswith('"...')


# --- open ---------------------------------------------------------------------------------------


def test_openat_cgroup_file_for_writing() -> None:
    mem = FakeMemory()
    flags = F.O_WRONLY | F.O_CLOEXEC | F.O_TRUNC
    ctx = make_ctx("openat", F.AT_FDCWD, mem.str(f"{CG}/box/memory.max"), flags, mem=mem)
    d = decode_entry(ctx)
    assert d is not None and d.category == "cgroup"
    assert [a.text for a in d.args] == ["AT_FDCWD", f'"{CG}/box/memory.max"', "O_WRONLY|O_TRUNC|O_CLOEXEC"]
    assert d.detail["controller"] == "memory" and d.detail["flags"] == ["O_WRONLY", "O_TRUNC", "O_CLOEXEC"]
    done = decode_exit(d, ctx, 3)
    assert (done.result_text, done.detail) == ("3", {"fd": 3})
    assert decode_exit(d, ctx, -13).result_text == "-1 EACCES (Permission denied)"


def test_openat_relative_to_a_cgroup_dirfd() -> None:
    mem = FakeMemory()
    proc = FakeProc({9: f"{CG}/box"})
    d = decode_entry(make_ctx("openat", 9, mem.str("cgroup.procs"), F.O_WRONLY, mem=mem, proc=proc))
    assert d is not None and d.category == "cgroup"
    assert d.args[0].text == f"9<{CG}/box>"
    assert d.detail["resolved"] == {"pathname": f"{CG}/box/cgroup.procs"}


def test_openat_id_map_through_proc_self() -> None:
    mem = FakeMemory()
    d = decode_entry(
        make_ctx("openat", F.AT_FDCWD, mem.str("/proc/self/gid_map"), F.O_RDWR, mem=mem, pid=321)
    )
    assert d is not None and d.category == "idmap" and d.detail["target_pid"] == 321


def test_openat_not_reported() -> None:
    mem = FakeMemory()
    path = mem.str(f"{CG}/box/pids.max")
    assert decode_entry(make_ctx("openat", F.AT_FDCWD, path, F.O_RDONLY | F.O_CLOEXEC, mem=mem)) is None
    other = mem.str("/etc/resolv.conf")
    assert decode_entry(make_ctx("openat", F.AT_FDCWD, other, F.O_WRONLY | F.O_CREAT, 0o644, mem=mem)) is None
    d = decode_entry(
        make_ctx("openat", F.AT_FDCWD, other, F.O_WRONLY | F.O_CREAT, 0o644, mem=mem, report_all=True)
    )
    assert d is not None and d.category == "file"
    assert [a.text for a in d.args[2:]] == ["O_WRONLY|O_CREAT", "0644"]
    d = decode_entry(make_ctx("openat", F.AT_FDCWD, path, F.O_RDONLY, mem=mem, report_all=True))
    assert d is not None and d.category == "file"  # a read is never cgroup work


def test_openat_creating_a_dev_node_placeholder() -> None:
    mem = FakeMemory()
    path = mem.str("/run/box/rootfs/dev/null")
    flags = F.O_RDONLY | F.O_CREAT | F.O_CLOEXEC | 0x40000000
    d = decode_entry(make_ctx("openat", F.AT_FDCWD, path, flags, 0o755, mem=mem))
    assert d is not None and d.category == "device"
    assert d.args[2].text == "O_RDONLY|O_CREAT|O_CLOEXEC|0x40000000"


def test_openat_null_and_unreadable_path() -> None:
    d = decode_entry(make_ctx("openat", F.AT_FDCWD, 0, F.O_WRONLY, report_all=True))
    assert d is not None and d.args[1].text == "NULL" and d.detail["path"] is None
    assert decode_entry(make_ctx("openat", F.AT_FDCWD, UNMAPPED, F.O_WRONLY)) is None


def test_open_and_creat() -> None:
    mem = FakeMemory()
    path = mem.str(f"{CG}/box/cpu.max")
    d = decode_entry(make_ctx("open", path, F.O_WRONLY, mem=mem))
    assert d is not None and d.category == "cgroup" and [a.name for a in d.args] == ["pathname", "flags"]
    ctx = make_ctx("creat", path, 0o600, mem=mem)
    d = decode_entry(ctx)
    assert d is not None and d.category == "cgroup"
    assert [a.text for a in d.args] == [f'"{CG}/box/cpu.max"', "0600"]
    assert decode_exit(d, ctx, 4).detail == {"fd": 4}
    assert decode_entry(make_ctx("open", path, F.O_RDONLY, mem=mem)) is None


# --- directories, nodes, links ------------------------------------------------------------------


def test_mkdir_cgroup_and_dev() -> None:
    mem = FakeMemory()
    ctx = make_ctx("mkdir", mem.str(f"{CG}/box"), 0o755, mem=mem)
    d = decode_entry(ctx)
    assert d is not None and d.category == "cgroup" and d.detail["action"] == "create"
    assert [a.text for a in d.args] == [f'"{CG}/box"', "0755"]
    assert decode_exit(d, ctx, -17).result_text == "-1 EEXIST (File exists)"
    d = decode_entry(make_ctx("mkdir", mem.str("/run/box/rootfs/dev/pts"), 0o755, mem=mem))
    assert d is not None and d.category == "device"
    assert decode_entry(make_ctx("mkdir", mem.str("/tmp/x"), 0o700, mem=mem)) is None
    d = decode_entry(make_ctx("mkdir", mem.str("/tmp/x"), 0o700, mem=mem, report_all=True))
    assert d is not None and d.category == "file"


def test_mkdirat_relative() -> None:
    mem = FakeMemory()
    proc = FakeProc({5: f"{CG}/memory"})
    d = decode_entry(make_ctx("mkdirat", 5, mem.str("box"), 0o755, mem=mem, proc=proc))
    assert d is not None and d.category == "cgroup" and d.detail["controller"] == "memory"
    assert d.detail["resolved"] == {"pathname": f"{CG}/memory/box"}
    d = decode_entry(
        make_ctx("mkdirat", F.AT_FDCWD, mem.str("dev/shm"), 0o1777, mem=mem, proc=FakeProc(cwd="/r"))
    )
    assert d is not None and d.category == "device" and d.args[2].text == "01777"
    assert d.detail["resolved"] == {"pathname": "/r/dev/shm"}


def test_rmdir_and_unlinkat_remove_cgroups() -> None:
    mem = FakeMemory()
    path = mem.str(f"{CG}/box")
    ctx = make_ctx("rmdir", path, mem=mem)
    d = decode_entry(ctx)
    assert d is not None and d.category == "cgroup" and d.detail["action"] == "remove"
    assert decode_exit(d, ctx, -16).errno == "EBUSY"
    d = decode_entry(make_ctx("unlinkat", F.AT_FDCWD, path, F.AT_REMOVEDIR, mem=mem))
    assert d is not None and d.category == "cgroup" and d.args[2].text == "AT_REMOVEDIR"
    assert decode_entry(make_ctx("unlinkat", F.AT_FDCWD, path, 0, mem=mem)) is None
    assert decode_entry(make_ctx("rmdir", mem.str("/tmp/x"), mem=mem)) is None
    d = decode_entry(make_ctx("unlinkat", F.AT_FDCWD, mem.str("/tmp/f"), 0x4, mem=mem, report_all=True))
    assert d is not None and d.category == "file" and d.args[2].text == "0x4"


def test_mknod_devices() -> None:
    mem = FakeMemory()
    dev = S.makedev(1, 3)
    ctx = make_ctx("mknod", mem.str("/run/box/rootfs/dev/null"), S.S_IFCHR | 0o666, dev, mem=mem)
    d = decode_entry(ctx)
    assert d is not None and d.category == "device"
    assert [a.text for a in d.args] == ['"/run/box/rootfs/dev/null"', "S_IFCHR|0666", "makedev(0x1, 0x3)"]
    assert (d.detail["major"], d.detail["minor"], d.detail["type"]) == (1, 3, "character device")
    assert decode_exit(d, ctx, -1).result_text == "-1 EPERM (Operation not permitted)"
    d = decode_entry(
        make_ctx("mknodat", F.AT_FDCWD, mem.str("/tmp/sda"), S.S_IFBLK | 0o600, S.makedev(8, 0), mem=mem)
    )
    assert d is not None and d.category == "device" and d.detail["type"] == "block device"
    assert decode_entry(make_ctx("mknod", mem.str("/tmp/fifo"), S.S_IFIFO | 0o600, 0, mem=mem)) is None
    d = decode_entry(
        make_ctx("mknodat", 4, mem.str("fifo"), S.S_IFIFO, 0, mem=mem, proc=FakeProc({4: "/x/dev"}))
    )
    assert d is not None and d.category == "device" and [a.text for a in d.args][2] == "S_IFIFO"


def test_symlinks_in_dev() -> None:
    mem = FakeMemory()
    ctx = make_ctx("symlink", mem.str("/proc/self/fd"), mem.str("/run/box/rootfs/dev/fd"), mem=mem)
    d = decode_entry(ctx)
    assert d is not None and d.category == "device"
    assert [a.text for a in d.args] == ['"/proc/self/fd"', '"/run/box/rootfs/dev/fd"']
    assert d.detail["target"] == "/proc/self/fd" and "resolved" not in d.detail  # the target is not resolved
    assert decode_exit(d, ctx, -17).errno == "EEXIST"
    d = decode_entry(
        make_ctx("symlinkat", mem.str("pts/ptmx"), 6, mem.str("ptmx"), mem=mem, proc=FakeProc({6: "/r/dev"}))
    )
    assert d is not None and d.category == "device" and d.detail["path"] == "/r/dev/ptmx"
    assert decode_entry(make_ctx("symlink", mem.str("a"), mem.str("/tmp/b"), mem=mem)) is None
    d = decode_entry(make_ctx("symlink", UNMAPPED, 0, mem=mem, report_all=True))
    assert d is not None and [a.text for a in d.args] == [hex(UNMAPPED), "NULL"]

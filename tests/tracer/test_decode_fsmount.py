"""The new mount API: fsopen, fsconfig, fsmount, fspick, move_mount, open_tree, mount_setattr."""

from __future__ import annotations

from boxtrace.tracer.decoders import decode_entry, decode_exit
from boxtrace.tracer.tables import fcntl as F
from boxtrace.tracer.tables import fsmount as N
from boxtrace.tracer.tables import mount as M
from tests.tracer.test_decode_fakes import UNMAPPED, FakeMemory, FakeProc, make_ctx

FSCTX = FakeProc(
    {3: "anon_inode:[fscontext]", 4: "/run/box", 5: "/", 7: "/run/box/rootfs", 8: "user:[4026532001]"}
)


def test_fsopen() -> None:
    mem = FakeMemory()
    ctx = make_ctx("fsopen", mem.str("tmpfs"), N.FSOPEN_CLOEXEC, mem=mem)
    d = decode_entry(ctx)
    assert d is not None and d.category == "mount"
    assert [a.text for a in d.args] == ['"tmpfs"', "FSOPEN_CLOEXEC"]
    assert d.detail == {"fstype": "tmpfs"}
    done = decode_exit(d, ctx, 3)
    assert (done.result_text, done.detail) == ("3", {"fd": 3})
    assert decode_exit(d, ctx, -19).result_text == "-1 ENODEV (No such device)"
    d = decode_entry(make_ctx("fsopen", UNMAPPED, 0x10, mem=mem))
    assert d is not None and [a.text for a in d.args] == [hex(UNMAPPED), "0x10"]


def test_fsconfig_set_string() -> None:
    mem = FakeMemory()
    ctx = make_ctx(
        "fsconfig", 3, N.FSCONFIG_SET_STRING, mem.str("size"), mem.str("64m"), 0, mem=mem, proc=FSCTX
    )
    d = decode_entry(ctx)
    assert d is not None
    assert [a.text for a in d.args] == [
        "3<anon_inode:[fscontext]>",
        "FSCONFIG_SET_STRING",
        '"size"',
        '"64m"',
        "0",
    ]
    assert d.detail["cmd"] == "FSCONFIG_SET_STRING"
    assert (d.detail["key"], d.detail["value"]) == ("size", "64m")
    assert decode_exit(d, ctx, -22).errno == "EINVAL"


def test_fsconfig_flag_path_fd_binary_and_commands() -> None:
    mem = FakeMemory()
    d = decode_entry(make_ctx("fsconfig", 3, N.FSCONFIG_SET_FLAG, mem.str("ro"), 0, 0, mem=mem, proc=FSCTX))
    assert d is not None and d.detail["value"] is True and d.args[3].text == "NULL"

    path_cmd = N.FSCONFIG_SET_PATH
    d = decode_entry(
        make_ctx("fsconfig", 3, path_cmd, mem.str("lowerdir+"), mem.str("l1"), 4, mem=mem, proc=FSCTX)
    )
    assert d is not None
    assert d.args[4].text == "4</run/box>" and d.args[3].text == '"l1"'
    assert d.detail["value"] == "/run/box/l1" and d.detail["resolved"] == {"value": "/run/box/l1"}

    d = decode_entry(make_ctx("fsconfig", 3, N.FSCONFIG_SET_FD, mem.str("source"), 0, 4, mem=mem, proc=FSCTX))
    assert d is not None and d.args[4].text == "4</run/box>" and d.detail["value"] == "/run/box"

    d = decode_entry(
        make_ctx("fsconfig", 3, N.FSCONFIG_SET_BINARY, mem.str("k"), 0x9000, 16, mem=mem, proc=FSCTX)
    )
    assert d is not None and d.args[3].text == "0x9000" and d.detail["value_size"] == 16

    for cmd in (N.FSCONFIG_CMD_CREATE, N.FSCONFIG_CMD_RECONFIGURE, N.FSCONFIG_CMD_CREATE_EXCL):
        d = decode_entry(make_ctx("fsconfig", 3, cmd, 0, 0, 0, mem=mem, proc=FSCTX))
        assert d is not None
        assert [a.text for a in d.args[2:]] == ["NULL", "NULL", "0"]
        assert "key" not in d.detail

    d = decode_entry(make_ctx("fsconfig", 3, 42, 0, 0, 0, mem=mem, proc=FSCTX))
    assert d is not None and d.args[1].text == "0x2a /* FSCONFIG_??? */" and d.detail["cmd"] is None


def test_fsconfig_unreadable_key() -> None:
    d = decode_entry(make_ctx("fsconfig", 3, N.FSCONFIG_SET_STRING, UNMAPPED, 0, 0, proc=FSCTX))
    assert d is not None and d.args[2].text == hex(UNMAPPED) and d.args[3].text == "NULL"
    assert d.detail["key"] is None and d.detail["value"] is None


def test_fsmount_attributes() -> None:
    attrs = N.MOUNT_ATTR_RDONLY | N.MOUNT_ATTR_NOATIME | N.MOUNT_ATTR_NODEV
    ctx = make_ctx("fsmount", 3, N.FSMOUNT_CLOEXEC, attrs, proc=FSCTX)
    d = decode_entry(ctx)
    assert d is not None
    assert d.args[1].text == "FSMOUNT_CLOEXEC"
    assert d.args[2].text == "MOUNT_ATTR_NOATIME|MOUNT_ATTR_RDONLY|MOUNT_ATTR_NODEV"
    assert d.detail["attributes"] == ["MOUNT_ATTR_NOATIME", "MOUNT_ATTR_RDONLY", "MOUNT_ATTR_NODEV"]
    assert decode_exit(d, ctx, 5).detail == {"fd": 5}
    d = decode_entry(make_ctx("fsmount", 3, 0x8, 0x40 | 0x1000))
    assert d is not None
    assert d.args[1].text == "0x8"
    assert d.args[2].text == "0x1040"


def test_fspick() -> None:
    mem = FakeMemory()
    ctx = make_ctx("fspick", F.AT_FDCWD, mem.str("/sys/fs/cgroup"), N.FSPICK_CLOEXEC | 0x100, mem=mem)
    d = decode_entry(ctx)
    assert d is not None
    assert [a.text for a in d.args] == ["AT_FDCWD", '"/sys/fs/cgroup"', "FSPICK_CLOEXEC|0x100"]
    assert decode_exit(d, ctx, 4).result_text == "4"


def test_move_mount_detached_tree_onto_proc_fd() -> None:
    mem = FakeMemory()
    flags = N.MOVE_MOUNT_F_EMPTY_PATH
    ctx = make_ctx(
        "move_mount", 5, mem.str(""), F.AT_FDCWD, mem.str("/proc/self/fd/7"), flags, mem=mem, proc=FSCTX
    )
    d = decode_entry(ctx)
    assert d is not None and d.category == "mount"
    assert [a.text for a in d.args] == [
        "5</>",
        '""',
        "AT_FDCWD",
        '"/proc/self/fd/7"',
        "MOVE_MOUNT_F_EMPTY_PATH",
    ]
    assert d.detail["target"] == "/run/box/rootfs"
    assert d.detail["resolved"] == {"from_pathname": "/", "to_pathname": "/run/box/rootfs"}
    assert decode_exit(d, ctx, -2).errno == "ENOENT"


def test_move_mount_null_paths_and_unknown_flags() -> None:
    d = decode_entry(make_ctx("move_mount", 5, 0, 4, 0, 0x8000, proc=FSCTX))
    assert d is not None
    assert [a.text for a in d.args] == ["5</>", "NULL", "4</run/box>", "NULL", "0x8000"]


def test_open_tree_clone() -> None:
    mem = FakeMemory()
    flags = N.OPEN_TREE_CLONE | N.OPEN_TREE_CLOEXEC | F.AT_RECURSIVE
    ctx = make_ctx("open_tree", F.AT_FDCWD, mem.str("/etc"), flags, mem=mem)
    d = decode_entry(ctx)
    assert d is not None
    assert d.args[2].text == "OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC|AT_RECURSIVE"
    assert d.detail == {"path": "/etc", "flags": ["OPEN_TREE_CLONE", "OPEN_TREE_CLOEXEC", "AT_RECURSIVE"]}
    assert decode_exit(d, ctx, 6).detail == {"fd": 6}


def test_mount_setattr_idmapped_recursive() -> None:
    mem = FakeMemory()
    attr = mem.u64s(N.MOUNT_ATTR_IDMAP | N.MOUNT_ATTR_NOSUID, 0, M.MS_PRIVATE, 8)
    flags = F.AT_EMPTY_PATH | F.AT_RECURSIVE
    ctx = make_ctx("mount_setattr", 7, mem.str(""), flags, attr, 32, mem=mem, proc=FSCTX)
    d = decode_entry(ctx)
    assert d is not None and d.category == "mount"
    assert d.args[0].text == "7</run/box/rootfs>"
    assert d.args[2].text == "AT_EMPTY_PATH|AT_RECURSIVE"
    fields = d.args[3].fields
    assert fields == {
        "attr_set": "MOUNT_ATTR_NOSUID|MOUNT_ATTR_IDMAP",
        "attr_clr": "0",
        "propagation": "MS_PRIVATE",
        "userns_fd": "8<user:[4026532001]>",
    }
    assert d.args[4].text == "32"
    assert d.detail["path"] == "/run/box/rootfs"
    assert d.detail["propagation"] == "private"
    assert d.detail["userns_fd_path"] == "user:[4026532001]"
    assert decode_exit(d, ctx, -1).errno == "EPERM"


def test_mount_setattr_atime_field() -> None:
    mem = FakeMemory()
    attr = mem.u64s(N.MOUNT_ATTR_RELATIME | N.MOUNT_ATTR_RDONLY, N.MOUNT_ATTR__ATIME, 0, 0)
    d = decode_entry(make_ctx("mount_setattr", F.AT_FDCWD, mem.str("/mnt"), 0, attr, 32, mem=mem))
    assert d is not None and d.args[3].fields is not None
    assert d.args[3].fields["attr_set"] == "MOUNT_ATTR_RELATIME|MOUNT_ATTR_RDONLY"
    assert d.args[3].fields["attr_clr"] == "MOUNT_ATTR__ATIME"
    assert d.args[3].fields["userns_fd"] == "0"
    attr = mem.u64s(N.MOUNT_ATTR_STRICTATIME, 0x10 | N.MOUNT_ATTR_NOEXEC, 0x7, 0)
    d = decode_entry(make_ctx("mount_setattr", F.AT_FDCWD, mem.str("/mnt"), 0, attr, 32, mem=mem))
    assert d is not None and d.args[3].fields is not None
    assert d.args[3].fields["attr_set"] == "MOUNT_ATTR_STRICTATIME"
    assert d.args[3].fields["attr_clr"] == "MOUNT_ATTR_NOEXEC|0x10"
    assert d.args[3].fields["propagation"] == "0x7 /* MS_??? */"


def test_mount_setattr_bad_struct() -> None:
    mem = FakeMemory()
    path = mem.str("/mnt")
    d = decode_entry(make_ctx("mount_setattr", F.AT_FDCWD, path, 0, UNMAPPED, 32, mem=mem))
    assert d is not None and d.args[3].text == hex(UNMAPPED)
    small = mem.u64s(1, 0, 0, 0)
    d = decode_entry(make_ctx("mount_setattr", F.AT_FDCWD, path, 0, small, 16, mem=mem))
    assert d is not None and d.args[3].text == hex(small)  # the kernel rejects sizes below VER0
    d = decode_entry(make_ctx("mount_setattr", F.AT_FDCWD, path, 0, 0, 32, mem=mem))
    assert d is not None and d.args[3].text == "NULL"

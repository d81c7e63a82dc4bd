"""mount, umount2, pivot_root, chroot."""

from __future__ import annotations

from boxtrace.tracer.decoders import decode_entry, decode_exit
from boxtrace.tracer.decoders.mount import overlay_layers, parse_options, split_escaped
from boxtrace.tracer.tables import mount as M
from tests.tracer.test_decode_fakes import UNMAPPED, FakeMemory, FakeProc, make_ctx


def test_overlay_mount_onto_proc_self_fd() -> None:
    mem = FakeMemory()
    data = "lowerdir=/img/l2:/img/l1,upperdir=/run/box/upper,workdir=/run/box/work,index=off"
    ctx = make_ctx(
        "mount",
        mem.str("overlay"),
        mem.str("/proc/self/fd/6"),
        mem.str("overlay"),
        M.MS_NODEV | M.MS_NOSUID,
        mem.str(data),
        mem=mem,
        proc=FakeProc({6: "/run/box/rootfs"}),
    )
    d = decode_entry(ctx)
    assert d is not None and d.category == "mount"
    assert [a.name for a in d.args] == ["source", "target", "filesystemtype", "mountflags", "data"]
    assert [a.text for a in d.args[:4]] == [
        '"overlay"',
        '"/proc/self/fd/6"',
        '"overlay"',
        "MS_NOSUID|MS_NODEV",
    ]
    assert d.args[4].text == f'"{data}"'
    assert d.detail["resolved"] == {"target": "/run/box/rootfs"}
    assert d.detail["target"] == "/run/box/rootfs"
    assert d.detail["operation"] == "new" and d.detail["fstype"] == "overlay"
    assert d.detail["lowerdir"] == ["/img/l2", "/img/l1"]
    assert d.detail["upperdir"] == "/run/box/upper" and d.detail["workdir"] == "/run/box/work"
    assert d.detail["options"]["index"] == "off"
    assert decode_exit(d, ctx, 0).result_text == "0"
    done = decode_exit(d, ctx, -1)
    assert (done.result_text, done.errno) == ("-1 EPERM (Operation not permitted)", "EPERM")


def test_overlay_escapes_and_data_only_layers() -> None:
    opts = parse_options(r"lowerdir=/a\:b:/c::/data1:/data2,upperdir=/u\,x,workdir=/w")
    layers = overlay_layers(opts)
    assert layers["lowerdir"] == ["/a:b", "/c"]
    assert layers["lowerdir_data_only"] == ["/data1", "/data2"]
    assert layers["upperdir"] == "/u,x"
    assert split_escaped(r"a\,b,c", ",") == ["a,b", "c"]


def test_tmpfs_options() -> None:
    mem = FakeMemory()
    ctx = make_ctx(
        "mount",
        mem.str("tmpfs"),
        mem.str("/run/box/rootfs/dev"),
        mem.str("tmpfs"),
        M.MS_NOSUID | M.MS_STRICTATIME,
        mem.str("mode=755,size=65536k"),
        mem=mem,
    )
    d = decode_entry(ctx)
    assert d is not None
    assert d.detail["options"] == {"mode": "755", "size": "65536k"}
    assert "resolved" not in d.detail  # an absolute path needs no resolving


def test_bind_mount_ignores_type_and_data() -> None:
    mem = FakeMemory()
    ctx = make_ctx(
        "mount",
        mem.str("etc/hosts"),
        mem.str("rootfs/etc/hosts"),
        0x1234,
        M.MS_BIND | M.MS_REC,
        0x5678,
        mem=mem,
        proc=FakeProc(cwd="/run/box"),
    )
    d = decode_entry(ctx)
    assert d is not None
    assert d.args[2].text == "0x1234" and d.args[4].text == "0x5678"
    assert d.args[3].text == "MS_BIND|MS_REC"
    assert d.detail["operation"] == "bind" and d.detail["recursive"] is True
    assert d.detail["resolved"] == {"source": "/run/box/etc/hosts", "target": "/run/box/rootfs/etc/hosts"}
    assert d.detail["source"] == "/run/box/etc/hosts"


def test_make_root_private() -> None:
    mem = FakeMemory()
    d = decode_entry(make_ctx("mount", 0, mem.str("/"), 0, M.MS_REC | M.MS_PRIVATE, 0, mem=mem))
    assert d is not None
    assert [a.text for a in d.args] == ["NULL", '"/"', "NULL", "MS_REC|MS_PRIVATE", "NULL"]
    assert d.detail["operation"] == "propagation" and d.detail["propagation"] == "private"


def test_read_only_bind_remount_reads_data_not_type() -> None:
    mem = FakeMemory()
    flags = M.MS_REMOUNT | M.MS_BIND | M.MS_RDONLY | M.MS_NOSUID
    d = decode_entry(make_ctx("mount", 0, mem.str("/proc/sys"), 0xAB, flags, mem.str(""), mem=mem))
    assert d is not None
    assert d.args[2].text == "0xab" and d.args[4].text == '""'
    assert d.args[3].text == "MS_RDONLY|MS_NOSUID|MS_REMOUNT|MS_BIND"
    assert d.detail["operation"] == "remount-bind" and d.detail["readonly"] is True


def test_old_magic_and_unknown_bits() -> None:
    mem = FakeMemory()
    target = mem.str("/mnt")
    d = decode_entry(make_ctx("mount", mem.str("none"), target, mem.str("proc"), M.MS_MGC_VAL, 0, mem=mem))
    assert d is not None and d.args[3].text == "MS_MGC_VAL" and d.args[3].flags == []
    d = decode_entry(make_ctx("mount", 0, target, mem.str("proc"), M.MS_MGC_VAL | M.MS_RDONLY, 0, mem=mem))
    assert d is not None and d.args[3].text == "MS_MGC_VAL|MS_RDONLY"
    d = decode_entry(make_ctx("mount", 0, target, mem.str("proc"), M.MS_NOEXEC | (1 << 40), 0, mem=mem))
    assert d is not None and d.args[3].text == "MS_NOEXEC|0x10000000000"
    d = decode_entry(make_ctx("mount", 0, target, mem.str("proc"), 0, 0, mem=mem))
    assert d is not None and d.args[3].text == "0" and d.args[4].text == "NULL"


def test_null_and_unreadable_pointers() -> None:
    d = decode_entry(make_ctx("mount", UNMAPPED, 0, UNMAPPED, 0, UNMAPPED))
    assert d is not None
    assert [a.text for a in d.args] == [hex(UNMAPPED), "NULL", hex(UNMAPPED), "0", hex(UNMAPPED)]
    assert d.detail["target"] is None and "options" not in d.detail


def test_long_strings_are_cut_in_text_not_in_detail() -> None:
    mem = FakeMemory()
    data = "lowerdir=" + ":".join(f"/layers/{i:04d}" for i in range(100))
    d = decode_entry(make_ctx("mount", 0, mem.str("/m"), mem.str("overlay"), 0, mem.str(data), mem=mem))
    assert d is not None
    assert d.args[4].text.endswith('"...') and len(d.args[4].text) < 300
    assert len(d.detail["lowerdir"]) == 100


def test_umount2() -> None:
    mem = FakeMemory()
    ctx = make_ctx("umount2", mem.str("/.oldroot"), M.MNT_DETACH, mem=mem)
    d = decode_entry(ctx)
    assert d is not None and d.category == "mount"
    assert [a.text for a in d.args] == ['"/.oldroot"', "MNT_DETACH"]
    assert decode_exit(d, ctx, -16).result_text == "-1 EBUSY (Device or resource busy)"
    d = decode_entry(
        make_ctx("umount2", mem.str("x"), M.UMOUNT_NOFOLLOW | 0x10, mem=mem, proc=FakeProc(cwd="/a"))
    )
    assert d is not None and d.args[1].text == "UMOUNT_NOFOLLOW|0x10"
    assert d.detail["resolved"] == {"target": "/a/x"}


def test_pivot_root_dot_dot() -> None:
    mem = FakeMemory()
    dot = mem.str(".")
    ctx = make_ctx("pivot_root", dot, dot, mem=mem, proc=FakeProc(cwd="/run/box/rootfs"))
    d = decode_entry(ctx)
    assert d is not None and d.category == "mount"
    assert [a.text for a in d.args] == ['"."', '"."']
    assert d.detail["resolved"] == {"new_root": "/run/box/rootfs", "put_old": "/run/box/rootfs"}
    assert decode_exit(d, ctx, -22).errno == "EINVAL"


def test_pivot_root_unknown_cwd() -> None:
    mem = FakeMemory()
    d = decode_entry(make_ctx("pivot_root", mem.str("new"), 0, mem=mem, proc=FakeProc(cwd=None)))
    assert d is not None
    assert d.detail == {"new_root": "new", "put_old": None}


def test_chroot() -> None:
    mem = FakeMemory()
    ctx = make_ctx("chroot", mem.str("rootfs"), mem=mem, proc=FakeProc(cwd="/run/box"))
    d = decode_entry(ctx)
    assert d is not None and d.detail == {"path": "/run/box/rootfs", "resolved": {"path": "/run/box/rootfs"}}
    assert decode_exit(d, ctx, -2).result_text == "-1 ENOENT (No such file or directory)"

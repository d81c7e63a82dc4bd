"""explain(event) on crafted events shaped like the decoders' output (see the trace files in
docs/trace-format.md): the right entries, flag notes, detail and result, and honest fallbacks."""

from __future__ import annotations

from typing import Any

from boxtrace.lessons.catalogue import catalogue
from boxtrace.lessons.explain import explain, explain_names
from boxtrace.tracer.events import Arg, ExecEvent, ExitEvent, OutputEvent, SpawnEvent, SyscallEvent


def syscall(
    name: str,
    category: str,
    args: list[Arg],
    detail: dict[str, Any] | None = None,
    result: int | None = 0,
    errno: str | None = None,
    ns_changed: dict[str, int] | None = None,
) -> SyscallEvent:
    return SyscallEvent(
        seq=1,
        time=0.0,
        pid=100,
        tid=100,
        comm="rt",
        nspid=[100],
        name=name,
        nr=0,
        category_name=category,
        args=args,
        result=-1 if errno else result,
        result_text=f"-1 {errno}" if errno else str(result),
        errno=errno,
        ns_changed=ns_changed or {},
        detail=detail or {},
    )


def flags_arg(name: str, flags: list[str]) -> Arg:
    return Arg(name, 0, "|".join(flags) or "0", flags=flags)


def mount_private() -> SyscallEvent:
    return syscall(
        "mount",
        "mount",
        [
            Arg("source", 0, "NULL"),
            Arg("target", 1, '"/"'),
            Arg("filesystemtype", 0, "NULL"),
            flags_arg("mountflags", ["MS_REC", "MS_PRIVATE"]),
            Arg("data", 0, "NULL"),
        ],
        {
            "operation": "propagation",
            "source": None,
            "target": "/",
            "fstype": None,
            "flags": ["MS_REC", "MS_PRIVATE"],
            "recursive": True,
            "readonly": False,
            "propagation": "private",
        },
    )


def test_mount_rec_private() -> None:
    x = explain(mount_private())
    assert not x.fallback
    assert x.title == "Make a mount private (mount MS_REC|MS_PRIVATE)"
    assert x.entries[:3] == ("syscall.mount", "flag.MS_REC", "flag.MS_PRIVATE")
    assert [n.name for n in x.flags] == ["MS_REC", "MS_PRIVATE"]
    assert [n.entry for n in x.flags] == ["flag.MS_REC", "flag.MS_PRIVATE"]
    assert "mount(2)" in x.man and "mount_namespaces(7)" in x.man
    assert "shared" in x.without  # why it matters: systemd makes / shared
    assert x.missing == ()


def test_clone_with_namespace_flags() -> None:
    flags = ["CLONE_NEWNS", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWPID", "CLONE_NEWNET"]
    event = syscall(
        "clone",
        "namespace",
        [Arg("flags", 0, "|".join(flags) + "|SIGCHLD", flags=flags)],
        {"flags": flags, "namespaces": ["mnt", "uts", "ipc", "pid", "net"], "exit_signal": "SIGCHLD"},
        result=4242,
        ns_changed={"pid": 4026532180, "mnt": 4026532177},
    )
    x = explain(event)
    assert not x.fallback
    assert x.entries[0] == "syscall.clone"
    assert [n.entry for n in x.flags] == [f"flag.{f}" for f in flags]
    assert "`mnt, uts, ipc, pid, net`" in x.what
    assert x.result is not None and "child's pid" in x.result and "pid:[4026532180]" in x.result


def test_clone3_into_cgroup_and_set_tid() -> None:
    flags = ["CLONE_NEWPID", "CLONE_INTO_CGROUP"]
    event = syscall(
        "clone3",
        "namespace",
        [Arg("cl_args", 1, "{...}", flags=flags, fields={}), Arg("size", 88, "88")],
        {"flags": flags, "namespaces": ["pid"], "set_tid": [1], "cgroup_path": "/sys/fs/cgroup/box"},
        result=77,
    )
    x = explain(event)
    assert {"flag.CLONE_INTO_CGROUP", "flag.CLONE_NEWPID", "field.set_tid"} <= set(x.entries)


def test_pivot_root_einval_explains_the_mount_point_rule() -> None:
    event = syscall(
        "pivot_root",
        "mount",
        [Arg("new_root", 1, '"/tmp/rootfs"'), Arg("put_old", 2, '"/tmp/rootfs/old"')],
        {"new_root": "/tmp/rootfs", "put_old": "/tmp/rootfs/old"},
        errno="EINVAL",
    )
    x = explain(event)
    assert not x.fallback
    assert "error.pivot_root.EINVAL" in x.entries
    assert x.result is not None
    assert "not a mount point" in x.result and "bind-mount the rootfs onto itself" in x.result
    assert x.man[0] == "pivot_root(2)"


def test_an_error_without_its_own_entry_uses_the_errno_entry() -> None:
    event = syscall(
        "sethostname",
        "identity",
        [Arg("name", 1, '"x"'), Arg("len", 1, "1")],
        {"hostname": "x"},
        errno="ENAMETOOLONG",
    )
    x = explain(event)
    assert x.missing == ("errno.ENAMETOOLONG",)  # reported, so the gap gets filled
    assert not x.fallback  # the call itself is still explained
    event.errno = "EPERM"
    assert "error.sethostname.EPERM" in explain(event).entries


def test_cgroup_write_of_pids_max() -> None:
    event = syscall(
        "write",
        "cgroup",
        [Arg("fd", 5, "5</sys/fs/cgroup/pids/box/pids.max>"), Arg("buf", 1, '"64"'), Arg("count", 2, "2")],
        {
            "path": "/sys/fs/cgroup/pids/box/pids.max",
            "cgroup": "/box",
            "version": 1,
            "controller": "pids",
            "cgroup_file": "pids.max",
            "value": "64",
        },
        result=2,
    )
    x = explain(event)
    assert not x.fallback
    assert x.title == "Limit the number of processes (write pids.max)"
    assert x.entries == ("syscall.write", "cgroup.pids.max")
    assert "Writes `64` to `/sys/fs/cgroup/pids/box/pids.max`." in x.what
    assert "fork bomb" in x.why


def test_openat2_of_a_cgroup_file_explains_the_file_and_the_resolve_flags() -> None:
    how = Arg(
        "how",
        1,
        "{flags=O_WRONLY|O_CLOEXEC, resolve=RESOLVE_NO_MAGICLINKS|RESOLVE_BENEATH}",
        flags=["O_WRONLY", "O_CLOEXEC", "RESOLVE_NO_MAGICLINKS", "RESOLVE_BENEATH"],
    )
    event = syscall(
        "openat2",
        "cgroup",
        [
            Arg("dirfd", 3, "3</sys/fs/cgroup>"),
            Arg("pathname", 2, '"pids/box/pids.max"'),
            how,
            Arg("size", 24, "24"),
        ],
        {
            "path": "/sys/fs/cgroup/pids/box/pids.max",
            "flags": ["O_WRONLY", "O_CLOEXEC"],
            "resolve": ["RESOLVE_NO_MAGICLINKS", "RESOLVE_BENEATH"],
            "cgroup": "/box",
            "version": 1,
            "controller": "pids",
            "cgroup_file": "pids.max",
        },
        result=4,
    )
    x = explain(event)
    assert not x.fallback and not x.missing
    assert x.title == "Limit the number of processes (openat2 pids.max)"
    assert x.entries[:2] == ("syscall.openat2", "value.O_WRONLY")
    assert {"flag.RESOLVE_BENEATH", "flag.RESOLVE_NO_MAGICLINKS", "cgroup.pids.max"} <= set(x.entries)


def test_writev_and_pwrite64_explain_the_value_like_write() -> None:
    detail = {
        "path": "/sys/fs/cgroup/pids/box/pids.max",
        "cgroup": "/box",
        "version": 1,
        "controller": "pids",
        "cgroup_file": "pids.max",
        "value": "64",
    }
    fd = Arg("fd", 5, "5</sys/fs/cgroup/pids/box/pids.max>")
    writev = syscall(
        "writev",
        "cgroup",
        [fd, Arg("iov", 1, '[{iov_base="6", iov_len=1}, {iov_base="4", iov_len=1}]'), Arg("iovcnt", 2, "2")],
        detail,
        result=2,
    )
    pwrite = syscall(
        "pwrite64", "cgroup", [fd, Arg("buf", 1, '"64"'), Arg("count", 2, "2"), Arg("offset", 0, "0")], detail
    )
    for event, label in ((writev, "writev"), (pwrite, "pwrite64")):
        x = explain(event)
        assert not x.fallback
        assert x.title == f"Limit the number of processes ({label} pids.max)"
        assert x.entries == (f"syscall.{label}", "cgroup.pids.max")
        assert "Writes `64` to `/sys/fs/cgroup/pids/box/pids.max`." in x.what


def test_cgroup_file_the_catalogue_lacks_falls_back_but_says_what_is_known() -> None:
    event = syscall(
        "write",
        "cgroup",
        [Arg("fd", 5, "5"), Arg("buf", 1, '"1"'), Arg("count", 1, "1")],
        {
            "path": "/sys/fs/cgroup/x/gadget.knob",
            "cgroup": "/x",
            "version": 2,
            "controller": "gadget",
            "cgroup_file": "gadget.knob",
            "value": "1",
        },
        result=1,
    )
    x = explain(event)
    assert x.fallback
    assert x.missing == ("cgroup.gadget.knob",)
    assert x.entries == ("syscall.write",)


def test_uid_map_write() -> None:
    event = syscall(
        "write",
        "idmap",
        [Arg("fd", 7, "7</proc/4242/uid_map>"), Arg("buf", 1, '"0 100000 65536"'), Arg("count", 14, "14")],
        {
            "path": "/proc/4242/uid_map",
            "file": "uid_map",
            "target_pid": 4242,
            "value": "0 100000 65536",
            "mappings": [[0, 100000, 65536]],
        },
        result=14,
    )
    x = explain(event)
    assert not x.fallback
    assert "idmap.uid_map" in x.entries
    assert "`0 100000 65536`" in x.what
    assert "user_namespaces(7)" in x.man


def test_device_node_symlink_and_dev_directory() -> None:
    node = syscall(
        "mknodat",
        "device",
        [Arg("dirfd", -100, "AT_FDCWD"), Arg("pathname", 1, '"/r/dev/null"'), Arg("mode", 0, "S_IFCHR|0666")],
        {"path": "/r/dev/null", "type": "character device", "mode": "0666", "major": 1, "minor": 3},
    )
    # The file type is a note: S_IFCHR here, S_IFBLK for a block node.
    assert explain(node).entries == ("syscall.mknodat", "device.null", "value.S_IFCHR")
    link = syscall("symlink", "device", [], {"path": "/r/dev/ptmx", "target": "pts/ptmx"})
    assert "devlink.ptmx" in explain(link).entries
    directory = syscall("mkdir", "device", [], {"path": "/r/dev/shm"})
    assert "devdir.shm" in explain(directory).entries


def test_overlay_mount_shows_its_layers() -> None:
    event = syscall(
        "mount",
        "mount",
        [Arg("mountflags", 0, "0", flags=[])],
        {
            "operation": "new",
            "fstype": "overlay",
            "target": "/run/x/rootfs",
            "options": {"lowerdir": "/l1:/l2", "upperdir": "/u", "workdir": "/w"},
            "lowerdir": ["/l1", "/l2"],
            "upperdir": "/u",
            "workdir": "/w",
        },
    )
    x = explain(event)
    assert x.entries[:2] == ("syscall.mount", "fs.overlay")
    assert {"option.lowerdir", "option.upperdir", "option.workdir"} <= set(x.entries)
    assert "`/l1, /l2`" in x.what and "`/u`" in x.what


def test_prctl_option_is_the_subject_and_capability_a_note() -> None:
    event = syscall(
        "prctl",
        "security",
        [Arg("option", 24, "PR_CAPBSET_DROP"), Arg("cap", 21, "CAP_SYS_ADMIN")],
        {"capability": "CAP_SYS_ADMIN", "option": "PR_CAPBSET_DROP"},
    )
    x = explain(event)
    assert x.title == "Drop a capability from the bounding set (prctl PR_CAPBSET_DROP)"
    assert x.entries == ("syscall.prctl", "value.PR_CAPBSET_DROP", "cap.CAP_SYS_ADMIN")
    assert [n.name for n in x.flags] == ["CAP_SYS_ADMIN"]


def test_traced_strings_cannot_break_out_of_markdown_code() -> None:
    event = syscall("sethostname", "identity", [], {"hostname": "evil`\n# heading"})
    x = explain(event)
    assert "`evil' # heading`" in x.what


def test_unknown_syscall_is_a_fallback_with_generic_text() -> None:
    x = explain(syscall("frobnicate", "other", [Arg("arg0", 1, "0x1")]))
    assert x.fallback
    assert x.entries == ()
    assert x.missing == ("syscall.frobnicate",)
    assert "frobnicate" in x.title and x.man == ("frobnicate(2)",)


def test_file_call_without_a_specific_target_is_a_fallback() -> None:
    # With --all, a write to an ordinary file is reported: the write entry alone says nothing specific.
    x = explain(syscall("write", "file", [Arg("fd", 3, "3")], {"path": "/tmp/log"}))
    assert x.fallback
    assert x.entries == ("syscall.write",)


def test_process_events() -> None:
    base: dict[str, Any] = {"seq": 1, "time": 0.0, "pid": 1, "tid": 1, "comm": "x", "nspid": None}
    spawn = explain(SpawnEvent(**base, child=2, how="clone", flags=["CLONE_NEWPID"]))
    assert spawn.entries == ("event.spawn", "flag.CLONE_NEWPID") and not spawn.fallback
    thread = explain(SpawnEvent(**base, child=3, how="clone3", thread=True, flags=["CLONE_THREAD"]))
    assert thread.entries[0] == "event.spawn.thread"
    assert explain(ExecEvent(**base, path="/bin/true", argv=["true"])).entries == ("event.exec",)
    assert explain(ExitEvent(**base, status=0)).entries == ("event.exit",)
    killed = explain(ExitEvent(**base, signal="SIGKILL"))
    assert killed.entries == ("event.exit.signal",) and "`SIGKILL`" in killed.what
    assert explain(OutputEvent(**base, text="hi")).entries == ("event.output",)


def test_every_entry_id_listed_exists() -> None:
    cat = catalogue()
    for event in (mount_private(),):
        x = explain(event)
        assert all(entry in cat for entry in x.entries)


def test_explain_names_for_the_cli() -> None:
    x = explain_names("mount", ["MS_REC", "MS_PRIVATE"])
    assert x.entries == ("syscall.mount", "flag.MS_REC", "flag.MS_PRIVATE")
    assert explain_names("pivot_root", ["EINVAL"]).entries == (
        "syscall.pivot_root",
        "error.pivot_root.EINVAL",
    )
    assert explain_names("prctl", ["PR_SET_NO_NEW_PRIVS"]).flags[0].entry == "value.PR_SET_NO_NEW_PRIVS"
    assert explain_names("cgroup.pids.max", []).title == "Limit the number of processes"
    for bad in (("nosuchcall", []), ("mount", ["MS_NOPE"])):
        try:
            explain_names(bad[0], bad[1])
        except KeyError as exc:
            assert exc.args[0] in ("nosuchcall", "MS_NOPE")
        else:
            raise AssertionError(f"{bad} should have no entry")


# --- the console's note: the title alone, without the whole explanation --------------------------


def _recorded_events(tmp_path: Any) -> list[Any]:
    import gzip
    from pathlib import Path

    from boxtrace.tracer.tracefile import TraceReader

    data = Path(__file__).parent / "data"
    events = []
    for path in sorted([*data.glob("*.jsonl"), *(data / "runtimes").glob("*.jsonl.gz")]):
        if path.suffix == ".gz":
            plain = tmp_path / path.name.removesuffix(".gz")
            plain.write_bytes(gzip.decompress(path.read_bytes()))
            path = plain
        events += list(TraceReader(str(path)))
    return events


def test_note_title_is_the_explanations_title_unless_generic(tmp_path: Any) -> None:
    from boxtrace.lessons.explain import note_title

    events = _recorded_events(tmp_path)  # runc, crun, bwrap, nspawn, LXC, unshare, bpf
    crafted = [
        mount_private(),
        syscall("write", "cgroup", [Arg("fd", 3, "3")], {"cgroup_file": "pids.max", "path": "/x/pids.max"}),
        syscall("write", "cgroup", [Arg("fd", 3, "3")], {"cgroup_file": "no.such.file", "path": "/x/n"}),
        syscall("frobnicate", "other", []),
        syscall(
            "prctl", "security", [Arg("option", 38, "PR_SET_NO_NEW_PRIVS")], {"option": "PR_SET_NO_NEW_PRIVS"}
        ),
        syscall("pivot_root", "mount", [], errno="EINVAL"),
        SpawnEvent(seq=2, time=0.0, pid=1, tid=1, comm="x", nspid=[1], child=2, how="clone", thread=False),
        ExitEvent(seq=3, time=0.0, pid=1, tid=1, comm="x", nspid=[1], status=0),
    ]
    checked = fallbacks = 0
    for event in [*events, *crafted]:
        explanation = explain(event)
        assert note_title(event) == (None if explanation.fallback else explanation.title), event
        checked += 1
        fallbacks += explanation.fallback
    assert checked > 1000 and 0 < fallbacks < checked  # both kinds of answer were compared


def test_explanations_pickle_copy_compare_and_replace_as_dataclasses_did() -> None:
    import copy
    import pickle

    ex = explain(mount_private())
    again = pickle.loads(pickle.dumps(ex, pickle.HIGHEST_PROTOCOL))
    assert again == ex and hash(again) == hash(ex) and again is not ex
    assert copy.deepcopy(ex) == ex and again.flags[0] == ex.flags[0]
    changed = ex.replace(missing=("flag.X",))
    assert changed.missing == ("flag.X",) and changed.title == ex.title and changed != ex
    entry = catalogue()["flag.MS_REC"]
    assert pickle.loads(pickle.dumps(entry)) == entry
    assert entry.note.meaning == entry.what and entry.note is entry.note  # made once
    try:
        ex.title = "changed"  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("an Explanation must be immutable")

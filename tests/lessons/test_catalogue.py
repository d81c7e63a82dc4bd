"""The catalogue: it loads, it covers every call and flag the tracer can report, and a bad file is
refused with an error that names the file and the entry."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import boxtrace.tracer.decoders as decoders
from boxtrace.lessons.catalogue import KINDS, CatalogueError, catalogue, load_catalogue
from boxtrace.tracer.tables.capability import CAPABILITIES
from boxtrace.tracer.tables.default_set import DEFAULT_SYSCALLS
from boxtrace.tracer.tables.prctl import PRCTL_TRAPPED
from boxtrace.tracer.tables.xlat import Xlat


def decoder_tables() -> dict[str, Xlat]:
    """Every name -> value table a decoder module uses to name flags and values."""
    found: dict[str, Xlat] = {}
    for info in pkgutil.iter_modules(decoders.__path__):
        module = importlib.import_module(f"{decoders.__name__}.{info.name}")
        found.update({name: value for name, value in vars(module).items() if isinstance(value, Xlat)})
    # Capabilities are named through cap_name()/cap_set_names(), not an imported table.
    found["CAPABILITIES"] = CAPABILITIES
    return found


def reported_names(table_name: str, table: Xlat) -> list[str]:
    if table_name == "PRCTL_OPTIONS":
        # The default set traps (and so reports) only these prctl options; --all may report the
        # other ~70 (PR_GET_NAME, PR_SET_VMA...), which have nothing to do with containers.
        from boxtrace.tracer.decoders.prctl import OPTION_DECODERS

        wanted = PRCTL_TRAPPED | set(OPTION_DECODERS)
        return [name for name, value in table if value in wanted]
    if table_name == "BPF_COMMANDS":
        # The commands decoded field by field, those runtimes use; the other thirty-odd are shown
        # generically and explained by syscall.bpf alone (lessons/explain.py _bpf).
        from boxtrace.tracer.tables.bpf import ATTR_LAYOUTS

        return [name for name, value in table if value in ATTR_LAYOUTS]
    return [name for name, _ in table]


def test_the_packaged_catalogue_loads_and_is_large() -> None:
    cat = catalogue()
    assert len(cat) > 300
    assert catalogue() is cat  # loaded once per process
    assert {e.kind for e in cat} <= set(KINDS)


def test_decoder_tables_are_walked() -> None:
    tables = decoder_tables()
    # If a refactor hid the tables from the walk, the coverage test below would pass vacuously.
    for name in ("CLONE3_FLAGS", "UNSHARE_FLAGS", "MOUNT_FLAGS", "UMOUNT_FLAGS", "FSCONFIG_CMDS"):
        assert name in tables
    assert {"MOUNT_ATTR_FLAGS", "MOVE_MOUNT_FLAGS", "OPEN_TREE_FLAGS", "PRCTL_OPTIONS", "SECCOMP_OPS"} <= set(
        tables
    )


@pytest.mark.parametrize("table_name", sorted(decoder_tables()))
def test_every_name_a_decoder_can_produce_has_an_entry(table_name: str) -> None:
    cat = catalogue()
    table = decoder_tables()[table_name]
    missing = [
        name
        for name in reported_names(table_name, table)
        if not any(f"{kind}.{name}" in cat for kind in ("flag", "value", "cap"))
    ]
    assert not missing, f"{table_name}: no catalogue entry for {missing}"


def test_every_syscall_of_the_default_set_has_an_entry() -> None:
    cat = catalogue()
    missing = sorted(name for name in DEFAULT_SYSCALLS if f"syscall.{name}" not in cat)
    assert not missing, f"no syscall entry for {missing}"


@pytest.mark.parametrize(
    "entry_id",
    [
        "flag.CLONE_NEWTIME",
        "flag.CLONE_NEWCGROUP",
        "flag.CLONE_INTO_CGROUP",
        "field.set_tid",
        "flag.MS_SHARED",
        "flag.MS_PRIVATE",
        "flag.MS_SLAVE",
        "flag.MS_UNBINDABLE",
        "flag.MS_REC",
        "flag.MS_BIND",
        "flag.MS_MOVE",
        "flag.MS_REMOUNT",
        "flag.MNT_DETACH",
        "flag.MNT_FORCE",
        "flag.MNT_EXPIRE",
        "flag.UMOUNT_NOFOLLOW",
        "flag.MOUNT_ATTR_IDMAP",
        "value.FSCONFIG_SET_STRING",
        "value.PR_SET_NO_NEW_PRIVS",
        "value.PR_CAPBSET_DROP",
        "value.PR_SET_KEEPCAPS",
        "value.PR_SET_DUMPABLE",
        "cap.CAP_SYS_ADMIN",
        "cgroup.create",
        "cgroup.remove",
        "cgroup.cgroup.procs",
        "cgroup.pids.max",
        "cgroup.memory.max",
        "cgroup.memory.limit_in_bytes",
        "cgroup.cpu.max",
        "cgroup.cpu.cfs_quota_us",
        "cgroup.cpu.shares",
        "cgroup.cpu.weight",
        "cgroup.memory.swap.max",
        "cgroup.cgroup.subtree_control",
        "cgroup.tasks",
        "idmap.uid_map",
        "idmap.gid_map",
        "idmap.setgroups",
        "device.null",
        "device.zero",
        "device.full",
        "device.random",
        "device.urandom",
        "device.tty",
        "devlink.ptmx",
        "devlink.fd",
        "fs.overlay",
        "option.lowerdir",
        "option.upperdir",
        "option.workdir",
        "errno.EPERM",
        "errno.EINVAL",
        "errno.EBUSY",
        "errno.ENOSYS",
        "errno.EACCES",
        "errno.ENOENT",
        "errno.EEXIST",
        "error.pivot_root.EINVAL",
        "event.spawn",
        "event.exec",
        "event.exit",
        "event.output",
    ],
)
def test_the_issue_asks_for_this_entry(entry_id: str) -> None:
    assert entry_id in catalogue()


def test_every_capability_has_an_entry() -> None:
    cat = catalogue()
    assert [name for name, _ in CAPABILITIES if f"cap.{name}" not in cat] == []


def test_entries_cite_man_pages_and_keep_titles_short() -> None:
    for entry in catalogue():
        assert entry.man, entry.id
        assert all("(" in page for page in entry.man), entry.id
        assert len(entry.title) <= 80, entry.id
        assert entry.what and entry.why and entry.without and entry.runtimes, entry.id


def test_pivot_root_einval_says_new_root_must_be_a_mount_point() -> None:
    entry = catalogue()["error.pivot_root.EINVAL"]
    assert "not a mount point" in entry.what
    assert entry.fix is not None and "bind" in entry.fix


def test_find_by_bare_name() -> None:
    cat = catalogue()
    assert [e.id for e in cat.find("MS_REC")] == ["flag.MS_REC"]
    assert [e.id for e in cat.find("cgroup.pids.max")] == ["cgroup.pids.max"]
    assert [e.id for e in cat.find("pids.max")] == ["cgroup.pids.max"]
    assert cat.find("MS_NOPE") == ()


# --- validation ---------------------------------------------------------------------------------------

GOOD = """
[[entry]]
id = "syscall.mount"
title = "Mount"
what = "Mounts."
why = "Because."
without = "Nothing."
man = ["mount(2)"]
runtimes = "runc mounts."
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", GOOD)
    cat = load_catalogue(tmp_path)
    assert cat["syscall.mount"].man == ("mount(2)",)
    assert cat["syscall.mount"].source == "a.toml"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (('man = ["mount(2)"]', ""), "missing required key(s) man"),
        (('id = "syscall.mount"', 'id = "gadget.mount"'), "unknown kind 'gadget'"),
        (('id = "syscall.mount"', 'id = "mount"'), "id must be KIND.NAME"),
        (('man = ["mount(2)"]', 'man = ["mount"]'), "not of the form name(N)"),
        (('man = ["mount(2)"]', 'man = ["mount(2)"]\nsee_also = "x"'), "unknown key(s) see_also"),
        (('why = "Because."', 'why = ""'), "why must be a non-empty string"),
        (('title = "Mount"', 'title = "' + "x" * 81 + '"'), "title must be one line"),
        (('runtimes = "runc mounts."', 'runtimes = "runc"\nhere = "at {target!r}"'), "plain name"),
    ],
)
def test_a_bad_entry_is_refused_naming_file_and_entry(
    tmp_path: Path, change: tuple[str, str], problem: str
) -> None:
    old, new = change
    path = write(tmp_path, "mounts.toml", GOOD.replace(old, new))
    with pytest.raises(CatalogueError) as info:
        load_catalogue(tmp_path)
    message = str(info.value)
    assert str(path) in message
    assert problem in message
    if "unknown kind" not in problem and "KIND.NAME" not in problem:
        assert "entry syscall.mount" in message


def test_an_entry_without_id_is_named_by_its_position(tmp_path: Path) -> None:
    write(tmp_path, "x.toml", GOOD + GOOD.replace('id = "syscall.mount"\n', ""))
    with pytest.raises(CatalogueError, match=r"x\.toml: entry #2: missing required key\(s\) id"):
        load_catalogue(tmp_path)


def test_duplicate_ids_across_files_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", GOOD)
    write(tmp_path, "b.toml", GOOD)
    with pytest.raises(
        CatalogueError, match=r"b\.toml: entry syscall\.mount: duplicate id, first defined in a\.toml"
    ):
        load_catalogue(tmp_path)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, "broken.toml", GOOD + "\n[[entry]\n")
    with pytest.raises(CatalogueError, match=r"broken\.toml: not valid TOML"):
        load_catalogue(tmp_path)


def test_defaults_fill_entries_but_cannot_set_ids(tmp_path: Path) -> None:
    write(tmp_path, "d.toml", '[defaults]\nman = ["x(7)"]\n' + GOOD.replace('man = ["mount(2)"]\n', ""))
    assert load_catalogue(tmp_path)["syscall.mount"].man == ("x(7)",)
    write(tmp_path, "d.toml", '[defaults]\nid = "syscall.x"\n' + GOOD)
    with pytest.raises(CatalogueError, match=r"d\.toml: \[defaults\] cannot set id"):
        load_catalogue(tmp_path)


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="no catalogue files"):
        load_catalogue(tmp_path)


def test_parsed_files_are_cached_and_the_cache_follows_edits(tmp_path: Path) -> None:
    source = tmp_path / "cat"
    source.mkdir()
    entry = (
        '[[entry]]\nid = "syscall.mount"\ntitle = "Mount"\nwhat = "Mounts."\nwhy = "Why."\n'
        'without = "Without."\nman = ["mount(2)"]\nruntimes = "runc mounts."\n'
    )
    (source / "a.toml").write_text(entry)
    cache = tmp_path / "cache"
    assert load_catalogue(source, cache_dir=str(cache))["syscall.mount"].title == "Mount"
    [cache_file] = cache.iterdir()
    assert cache_file.name.startswith("catalogue-checked") and cache_file.suffix == ".marshal"
    # the cached copy is used as long as the file is unchanged ...
    assert load_catalogue(source, cache_dir=str(cache))["syscall.mount"].title == "Mount"
    # ... and an edit (new size and time) is read again, and validated again
    (source / "a.toml").write_text(entry.replace('title = "Mount"', 'title = "Mount a filesystem"'))
    assert load_catalogue(source, cache_dir=str(cache))["syscall.mount"].title == "Mount a filesystem"
    (source / "a.toml").write_text(entry.replace('man = ["mount(2)"]', 'man = ["mount"]'))
    with pytest.raises(CatalogueError, match="not of the form name"):
        load_catalogue(source, cache_dir=str(cache))


def test_two_catalogue_directories_keep_caches_of_their_own(tmp_path: Path) -> None:
    entry = (
        '[[entry]]\nid = "syscall.mount"\ntitle = "{title}"\nwhat = "Mounts."\nwhy = "Why."\n'
        'without = "Without."\nman = ["mount(2)"]\nruntimes = "runc mounts."\n'
    )
    cache = tmp_path / "cache"
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.toml").write_text(entry.format(title=name))
        load_catalogue(tmp_path / name, cache_dir=str(cache))
    assert len(list(cache.iterdir())) == 2
    assert load_catalogue(tmp_path / "one", cache_dir=str(cache))["syscall.mount"].title == "one"

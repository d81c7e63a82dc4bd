"""Every flag table: structure, round trips through flags_text/enum_text, and values against the kernel.

Values are checked three ways: spot checks written from the kernel uapi headers, the C library's view
through Python's stdlib (os.O_*, stat.S_IF*, signal, errno), and, when this machine has them, the
installed kernel headers (/usr/include/linux) parsed for every name both sides define.
"""

from __future__ import annotations

import errno
import importlib
import os
import pkgutil
import re
import signal
import stat
from pathlib import Path

import pytest

import boxtrace.tracer.tables as tables_pkg
from boxtrace.tracer.tables import capability, clone, fcntl, fsmount, mount, openat2, prctl, rw, seccomp
from boxtrace.tracer.tables import stat as bstat
from boxtrace.tracer.tables.errnos import ERRNO_NUMBERS, ERRNOS, errno_name, errno_text
from boxtrace.tracer.tables.signals import SIGNALS, signal_name
from boxtrace.tracer.tables.xlat import Xlat, enum_text, flags_text, parse_flags


def _all_tables() -> dict[str, Xlat]:
    found: dict[str, Xlat] = {}
    for info in pkgutil.iter_modules(tables_pkg.__path__):
        module = importlib.import_module(f"boxtrace.tracer.tables.{info.name}")
        for attr, value in vars(module).items():
            if isinstance(value, Xlat):
                found[f"{info.name}.{attr}"] = value
    return found


ALL_TABLES = _all_tables()

# Tables whose values are alternatives, not bits to combine.
ENUM_TABLES = {
    "capability.CAPABILITIES",
    "bpf.BPF_ATTACH_TYPES",
    "bpf.BPF_COMMANDS",
    "bpf.BPF_MAP_TYPES",
    "bpf.BPF_PROG_TYPES",
    "capability.CAP_VERSIONS",
    "fcntl.OPEN_ACCESS_MODES",
    "fsmount.FSCONFIG_CMDS",
    "fsmount.MOUNT_ATTR_ATIME",
    "fsmount.MOUNT_ATTR_PROPAGATION",
    "prctl.PRCTL_OPTIONS",
    "prctl.PR_CAP_AMBIENT_OPS",
    "prctl.SUID_DUMP_MODES",
    "seccomp.SECCOMP_MODES",
    "seccomp.SECCOMP_OPS",
    "seccomp.SECCOMP_RET_ACTIONS",
    "signals.SIGNALS",
    "stat.FILE_TYPES",
}
FLAG_TABLES = {k: v for k, v in ALL_TABLES.items() if k not in ENUM_TABLES}


def test_tables_were_found() -> None:
    assert len(ALL_TABLES) >= 30
    assert set(ALL_TABLES) >= ENUM_TABLES
    assert "clone.CLONE3_FLAGS" in FLAG_TABLES


@pytest.mark.parametrize("key", sorted(ALL_TABLES))
def test_names_and_values_are_unique(key: str) -> None:
    table = ALL_TABLES[key]
    assert len(table) > 0
    values = [v for _, v in table]
    assert len(set(values)) == len(values), f"{key}: two names share a value"
    for name, value in table:
        assert re.fullmatch(r"_{0,2}[A-Z][A-Z0-9_]*", name), name
        assert isinstance(value, int) and value >= 0


@pytest.mark.parametrize("key", sorted(FLAG_TABLES))
def test_every_flag_round_trips(key: str) -> None:
    table = FLAG_TABLES[key]
    for name, value in table:
        if value == 0:
            continue
        names, text = flags_text(value, table)
        assert (names, text) == ([name], name), key
        assert parse_flags(names, table) == value


@pytest.mark.parametrize("key", sorted(FLAG_TABLES))
def test_all_flags_together_leave_no_remainder(key: str) -> None:
    table = FLAG_TABLES[key]
    names, text = flags_text(table.mask, table)
    assert "0x" not in text
    assert parse_flags(names, table) == table.mask


@pytest.mark.parametrize("key", sorted(ENUM_TABLES))
def test_every_enum_value_round_trips(key: str) -> None:
    table = ALL_TABLES[key]
    for name, value in table:
        assert enum_text(value, table) == name


def test_flags_text_formats_like_strace() -> None:
    value = clone.CLONE_NEWNS | clone.CLONE_NEWPID | 0x4
    assert flags_text(value, clone.CLONE_FLAGS) == (
        ["CLONE_NEWNS", "CLONE_NEWPID"],
        "CLONE_NEWNS|CLONE_NEWPID|0x4",
    )
    assert flags_text(0, clone.CLONE_FLAGS) == ([], "0")
    assert flags_text(0x4, clone.CLONE_FLAGS) == ([], "0x4")
    # a negative register value is the unsigned 64-bit pattern
    names, _ = flags_text(-1, mount.UMOUNT_FLAGS)
    assert names == ["MNT_FORCE", "MNT_DETACH", "MNT_EXPIRE", "UMOUNT_NOFOLLOW"]


def test_multi_bit_flags_win_over_their_parts() -> None:
    assert flags_text(fcntl.O_SYNC, fcntl.OPEN_FLAGS)[1] == "O_SYNC"
    assert flags_text(fcntl.O_DSYNC, fcntl.OPEN_FLAGS)[1] == "O_DSYNC"
    assert flags_text(fcntl.O_TMPFILE | fcntl.O_CREAT, fcntl.OPEN_FLAGS)[1] == "O_TMPFILE|O_CREAT"
    assert flags_text(fcntl.O_DIRECTORY, fcntl.OPEN_FLAGS)[1] == "O_DIRECTORY"


def test_enum_text_unknown_value() -> None:
    assert enum_text(0x2A, fsmount.FSCONFIG_CMDS) == "0x2a /* FSCONFIG_??? */"
    assert enum_text(-5, prctl.PRCTL_OPTIONS) == "-5 /* PR_??? */"
    assert enum_text(99, Xlat({"A": 1})) == "0x63"


# --- values -------------------------------------------------------------------------------------

# Written from include/uapi/linux/{sched,mount,fcntl,prctl,capability,seccomp}.h.
SPOT_CHECKS: dict[str, int] = {
    "clone.CLONE_NEWTIME": 0x80,
    "clone.CLONE_VM": 0x100,
    "clone.CLONE_PIDFD": 0x1000,
    "clone.CLONE_THREAD": 0x10000,
    "clone.CLONE_NEWNS": 0x20000,
    "clone.CLONE_NEWCGROUP": 0x02000000,
    "clone.CLONE_NEWUTS": 0x04000000,
    "clone.CLONE_NEWIPC": 0x08000000,
    "clone.CLONE_NEWUSER": 0x10000000,
    "clone.CLONE_NEWPID": 0x20000000,
    "clone.CLONE_NEWNET": 0x40000000,
    "clone.CLONE_IO": 0x80000000,
    "clone.CLONE_CLEAR_SIGHAND": 0x100000000,
    "clone.CLONE_INTO_CGROUP": 0x200000000,
    "mount.MS_RDONLY": 1,
    "mount.MS_REMOUNT": 32,
    "mount.MS_BIND": 4096,
    "mount.MS_MOVE": 8192,
    "mount.MS_REC": 16384,
    "mount.MS_UNBINDABLE": 1 << 17,
    "mount.MS_PRIVATE": 1 << 18,
    "mount.MS_SLAVE": 1 << 19,
    "mount.MS_SHARED": 1 << 20,
    "mount.MS_RELATIME": 1 << 21,
    "mount.MS_STRICTATIME": 1 << 24,
    "mount.MS_LAZYTIME": 1 << 25,
    "mount.MS_MGC_VAL": 0xC0ED0000,
    "mount.MNT_FORCE": 1,
    "mount.MNT_DETACH": 2,
    "mount.MNT_EXPIRE": 4,
    "mount.UMOUNT_NOFOLLOW": 8,
    "fsmount.FSOPEN_CLOEXEC": 1,
    "fsmount.FSCONFIG_SET_FLAG": 0,
    "fsmount.FSCONFIG_SET_STRING": 1,
    "fsmount.FSCONFIG_SET_FD": 5,
    "fsmount.FSCONFIG_CMD_CREATE": 6,
    "fsmount.FSCONFIG_CMD_CREATE_EXCL": 8,
    "fsmount.FSMOUNT_CLOEXEC": 1,
    "fsmount.MOUNT_ATTR_RDONLY": 1,
    "fsmount.MOUNT_ATTR__ATIME": 0x70,
    "fsmount.MOUNT_ATTR_NOATIME": 0x10,
    "fsmount.MOUNT_ATTR_STRICTATIME": 0x20,
    "fsmount.MOUNT_ATTR_IDMAP": 0x100000,
    "fsmount.MOUNT_ATTR_NOSYMFOLLOW": 0x200000,
    "fsmount.MOVE_MOUNT_F_EMPTY_PATH": 4,
    "fsmount.MOVE_MOUNT_T_EMPTY_PATH": 0x40,
    "fsmount.MOVE_MOUNT_BENEATH": 0x200,
    "fsmount.OPEN_TREE_CLONE": 1,
    "fsmount.OPEN_TREE_CLOEXEC": 0o2000000,
    "fsmount.FSPICK_EMPTY_PATH": 8,
    "fcntl.AT_FDCWD": -100,
    "fcntl.AT_SYMLINK_NOFOLLOW": 0x100,
    "fcntl.AT_REMOVEDIR": 0x200,
    "fcntl.AT_NO_AUTOMOUNT": 0x800,
    "fcntl.AT_EMPTY_PATH": 0x1000,
    "fcntl.AT_RECURSIVE": 0x8000,
    "prctl.PR_SET_PDEATHSIG": 1,
    "prctl.PR_SET_DUMPABLE": 4,
    "prctl.PR_SET_KEEPCAPS": 8,
    "prctl.PR_SET_NAME": 15,
    "prctl.PR_SET_SECCOMP": 22,
    "prctl.PR_CAPBSET_READ": 23,
    "prctl.PR_CAPBSET_DROP": 24,
    "prctl.PR_SET_SECUREBITS": 28,
    "prctl.PR_SET_CHILD_SUBREAPER": 36,
    "prctl.PR_SET_NO_NEW_PRIVS": 38,
    "prctl.PR_CAP_AMBIENT": 47,
    "prctl.PR_CAP_AMBIENT_RAISE": 2,
    "prctl.PR_CAP_AMBIENT_CLEAR_ALL": 4,
    "prctl.PR_SET_PTRACER": 0x59616D61,
    "capability._LINUX_CAPABILITY_VERSION_3": 0x20080522,
    "seccomp.SECCOMP_SET_MODE_FILTER": 1,
    "seccomp.SECCOMP_FILTER_FLAG_NEW_LISTENER": 8,
    "seccomp.SECCOMP_RET_KILL_PROCESS": 0x80000000,
    "seccomp.SECCOMP_RET_ERRNO": 0x00050000,
    "seccomp.SECCOMP_RET_TRACE": 0x7FF00000,
    "seccomp.SECCOMP_RET_ALLOW": 0x7FFF0000,
    # include/uapi/linux/{openat2,fs,uio}.h
    "openat2.RESOLVE_NO_XDEV": 0x01,
    "openat2.RESOLVE_BENEATH": 0x08,
    "openat2.RESOLVE_CACHED": 0x20,
    "openat2.OPENAT2_REGULAR": 1 << 32,
    "openat2.OPEN_HOW_SIZE_VER0": 24,
    "rw.RWF_HIPRI": 0x01,
    "rw.RWF_APPEND": 0x10,
    "rw.RWF_NOSIGNAL": 0x100,
    "rw.IOV_MAX": 1024,
}
MODULES = {
    "clone": clone,
    "mount": mount,
    "fsmount": fsmount,
    "fcntl": fcntl,
    "prctl": prctl,
    "capability": capability,
    "seccomp": seccomp,
    "openat2": openat2,
    "rw": rw,
}


@pytest.mark.parametrize("key", sorted(SPOT_CHECKS))
def test_spot_check_against_headers(key: str) -> None:
    module, name = key.split(".")
    assert getattr(MODULES[module], name) == SPOT_CHECKS[key]


def test_capabilities() -> None:
    caps = capability.CAPABILITIES
    assert caps.by_name["CAP_CHOWN"] == 0
    assert caps.by_name["CAP_SYS_ADMIN"] == 21
    assert caps.by_name["CAP_MKNOD"] == 27
    assert caps.by_name["CAP_CHECKPOINT_RESTORE"] == 40 == capability.CAP_LAST_CAP
    assert sorted(caps.by_value) == list(range(41))
    assert capability.cap_set_names(0b101) == ["CAP_CHOWN", "CAP_DAC_READ_SEARCH"]
    assert capability.cap_set_names(1 << 45) == ["45"]
    assert capability.cap_set_hex((1 << 41) - 1) == "000001ffffffffff"


def test_clone_masks() -> None:
    assert clone.CLONE_NEW_MASK == 0x7E020080
    assert clone.CLONE_NEW_MASK_CLONE == 0x7E020000
    assert not clone.CLONE_NEW_MASK_CLONE & clone.CSIGNAL
    assert clone.namespaces_of(clone.CLONE_NEWNET | clone.CLONE_NEWUSER | clone.CLONE_NEWNS) == [
        "user",
        "mnt",
        "net",
    ]
    assert set(clone.NS_FILE_OF_FLAG) == set(clone.NS_CREATE_ORDER)
    assert "CLONE_NEWTIME" not in clone.CLONE_FLAGS  # clone(2) keeps the exit signal in that byte


def test_stdlib_agrees_on_open_flags() -> None:
    for name in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND", "O_NONBLOCK",
                 "O_DSYNC", "O_DIRECT", "O_DIRECTORY", "O_NOFOLLOW", "O_NOATIME", "O_CLOEXEC", "O_SYNC",
                 "O_PATH", "O_TMPFILE"):  # fmt: skip
        if hasattr(os, name):
            assert getattr(fcntl, name) == getattr(os, name), name
    assert fcntl.FASYNC == os.O_ASYNC


def test_stdlib_agrees_on_file_types_and_devices() -> None:
    for name in ("S_IFSOCK", "S_IFLNK", "S_IFREG", "S_IFBLK", "S_IFDIR", "S_IFCHR", "S_IFIFO"):
        assert getattr(bstat, name) == getattr(stat, name)
    for major, minor in ((1, 3), (5, 2), (136, 0), (4095, 255), (4096, 1 << 19), (259, 70000)):
        dev = os.makedev(major, minor)
        assert bstat.makedev(major, minor) == dev
        assert (bstat.dev_major(dev), bstat.dev_minor(dev)) == (os.major(dev), os.minor(dev))


def test_mode_text() -> None:
    assert bstat.mode_text(bstat.S_IFCHR | 0o666) == "S_IFCHR|0666"
    assert bstat.mode_text(bstat.S_IFBLK) == "S_IFBLK"
    assert bstat.mode_text(0o755) == "0755"
    assert bstat.mode_text(0) == "000"
    assert bstat.mode_text(0o4755) == "04755"
    assert bstat.mode_text(0o030000 | 0o644) == "030000|0644"


def test_signals_match_stdlib() -> None:
    for sig in signal.Signals:
        if sig.name in SIGNALS and sig.name not in ("SIGRTMIN", "SIGRTMAX"):
            assert SIGNALS.by_name[sig.name] == sig.value, sig.name
    assert signal_name(17) == "SIGCHLD"
    assert signal_name(34) == "SIGRT_2"
    assert signal_name(0) == "0"
    assert signal_name(99) == "99"


def test_errnos_match_stdlib() -> None:
    for number, name in errno.errorcode.items():
        assert ERRNO_NUMBERS[name] == number, name
        assert number in ERRNOS
    assert errno_name(1) == "EPERM"
    assert errno_name(95) == "EOPNOTSUPP"
    assert errno_name(35) == "EDEADLK"
    assert errno_text(38) == "ENOSYS (Function not implemented)"
    assert errno_text(512) == "ERESTARTSYS (To be restarted if SA_RESTART is set)"
    assert errno_name(4000) == "errno 4000"
    assert errno_text(4000) == "4000 (Unknown error 4000)"


# --- against the installed kernel headers -------------------------------------------------------

_INCLUDE = Path("/usr/include/linux")
_DEFINE = re.compile(r"^#\s*define\s+(\w+)\s+(.+?)\s*(?:/\*.*)?$")
_NUMERIC = re.compile(r"^[0-9a-fA-FxX()<|\s]+$")


def _header_values(name: str) -> dict[str, int]:
    """Numeric #defines of a header, with simple expressions like ``(1ULL << 32)`` evaluated."""
    out: dict[str, int] = {}
    for line in (_INCLUDE / name).read_text().splitlines():
        m = _DEFINE.match(line)
        if not m:
            continue
        expr = re.sub(r"(?<=[0-9a-fA-F])(ULL|UL|U|L)\b", "", m.group(2))
        if not _NUMERIC.match(expr):
            continue
        expr = re.sub(r"\b0([0-7]+)\b", r"0o\1", expr)  # C octal
        try:
            out[m.group(1)] = int(eval(expr, {"__builtins__": {}}))
        except (SyntaxError, TypeError, ValueError):
            continue
    return out


HEADER_TABLES: dict[str, list[str]] = {
    "sched.h": ["clone.CLONE3_FLAGS", "clone.UNSHARE_FLAGS"],
    "mount.h": [
        "mount.MOUNT_FLAGS",
        "fsmount.FSOPEN_FLAGS",
        "fsmount.FSMOUNT_FLAGS",
        "fsmount.MOUNT_ATTR_FLAGS",
        "fsmount.MOUNT_ATTR_ATIME",
        "fsmount.MOVE_MOUNT_FLAGS",
        "fsmount.FSPICK_FLAGS",
    ],
    "fcntl.h": ["fcntl.AT_FLAGS", "fcntl.EXECVEAT_FLAGS"],
    "openat2.h": ["openat2.RESOLVE_FLAGS"],
    "prctl.h": ["prctl.PRCTL_OPTIONS", "prctl.PR_CAP_AMBIENT_OPS"],
    "capability.h": ["capability.CAPABILITIES", "capability.CAP_VERSIONS"],
    "seccomp.h": [
        "seccomp.SECCOMP_OPS",
        "seccomp.SECCOMP_MODES",
        "seccomp.SECCOMP_FILTER_FLAGS",
        "seccomp.SECCOMP_RET_ACTIONS",
    ],
}


@pytest.mark.parametrize("header", sorted(HEADER_TABLES))
def test_tables_match_installed_kernel_headers(header: str) -> None:
    if not (_INCLUDE / header).exists():
        pytest.skip(f"no {_INCLUDE / header} on this machine")
    values = _header_values(header)
    compared = 0
    for key in HEADER_TABLES[header]:
        for name, value in ALL_TABLES[key]:
            if name in values:
                assert values[name] == value, f"{header}: {name}"
                compared += 1
    assert compared >= 5, f"parsed too little of {header}"


def test_every_module_constant_matches_its_table_entry() -> None:
    """A constant like ``MS_BIND`` and the table's ``"MS_BIND"`` entry must never drift apart."""
    for key, table in ALL_TABLES.items():
        module = importlib.import_module(f"boxtrace.tracer.tables.{key.split('.')[0]}")
        for name, value in table:
            constant = getattr(module, name, None)
            if isinstance(constant, int):
                assert constant == value, f"{key}: {name}"


def test_stdlib_agrees_on_rwf_flags() -> None:
    for name, value in rw.RWF_FLAGS:
        if hasattr(os, name):
            assert getattr(os, name) == value, name


def test_open_how_flags_are_open_flags_plus_openat2_own() -> None:
    assert set(openat2.OPEN_HOW_FLAGS.by_name) == set(fcntl.OPEN_FLAGS.by_name) | {"OPENAT2_REGULAR"}
    # OPENAT2_REGULAR lives where openat(2)'s int flags cannot reach
    assert openat2.OPENAT2_REGULAR > 0xFFFFFFFF

"""Device programs on a real cgroup v2 directory (root): compiled, loaded, attached, and obeyed.

A hybrid host's /sys/fs/cgroup/unified is a cgroup2 hierarchy like a pure v2 host's
/sys/fs/cgroup: the kernel runs the device programs of a process's cgroup there (on top of the v1
devices controller). Each test makes a cgroup, attaches a program, forks a child that moves itself
into the cgroup and opens or creates device nodes made in a temporary directory, and reads what
the kernel said: EPERM from the program, or anything else from the device's driver (an allowed
/dev/tty without a controlling terminal says ENXIO: the program let the open through).
"""

from __future__ import annotations

import errno
import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxtrace.runtime import cgroup_bpf, syscalls
from boxtrace.runtime.cgroups import (
    create_cgroup,
    effective_device_rules,
    remove_cgroup_dir,
    set_v2_device_rules,
)
from boxtrace.runtime.device_filter import compile_rules, parse_rule
from boxtrace.runtime.ebpf import Program, encode
from boxtrace.runtime.errors import ContainerError
from boxtrace.runtime.spec import DeviceRule, Resources
from tests.conftest import needs_root


def cgroup2_root() -> str | None:
    """/sys/fs/cgroup on a pure v2 host, /sys/fs/cgroup/unified on a hybrid one."""
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if os.path.exists(os.path.join(root, "cgroup.controllers")):
            return root
    return None


ROOT = cgroup2_root()
pytestmark = [
    needs_root,
    pytest.mark.skipif(
        ROOT is None, reason="needs a cgroup2 hierarchy (/sys/fs/cgroup or /sys/fs/cgroup/unified)"
    ),
]

# name -> (type, major, minor): devices whose open succeeds here when nothing stops it, or fails
# in its driver (tty, ptmx of a devpts that is not mounted, pts/0 that does not exist), never in EPERM.
NODES = {
    "null": ("c", 1, 3),
    "zero": ("c", 1, 5),
    "full": ("c", 1, 7),
    "random": ("c", 1, 8),
    "urandom": ("c", 1, 9),
    "tty": ("c", 5, 0),
    "ptmx": ("c", 5, 2),
    "pts0": ("c", 136, 0),
    "tun": ("c", 10, 200),
    "fuse": ("c", 10, 229),
    "loop0": ("b", 7, 0),
    "loop1": ("b", 7, 1),
}
DEFAULT_ALLOWED = ("null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts0")
OPEN_FLAGS = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}


@pytest.fixture
def cgroup() -> Iterator[str]:
    assert ROOT is not None
    path = os.path.join(ROOT, f"boxtrace-test-dev-{uuid.uuid4().hex[:8]}")
    os.mkdir(path)
    try:
        yield path
    finally:
        remove_cgroup_dir(path)


@pytest.fixture
def nodes(tmp_path: Path) -> dict[str, str]:
    made = {}
    for name, (kind, major, minor) in NODES.items():
        path = tmp_path / name
        mode = (stat.S_IFCHR if kind == "c" else stat.S_IFBLK) | 0o600
        os.mknod(path, mode, os.makedev(major, minor))
        made[name] = str(path)
    return made


def attach(cgroup: str, rules: list[DeviceRule]) -> None:
    cgroup_bpf.set_device_program(cgroup, compile_rules(rules))


def in_cgroup(cgroup: str, actions: list[tuple[str, ...]]) -> list[int]:
    """Fork a child that joins ``cgroup`` and does each action; the errno of each (0: it worked).

    ("r" | "w" | "rw", path) opens; ("mknod", path, "c" | "b", major, minor) creates a node."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read_end)
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as handle:
                handle.write("0")
            results = [_act(action) for action in actions]
            os.write(write_end, json.dumps(results).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        output = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child failed before it could report"
    return list(json.loads(output))


def _act(action: tuple[str, ...]) -> int:
    try:
        if action[0] == "mknod":
            _, path, kind, major, minor = action
            mode = (stat.S_IFCHR if kind == "c" else stat.S_IFBLK) | 0o600
            os.mknod(path, mode, os.makedev(int(major), int(minor)))
        else:
            os.close(os.open(action[1], OPEN_FLAGS[action[0]] | os.O_NONBLOCK | os.O_NOCTTY))
    except OSError as exc:
        return exc.errno or -1
    return 0


def verdicts(cgroup: str, nodes: dict[str, str], names: list[str], access: str = "r") -> dict[str, bool]:
    """name -> whether the device program let the open through (any result but EPERM)."""
    results = in_cgroup(cgroup, [(access, nodes[name]) for name in names])
    return {name: result != errno.EPERM for name, result in zip(names, results, strict=True)}


def test_without_a_program_every_device_opens(cgroup: str, nodes: dict[str, str]) -> None:
    """The control: what the tests below refuse is refused by the program, not by the host."""
    assert all(verdicts(cgroup, nodes, list(NODES)).values())


def test_default_rules_allow_the_oci_devices_and_nothing_else(
    cgroup: str, nodes: dict[str, str], tmp_path: Path
) -> None:
    attach(cgroup, effective_device_rules([DeviceRule(allow=False)]))
    seen = verdicts(cgroup, nodes, list(NODES), "rw")
    assert seen == {name: name in DEFAULT_ALLOWED for name in NODES}
    results = in_cgroup(
        cgroup,
        [
            ("mknod", str(tmp_path / "null2"), "c", "1", "3"),
            ("mknod", str(tmp_path / "pts7"), "c", "136", "7"),
            ("mknod", str(tmp_path / "loop2"), "b", "7", "2"),
            ("mknod", str(tmp_path / "tun2"), "c", "10", "200"),
            ("mknod", str(tmp_path / "disk"), "b", "254", "0"),
        ],
    )
    assert results == [0, 0, errno.EPERM, errno.EPERM, errno.EPERM]
    assert not (tmp_path / "loop2").exists()


def test_an_explicit_allow_lets_exactly_one_device_through(cgroup: str, nodes: dict[str, str]) -> None:
    attach(cgroup, [DeviceRule(allow=False), parse_rule("c 10:200 rwm")])
    assert verdicts(cgroup, nodes, ["tun", "fuse", "null", "loop0"]) == {
        "tun": True,
        "fuse": False,  # same major
        "null": False,  # no default devices: compile_rules gets exactly these rules
        "loop0": False,
    }


def test_wildcard_minor_and_type(cgroup: str, nodes: dict[str, str], tmp_path: Path) -> None:
    attach(
        cgroup, [DeviceRule(allow=False), parse_rule("b 7:* rw"), DeviceRule(allow=True, type="c", major=1)]
    )
    assert verdicts(cgroup, nodes, ["loop0", "loop1", "null", "zero", "tun", "tty"]) == {
        "loop0": True,
        "loop1": True,
        "null": True,
        "zero": True,
        "tun": False,
        "tty": False,
    }
    # "rw" has no "m": a new loop node cannot be made, one of major 1 can
    loop = ("mknod", str(tmp_path / "loop5"), "b", "7", "5")
    assert in_cgroup(cgroup, [loop, ("mknod", str(tmp_path / "mem"), "c", "1", "11")]) == [errno.EPERM, 0]


def test_the_last_matching_rule_wins(cgroup: str, nodes: dict[str, str]) -> None:
    attach(
        cgroup, [DeviceRule(allow=False), parse_rule("c 10:* rwm"), parse_rule("c 10:200 rwm", allow=False)]
    )
    assert verdicts(cgroup, nodes, ["tun", "fuse"]) == {"tun": False, "fuse": True}
    attach(
        cgroup, [DeviceRule(allow=False), parse_rule("c 10:200 rwm", allow=False), parse_rule("c 10:* rwm")]
    )
    assert verdicts(cgroup, nodes, ["tun", "fuse"]) == {"tun": True, "fuse": True}
    # allow-all first, then one hole: every other device opens
    attach(cgroup, [DeviceRule(allow=True), parse_rule("b 7:0 rwm", allow=False)])
    assert verdicts(cgroup, nodes, ["loop0", "loop1", "tun"]) == {"loop0": False, "loop1": True, "tun": True}


def test_access_subsets(cgroup: str, nodes: dict[str, str], tmp_path: Path) -> None:
    attach(cgroup, [DeviceRule(allow=False), parse_rule("c 10:200 r")])
    tun = nodes["tun"]
    assert in_cgroup(cgroup, [("r", tun), ("w", tun), ("rw", tun)]) == [0, errno.EPERM, errno.EPERM]
    attach(cgroup, [DeviceRule(allow=False), parse_rule("c 10:200 rw")])
    assert in_cgroup(cgroup, [("rw", tun), ("mknod", str(tmp_path / "tun2"), "c", "10", "200")]) == [
        0,
        errno.EPERM,
    ]
    # a later partial deny takes away only what it names; O_RDWR asks for both bits, and one is refused
    attach(
        cgroup, [DeviceRule(allow=False), parse_rule("c 10:200 rwm"), parse_rule("c 10:200 w", allow=False)]
    )
    assert in_cgroup(cgroup, [("r", tun), ("w", tun), ("rw", tun)]) == [0, errno.EPERM, errno.EPERM]
    # each bit is decided by the last rule that names it: r by one rule, w by another
    attach(cgroup, [DeviceRule(allow=False), parse_rule("c 10:200 r"), parse_rule("c 10:* w")])
    assert in_cgroup(cgroup, [("r", tun), ("w", tun), ("rw", tun), ("rw", nodes["fuse"])]) == [
        0,
        0,
        0,
        errno.EPERM,
    ]
    attach(cgroup, [DeviceRule(allow=True), parse_rule("c 10:* r", allow=False), parse_rule("c 10:200 r")])
    assert in_cgroup(cgroup, [("rw", tun), ("w", nodes["fuse"]), ("r", nodes["fuse"])]) == [0, 0, errno.EPERM]


def test_replacing_leaves_one_program_and_the_new_rules_apply(cgroup: str, nodes: dict[str, str]) -> None:
    """What `update` does: attach the new program, then detach the old one."""
    assert set_v2_device_rules(cgroup, [DeviceRule(allow=False)]) is None
    fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY)
    try:
        first = cgroup_bpf.query_device_programs(fd)
        assert len(first) == 1
        assert verdicts(cgroup, nodes, ["tun", "null"]) == {"tun": False, "null": True}
        assert set_v2_device_rules(cgroup, [DeviceRule(allow=False), parse_rule("c 10:200 rwm")]) is None
        second = cgroup_bpf.query_device_programs(fd)
        assert len(second) == 1 and second != first
        assert verdicts(cgroup, nodes, ["tun", "fuse", "null"]) == {"tun": True, "fuse": False, "null": True}
    finally:
        os.close(fd)


def test_create_cgroup_attaches_before_anyone_joins() -> None:
    """The v2 writer on a real tree: the program is on the cgroup when create_cgroup returns, and
    goes with the cgroup's rmdir."""
    assert ROOT is not None
    name = f"boxtrace-test-dev-{uuid.uuid4().hex[:8]}"
    group = create_cgroup(name, Resources(devices=[DeviceRule(allow=False)]), root=ROOT, version="v2")
    try:
        assert group.skipped == []
        fd = os.open(group.dirs[0], os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert len(cgroup_bpf.query_device_programs(fd)) == 1
        finally:
            os.close(fd)
    finally:
        group.remove()
    assert not os.path.exists(os.path.join(ROOT, name))


def test_verifier_refusal_is_one_line_with_the_verifiers_words() -> None:
    no_return_value = encode(0x95)  # exit without setting R0
    with pytest.raises(ContainerError) as refused:
        cgroup_bpf.load_device_program(no_return_value)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("the kernel refused the device program (bpf BPF_PROG_LOAD: Permission denied)")
    assert "(95) exit | R0 !read_ok" in message
    program = Program()
    program.mov64(0, 2)  # a device program may only answer 0 or 1
    program.exit()
    with pytest.raises(ContainerError, match=r"verifier: .*R0 has .*should have been in"):
        cgroup_bpf.load_device_program(program.assemble())


def test_without_cap_sys_admin_the_rules_are_skipped_with_a_reason(cgroup: str) -> None:
    """Rootless in a delegated cgroup: bpf(2) is not allowed; the writer says why, it does not fail."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read_end)
            permitted = int(_status_field("CapPrm"), 16)
            syscalls.capset(permitted & ~(1 << 21 | 1 << 39), permitted, 0)  # CAP_SYS_ADMIN, CAP_BPF
            os.write(write_end, (set_v2_device_rules(cgroup, [DeviceRule(allow=False)]) or "").encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        why = pipe.read().decode()
    os.waitpid(pid, 0)
    assert why == (
        "linux.resources.devices: the eBPF device program needs CAP_BPF or CAP_SYS_ADMIN "
        "(bpf BPF_PROG_LOAD: Operation not permitted): the container's device access is not "
        "restricted by its cgroup"
    )


def _status_field(name: str) -> str:
    with open("/proc/self/status") as handle:
        return next(line.split()[1] for line in handle if line.startswith(f"{name}:"))

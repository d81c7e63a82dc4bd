"""openat2, writev, pwrite64, pwritev and pwritev2 made for real on a cgroup file (and writev on a
user namespace's uid_map), traced by boxtrace and, as the oracle, by strace on the same program."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_shell_redirections import pids_hierarchy
from trace_helpers import Collected, trace

from boxtrace.tracer.events import SyscallEvent
from tests.conftest import SLOWDOWN, needs_root

pytestmark = needs_root

# The traced program: runc's way of opening a cgroup file (openat2 relative to an O_PATH fd of the
# directory, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS), then one write through each call. Python has
# no openat2 and no plain pwritev (glibc's pwritev is the pwritev2 syscall): ctypes makes them.
PROGRAM = r"""
import ctypes, os, struct, sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
# openat2 has one number everywhere (it came after the tables were unified); pwritev has not.
SYS_openat2 = 437
SYS_pwritev = {"x86_64": 296, "aarch64": 70}[os.uname().machine]
RESOLVE_NO_MAGICLINKS, RESOLVE_BENEATH = 0x02, 0x08


def openat2(dirfd, path, flags, resolve=0):
    how = struct.pack("<3Q", flags, 0, resolve)
    fd = libc.syscall(SYS_openat2, ctypes.c_int(dirfd), path.encode(), how, ctypes.c_size_t(len(how)))
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"openat2 {path}")
    return fd


def pwritev(fd, parts, offset):
    bufs = [ctypes.create_string_buffer(p, len(p)) for p in parts]
    iov = (ctypes.c_uint64 * (2 * len(parts)))()
    for i, b in enumerate(bufs):
        iov[2 * i], iov[2 * i + 1] = ctypes.addressof(b), len(parts[i])
    count = ctypes.c_int(len(parts))
    return libc.syscall(SYS_pwritev, ctypes.c_int(fd), iov, count, ctypes.c_long(offset), 0)


mode, target = sys.argv[1], sys.argv[2]
if mode == "cgroup":
    root = openat2(-1, target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    os.close(openat2(root, "pids.max", os.O_RDONLY | os.O_CLOEXEC, RESOLVE_BENEATH))
    fd = openat2(root, "pids.max", os.O_WRONLY | os.O_CLOEXEC, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
    assert os.writev(fd, [b"6", b"4\n"]) == 3
    assert os.pwrite(fd, b"max\n", 0) == 4
    assert pwritev(fd, [b"1", b"2\n"], 0) == 3
    assert os.pwritev(fd, [b"3", b"3\n"], 0, os.RWF_DSYNC) == 3
elif mode == "stdout":  # a shell's `echo 5 > pids.max`, with openat2: the file becomes fd 1
    fd = openat2(-100, target + "/pids.max", os.O_WRONLY | os.O_CLOEXEC)
    os.dup2(fd, 1)
    assert os.writev(1, [b"5", b"\n"]) == 2
else:  # a child in a new user namespace; its uid_map written with two iovecs
    r, w = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, b"1" if libc.unshare(0x10000000) == 0 else b"0")
        os.read(r2, 1)
        os._exit(0)
    if os.read(r, 1) != b"1":
        sys.exit(77)
    fd = openat2(-100, f"/proc/{pid}/uid_map", os.O_WRONLY | os.O_CLOEXEC)
    # the kernel writes each iovec on its own and refuses the second (offset no longer 0)
    assert os.writev(fd, [b"0 0 1\n", b"1 1 1\n"]) == 6
    assert open(f"/proc/{pid}/uid_map").read().split() == ["0", "0", "1"]
    os.write(w2, b"x")
    os.waitpid(pid, 0)
"""

CALLS = ("openat2", "writev", "pwrite64", "pwritev", "pwritev2")


@pytest.fixture
def cgroup_dir() -> Iterator[str]:
    path = os.path.join(pids_hierarchy(), f"boxtrace-test-{uuid.uuid4().hex[:8]}")
    os.mkdir(path)
    try:
        yield path
    finally:
        os.rmdir(path)


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "calls.py"
    path.write_text(PROGRAM)
    return path


def traced(program: Path, mode: str, target: str) -> Collected:
    collected = trace([sys.executable, str(program), mode, target])
    if collected.result.exit_code == 77:
        pytest.skip("this machine cannot create a user namespace")
    assert collected.result.exit_code == 0, [o for o in collected.messages if "Output" in type(o).__name__]
    return collected


def line(ev: SyscallEvent) -> str:
    return f"{ev.name}({', '.join(a.text for a in ev.args)}) = {ev.result_text}"


def test_a_cgroup_file_opened_with_openat2_and_written_every_way(cgroup_dir: str, program: Path) -> None:
    collected = traced(program, "cgroup", cgroup_dir)
    events = [e for e in collected.syscalls() if e.name in CALLS]
    # The two read-only openat2 calls (the directory, a read of pids.max) are not reported.
    assert [e.name for e in events] == ["openat2", "writev", "pwrite64", "pwritev", "pwritev2"]
    assert {e.category_name for e in events} == {"cgroup"}
    opened, writev, pwrite, pwritev, pwritev2 = events
    root_fd = opened.args[0].raw
    target = f"{cgroup_dir}/pids.max"
    assert [a.text for a in opened.args] == [
        f"{root_fd}<{cgroup_dir}>",
        '"pids.max"',
        "{flags=O_WRONLY|O_CLOEXEC, resolve=RESOLVE_NO_MAGICLINKS|RESOLVE_BENEATH}",
        "24",
    ]
    assert opened.detail["resolved"] == {"pathname": target} and opened.detail["cgroup_file"] == "pids.max"
    fd = opened.result
    assert isinstance(fd, int) and fd > 2 and opened.detail["fd"] == fd
    assert (
        line(writev)
        == f'writev({fd}<{target}>, [{{iov_base="6", iov_len=1}}, {{iov_base="4\\n", iov_len=2}}], 2) = 3'
    )
    assert line(pwrite) == f'pwrite64({fd}<{target}>, "max\\n", 4, 0) = 4'
    assert pwritev.args[3].text == "0" and pwritev2.args[4].text == "RWF_DSYNC"
    values = [(e.detail["cgroup_file"], e.detail["value"]) for e in events[1:]]
    assert values == [("pids.max", "64"), ("pids.max", "max"), ("pids.max", "12"), ("pids.max", "33")]
    assert Path(target).read_text().strip() == "33"


def test_after_an_openat2_of_a_cgroup_file_its_writes_on_stdout_are_recorded(
    cgroup_dir: str, program: Path
) -> None:
    """The engine steps a task once an open call (openat2 too) gave it a cgroup file: the filter
    does not trap writes to fds 0-2."""
    collected = traced(program, "stdout", cgroup_dir)
    (writev,) = collected.syscalls("writev")
    assert writev.args[0].text == f"1<{cgroup_dir}/pids.max>"
    assert writev.category_name == "cgroup" and writev.detail["value"] == "5"
    assert Path(cgroup_dir, "pids.max").read_text().strip() == "5"


def test_a_uid_map_written_with_writev(program: Path) -> None:
    collected = traced(program, "idmap", "-")
    opened = collected.syscalls("openat2")
    assert len(opened) == 1 and opened[0].category_name == "idmap"
    assert opened[0].detail["file"] == "uid_map"
    (writev,) = collected.syscalls("writev")
    assert writev.category_name == "idmap" and writev.result == 6
    assert writev.detail["value"] == "0 0 1" and writev.detail["mappings"] == [[0, 0, 1]]
    child = writev.detail["target_pid"]
    assert writev.args[0].text == f"{writev.args[0].raw}</proc/{child}/uid_map>"


# --- strace as the oracle -------------------------------------------------------------------------

_CWD = re.compile(r"\bAT_FDCWD<[^>]*>")
_PROC_PID = re.compile(r"/proc/\d+/")


def normal(text: str) -> str:
    """What differs between two runs or that boxtrace does not print: pids, strace's AT_FDCWD<cwd>."""
    return _PROC_PID.sub("/proc/N/", _CWD.sub("AT_FDCWD", text))


def strace_lines(program: Path, mode: str, target: str, out: Path) -> list[str]:
    command = [sys.executable, str(program), mode, target]
    result = subprocess.run(
        ["strace", "-f", "-qq", "-y", "-e", f"trace={','.join(CALLS)}", "-o", str(out), *command],
        capture_output=True,
        timeout=60 * SLOWDOWN,
        check=False,
    )
    if result.returncode == 77:
        pytest.skip("this machine cannot create a user namespace")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = []
    for raw in out.read_text().splitlines():
        m = re.match(r"^(?:\d+ +)?(\w+)\((.*)\) += (.*)$", raw)
        if not m:
            continue
        name, args, result_text = m.groups()
        if name == "openat2" and not re.search(r"flags=O_(?:WRONLY|RDWR)|O_CREAT", args):
            continue  # read-only: boxtrace's default mode leaves them out
        lines.append(normal(f"{name}({args}) = {result_text}"))
    return lines


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (the oracle)")
@pytest.mark.parametrize("mode", ["cgroup", "idmap"])
def test_same_text_as_strace(
    mode: str, program: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    target = request.getfixturevalue("cgroup_dir") if mode == "cgroup" else "-"
    expected = strace_lines(program, mode, target, tmp_path / "strace.out")
    got = [normal(line(e)) for e in traced(program, mode, target).syscalls() if e.name in CALLS]
    assert expected, "strace saw none of the calls"
    assert got == expected

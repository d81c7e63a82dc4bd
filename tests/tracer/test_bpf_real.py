"""bpf(2) made for real: a two-instruction BPF_PROG_TYPE_CGROUP_DEVICE program ("r0 = 1; exit",
allow everything) loaded, attached to a cgroup of the host's cgroup2 tree, queried, got by id,
detached, and a map created; traced by boxtrace, checked against strace's lines of the same
program, and explained by the catalogue with no gap."""

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
from trace_helpers import trace

from boxtrace.lessons.explain import explain
from boxtrace.tracer.events import SyscallEvent
from tests.conftest import SLOWDOWN, boxtrace, needs_root

UNIFIED = "/sys/fs/cgroup/unified"
pytestmark = [
    needs_root,
    pytest.mark.skipif(
        not os.path.exists(f"{UNIFIED}/cgroup.procs") and not os.path.exists("/sys/fs/cgroup/cgroup.procs"),
        reason="needs a cgroup2 hierarchy",
    ),
]

# BPF_PROG_LOAD's attr is 148 bytes (up to prog_token_fd), as a recent libbpf passes it.
PROGRAM = r"""
import ctypes, os, struct, sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_bpf = {"x86_64": 321, "aarch64": 280}[os.uname().machine]


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = libc.syscall(SYS_bpf, ctypes.c_int(cmd), buf, ctypes.c_uint(len(attr)))
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"bpf {cmd}")
    return fd, buf.raw


insns = struct.pack("<BBhi", 0xB7, 0, 0, 1) + struct.pack("<BBhi", 0x95, 0, 0, 0)  # r0 = 1; exit
code = ctypes.create_string_buffer(insns, len(insns))
license_ = ctypes.create_string_buffer(b"Apache")
load = struct.pack(
    "<IIQQIIQII16sII", 15, 2, ctypes.addressof(code), ctypes.addressof(license_), 0, 0, 0, 0, 0,
    b"boxtrace_dev", 0, 6,
)
prog, _ = bpf(5, load.ljust(148, b"\0"))
cgroup = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
bpf(8, struct.pack("<IIII", cgroup, prog, 6, 2))  # BPF_PROG_ATTACH, BPF_CGROUP_DEVICE, ALLOW_MULTI
ids = (ctypes.c_uint32 * 4)()
_, out = bpf(16, struct.pack("<IIIIQI4x", cgroup, 6, 0, 0, ctypes.addressof(ids), 4))  # PROG_QUERY
assert struct.unpack_from("<I", out, 24)[0] == 1
again, _ = bpf(13, struct.pack("<III", ids[0], 0, 0))  # BPF_PROG_GET_FD_BY_ID
bpf(9, struct.pack("<III", cgroup, again, 6))  # BPF_PROG_DETACH
bpf(0, struct.pack("<IIIII", 2, 4, 8, 1, 0).ljust(36, b"\0"))  # BPF_MAP_CREATE, an array
"""

COMMANDS = [
    "BPF_PROG_LOAD",
    "BPF_PROG_ATTACH",
    "BPF_PROG_QUERY",
    "BPF_PROG_GET_FD_BY_ID",
    "BPF_PROG_DETACH",
    "BPF_MAP_CREATE",
]


@pytest.fixture
def cgroup_dir() -> Iterator[str]:
    root = UNIFIED if os.path.exists(f"{UNIFIED}/cgroup.procs") else "/sys/fs/cgroup"
    path = f"{root}/boxtrace-test-{uuid.uuid4().hex[:8]}"
    os.mkdir(path)
    try:
        yield path
    finally:
        os.rmdir(path)  # the program detached its device program; the kernel frees it with the fds


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "bpf_calls.py"
    path.write_text(PROGRAM)
    return path


def bpf_events(program: Path, cgroup: str) -> list[SyscallEvent]:
    collected = trace([sys.executable, str(program), cgroup])
    assert collected.result.exit_code == 0, [m for m in collected.messages if "Output" in type(m).__name__]
    return collected.syscalls("bpf")


def test_the_device_program_load_and_attach_are_decoded(program: Path, cgroup_dir: str) -> None:
    events = bpf_events(program, cgroup_dir)
    assert [e.args[0].text for e in events] == COMMANDS
    load, attach, query, by_id, detach, _ = events
    assert load.category_name == "cgroup" and load.detail["prog_type"] == "BPF_PROG_TYPE_CGROUP_DEVICE"
    assert load.args[1].text.startswith("{prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=2, insns=0x")
    assert ', license="Apache", log_level=0,' in load.args[1].text
    prog = load.result
    assert isinstance(prog, int) and load.result_text == f"{prog}<anon_inode:bpf-prog>"
    assert attach.args[1].fields is not None and attach.args[1].fields["attach_type"] == "BPF_CGROUP_DEVICE"
    assert re.fullmatch(
        rf"\{{target_fd=\d+<{re.escape(cgroup_dir)}>, attach_bpf_fd={prog}<anon_inode:bpf-prog>,"
        r" attach_type=BPF_CGROUP_DEVICE, attach_flags=BPF_F_ALLOW_MULTI\}",
        attach.args[1].text,
    )
    assert attach.result_text == "0" and attach.category_name == "cgroup"
    assert attach.detail["cgroup_path"] == cgroup_dir
    assert query.category_name == detach.category_name == "cgroup"
    assert by_id.result_text.endswith("<anon_inode:bpf-prog>")


# --- strace as the oracle -------------------------------------------------------------------------

_FIELD = re.compile(r"(\w+)=((?:\"[^\"]*\")|(?:[^,{}]*(?:\{[^{}]*\})?[^,{}]*))")


def fields_of(text: str) -> dict[str, str]:
    """The key=value pairs of a decoded attr, nested {query={...}} flattened."""
    return {k: v.strip() for k, v in _FIELD.findall(text)}


def strace_bpf(program: Path, cgroup: str, out: Path) -> list[tuple[str, dict[str, str], str]]:
    command = [sys.executable, str(program), cgroup]
    result = subprocess.run(
        ["strace", "-f", "-qq", "-y", "-e", "trace=bpf", "-e", "signal=none", "-o", str(out), *command],
        capture_output=True,
        timeout=60 * SLOWDOWN,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    calls = []
    for line in out.read_text().splitlines():
        m = re.match(r"^(?:\d+ +)?bpf\((\w+), (.*), (\d+)\) += (.*)$", line)
        if m:
            calls.append((m.group(1), fields_of(m.group(2)), m.group(4)))
    return calls


# Fields strace prints from the kernel's answer at exit (boxtrace shows them as they were at entry).
_OUTPUT_FIELDS = {"query", "prog_ids", "prog_cnt", "attach_flags"}
_PER_RUN = {"prog_id"}  # the kernel numbers each loaded program anew
_ADDRESS = re.compile(r"^0x[0-9a-f]+$")


def test_the_lines_match_strace(program: Path, cgroup_dir: str, tmp_path: Path) -> None:
    if shutil.which("strace") is None:
        pytest.skip("needs strace")
    ours = bpf_events(program, cgroup_dir)
    theirs = strace_bpf(program, cgroup_dir, tmp_path / "strace.out")
    assert [c for c, _, _ in theirs] == COMMANDS
    for event, (command, their_fields, their_result) in zip(ours, theirs, strict=True):
        our_fields = fields_of(event.args[1].text)
        common = set(our_fields) & set(their_fields)
        # strace versions print more or fewer of the later fields; the first ones are always there
        assert len(common) >= min(3, len(their_fields)), (command, our_fields, their_fields)
        for key in common:
            if (command == "BPF_PROG_QUERY" and key in _OUTPUT_FIELDS) or key in _PER_RUN:
                continue
            mine, strace_value = our_fields[key], their_fields[key]
            if _ADDRESS.match(mine) and _ADDRESS.match(strace_value):
                continue  # buffers of two runs
            mine, strace_value = (re.sub(r"^\d+<", "N<", v) for v in (mine, strace_value))
            assert mine == strace_value, (command, key)
        assert re.sub(r"^\d+", "N", event.result_text) == re.sub(r"^\d+", "N", their_result), command


# --- the catalogue --------------------------------------------------------------------------------


def test_each_call_is_explained_specifically(program: Path, cgroup_dir: str) -> None:
    for event in bpf_events(program, cgroup_dir):
        explanation = explain(event)
        assert not explanation.fallback and not explanation.missing, event.args[0].text
        assert "bpf(2)" in explanation.man
    load, attach = bpf_events(program, cgroup_dir)[:2]
    assert "value.BPF_PROG_TYPE_CGROUP_DEVICE" in explain(load).entries
    entries = explain(attach).entries
    assert {"value.BPF_PROG_ATTACH", "value.BPF_CGROUP_DEVICE", "flag.BPF_F_ALLOW_MULTI"} <= set(entries)


def test_explain_coverage_of_the_trace_is_complete(program: Path, cgroup_dir: str, tmp_path: Path) -> None:
    out = tmp_path / "bpf.jsonl"
    result = boxtrace("trace", "-o", str(out), "--", sys.executable, str(program), cgroup_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    coverage = boxtrace("explain", "--coverage", str(out))
    last = coverage.stdout.splitlines()[-1]
    total = int(last.split("/")[1].split()[0])
    assert total > len(COMMANDS)
    assert last == f"coverage: {total}/{total} events explained specifically", coverage.stdout[-3000:]
    assert "missing entry" not in coverage.stdout

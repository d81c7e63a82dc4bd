"""The runtime on arm64, tested on any machine: the table chosen by os.uname().machine at import,
podman's default profile compiled for aarch64 (read by a small classic-BPF interpreter here, as the
kernel would run it), and the one-line error on a machine boxtrace has no tables for."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from boxtrace.runtime import bpf
from boxtrace.runtime.machine import MACHINES, UnsupportedMachine, machine
from boxtrace.runtime.seccomp_profile import compile_profile
from boxtrace.runtime.seccomp_syscalls import syscall_numbers
from boxtrace.runtime.spec import Seccomp, read_seccomp_file
from tests.runtime.podman_profile import podman_to_oci

ARM64 = MACHINES["aarch64"]
X86_64 = MACHINES["x86_64"]
ALLOW = 0x7FFF_0000
ERRNO = 0x0005_0000
ENOSYS = 38
PODMAN_PROFILE = Path("/usr/share/containers/seccomp.json")
# podman's default capabilities (containers.conf default_capabilities).
PODMAN_CAPS = frozenset(
    [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETFCAP",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYS_CHROOT",
    ]
)


def _with_machine(name: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter whose os.uname() says ``name``, before boxtrace loads."""
    prelude = (
        "import os\n"
        "real = os.uname()\n"
        f"fake = os.uname_result((real.sysname, real.nodename, real.release, real.version, {name!r}))\n"
        "os.uname = lambda: fake\n"
    )
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("name", "clone", "bpf_nr"), [("aarch64", 220, 280), ("x86_64", 56, 321)])
def test_the_raw_numbers_follow_the_machine(name: str, clone: int, bpf_nr: int) -> None:
    code = (
        "from boxtrace.runtime import syscalls, machine\n"
        "print(machine.CURRENT.name, syscalls._nr('clone'), syscalls._nr('bpf'), syscalls._nr('clone3'))\n"
    )
    out = _with_machine(name, code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [name, str(clone), str(bpf_nr), "435"]


def test_an_unsupported_machine_names_the_supported_ones() -> None:
    out = _with_machine(
        "riscv64", "from boxtrace.runtime import syscalls\nsyscalls.unshare(0)\nsyscalls._nr('clone')\n"
    )
    assert "UnsupportedMachine: unsupported architecture 'riscv64'" in out.stderr
    assert "x86_64 and aarch64" in out.stderr
    with pytest.raises(UnsupportedMachine, match=r"'sparc64'.*x86_64 and aarch64"):
        machine("sparc64")


@pytest.mark.parametrize("name", ["riscv64", "x86_64", "aarch64", "i686"])
def test_the_tracer_and_the_runtime_refuse_the_same_machines_in_the_same_words(name: str) -> None:
    # `boxtrace trace` checks with the tracer's tables (tracer/arch), `run` with the runtime's.
    from boxtrace.runtime.machine import unsupported as runtime_says
    from boxtrace.tracer.arch import unsupported as tracer_says

    assert tracer_says(name) == runtime_says(name)


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "boxtrace", "trace", "--", "true"],
        [sys.executable, "-m", "boxtrace", "run", "--no-trace", "busybox", "--", "true"],
        [sys.executable, "-m", "boxtrace.runtime", "run", "--bundle", "/nonexistent", "box"],
    ],
)
def test_the_cli_refuses_an_unsupported_machine_in_one_line(argv: list[str]) -> None:
    code = f"import sys, runpy\nsys.argv = {argv[2:]!r}[1:]\nsys.argv[0:0] = ['prog']\n"
    code += f"runpy.run_module({argv[2]!r}, run_name='__main__')\n"
    out = _with_machine("riscv64", code)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "unsupported architecture 'riscv64'" in lines[0] and "x86_64 and aarch64" in lines[0]


# --- podman's profile compiled for arm64 -----------------------------------------------------------


def _read(tmp_path: Path, data: dict[str, Any]) -> Seccomp:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(data))
    return read_seccomp_file(str(path))


def _run(program: bytes, nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """Interpret a filter on one seccomp_data, as the kernel does (the runtime's opcodes only)."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    insns = [bpf.SOCK_FILTER.unpack_from(program, i) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == bpf.LD_W_ABS:
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == bpf.ALU_AND_K:
            acc &= k
        elif code == bpf.RET_K:
            return int(k)
        else:
            taken = {bpf.JEQ_K: acc == k, bpf.JGT_K: acc > k, bpf.JGE_K: acc >= k}[code]
            pc += jt if taken else jf


needs_podman_profile = pytest.mark.skipif(
    not PODMAN_PROFILE.exists(), reason="podman's seccomp.json not installed"
)


@needs_podman_profile
def test_podmans_profile_compiled_for_arm64(tmp_path: Path) -> None:
    raw = json.loads(PODMAN_PROFILE.read_text())
    profile = _read(tmp_path, podman_to_oci(raw, "arm64", PODMAN_CAPS))
    assert profile.architectures == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    program = compile_profile(profile, ARM64).program
    first = [bpf.SOCK_FILTER.unpack_from(program, i) for i in (0, 8)]
    assert first == [(bpf.LD_W_ABS, 0, 0, 4), (bpf.JEQ_K, 1, 0, 0xC000_00B7)]
    nr = syscall_numbers("aarch64")
    refused, eperm = ERRNO | ENOSYS, ERRNO | 1
    # podman's allow-list names both forms (mkdir and mkdirat); arm64 has only the *at one.
    for name in ("mkdirat", "openat", "clone", "clone3", "mount", "pivot_root", "unshare", "chroot"):
        assert _run(program, nr[name], ARM64.audit_arch) == ALLOW, name
    for name in ("kexec_load", "bpf", "init_module", "userfaultfd"):  # EPERM rules, or CAP_SYS_ADMIN...
        assert _run(program, nr[name], ARM64.audit_arch) == eperm, name
    for name in ("add_key", "io_uring_setup"):  # named by no rule: the default action
        assert _run(program, nr[name], ARM64.audit_arch) == refused, name
    # 32-bit arm tasks and x86_64 calls number their calls differently: the profile's default.
    assert _run(program, nr["getpid"], 0x4000_0028) == refused
    assert _run(program, nr["getpid"], X86_64.audit_arch) == refused
    # No x32 test on arm64: a number with that bit is a number no rule names.
    insns = [bpf.SOCK_FILTER.unpack_from(program, i) for i in range(0, len(program), 8)]
    assert all(k != 0x4000_0000 for _, _, _, k in insns)
    assert _run(program, 0x4000_0000 | nr["getpid"], ARM64.audit_arch) == refused


@needs_podman_profile
def test_x86_only_and_unknown_names_are_skipped_on_arm64(tmp_path: Path) -> None:
    """The x86_64 rules (arch_prctl, modify_ldt, open, mkdir...) compiled for arm64: names arm64's
    table lacks add nothing, exactly as if they were not in the profile (runc skips them too)."""
    raw = json.loads(PODMAN_PROFILE.read_text())
    oci = podman_to_oci(raw, "amd64", PODMAN_CAPS)
    arm64_names = set(syscall_numbers("aarch64"))
    names = {n for rule in oci["syscalls"] for n in rule["names"]}
    assert {"arch_prctl", "modify_ldt", "open", "mkdir", "fork"} <= names - arm64_names
    pruned = {
        **oci,
        "syscalls": [
            {**rule, "names": [n for n in rule["names"] if n in arm64_names]}
            for rule in oci["syscalls"]
            if set(rule["names"]) & arm64_names
        ],
    }
    compiled = compile_profile(_read(tmp_path, oci), ARM64)
    assert compiled == compile_profile(_read(tmp_path, pruned), ARM64)
    # The same rules for x86_64 check x86_64's arch and x32.
    x86 = compile_profile(_read(tmp_path, oci), X86_64).program
    assert bpf.SOCK_FILTER.unpack_from(x86, 8) == (bpf.JEQ_K, 1, 0, 0xC000_003E)
    x86_nr = syscall_numbers("x86_64")
    assert _run(x86, x86_nr["arch_prctl"], X86_64.audit_arch) == ALLOW
    assert _run(x86, 0x4000_0000 | x86_nr["getpid"], X86_64.audit_arch) == ERRNO | ENOSYS


def test_the_machine_is_this_one() -> None:
    assert machine().name == os.uname().machine

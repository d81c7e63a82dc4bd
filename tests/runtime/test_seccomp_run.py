"""linux.seccomp applied to real containers (root): `boxtrace-runtime run` of a busybox bundle
whose profile denies mkdir, with and without no_new_privs (the two places runc loads the filter),
an exec'd process getting the container's profile, and a profile boxtrace cannot serve refused
before anything is made. The ``rt`` fixture checks that nothing is left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_busybox_bundle, needs_root
from tests.runtime.oci_runtime import Runtime
from tests.runtime.podman_profile import podman_to_oci

pytestmark = needs_root

TMPFS = {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}
# The same call under both of x86_64's names: glibc may use either.
DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}
# podman's default profile: containers/common's seccomp.json, as Debian 12's
# golang-github-containers-common installs it in /usr/share/containers (a copy: the arm64 lane's
# guest has no podman).
PODMAN_PROFILE = Path(__file__).with_name("data") / "podman-seccomp.json"
SCRIPT = "mkdir /tmp/x && echo made /tmp/x; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status"


def bundle(
    tmp_path: Path, name: str, seccomp: dict[str, Any] | None, script: str = SCRIPT, **process: Any
) -> Path:
    path = make_busybox_bundle(tmp_path / name, ["sh", "-c", script])
    config = json.loads((path / "config.json").read_text())
    config["mounts"].append(TMPFS)  # /tmp writable: without the profile, mkdir works
    config["process"].update(process)
    if seccomp is not None:
        config["linux"]["seccomp"] = seccomp
    (path / "config.json").write_text(json.dumps(config))
    return path


def test_without_a_profile_mkdir_works(rt: Runtime, tmp_path: Path) -> None:
    result = rt.capture("run", "--bundle", str(bundle(tmp_path, "plain", None)), "lc-sc0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["made /tmp/x", "NoNewPrivs:\t1", "Seccomp:\t0"]


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_profile_denies_mkdir_with_eperm(rt: Runtime, tmp_path: Path, no_new_privileges: bool) -> None:
    path = bundle(tmp_path, "deny", DENY_MKDIR, noNewPrivileges=no_new_privileges)
    result = rt.capture("run", "--bundle", str(path), "lc-sc1")
    assert result.returncode == 0, result.stderr
    assert "mkdir: can't create directory '/tmp/x': Operation not permitted" in result.stderr
    assert "not supported" not in result.stderr
    assert result.stdout.splitlines() == [f"NoNewPrivs:\t{int(no_new_privileges)}", "Seccomp:\t2"]


def test_podmans_default_profile_loads_and_its_denied_call_fails(rt: Runtime, tmp_path: Path) -> None:
    """podman's profile as podman passes it (the rules for this machine and these capabilities),
    compiled for this machine's AUDIT_ARCH: it lets busybox's shell run, and
    swapoff, which it refuses with EPERM whatever the capabilities, fails. CAP_SYS_ADMIN is given so
    that the kernel itself would answer ENOENT for the missing file (as it does without the
    profile): the EPERM is the filter's."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"]
    capabilities = {name: caps for name in ("bounding", "effective", "permitted")}
    script = "swapoff /no-such-swap; grep '^Seccomp:' /proc/self/status"
    goarch = {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]
    profile = podman_to_oci(json.loads(PODMAN_PROFILE.read_text()), goarch, frozenset(caps))
    for name, seccomp, error, mode in (
        ("podman", profile, "Operation not permitted", "2"),
        ("none", None, "No such file or directory", "0"),
    ):
        path = bundle(tmp_path, name, seccomp, script, capabilities=capabilities)
        result = rt.capture("run", "--bundle", str(path), f"lc-sc4-{name}")
        assert result.returncode == 0, result.stderr
        assert f"swapoff: /no-such-swap: {error}" in result.stderr, result.stderr
        assert result.stdout == f"Seccomp:\t{mode}\n"


def test_errno_ret_and_an_argument_condition(rt: Runtime, tmp_path: Path) -> None:
    """chmod's mode is argument 1 (fchmodat's 2): only mode 0700 is refused, with EACCES."""
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                "names": ["chmod"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 13,
                "args": [{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}],
            },
            {
                "names": ["fchmodat"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 13,
                "args": [{"index": 2, "value": 0o700, "op": "SCMP_CMP_EQ"}],
            },
        ],
    }
    script = "mkdir /tmp/a; chmod 700 /tmp/a; chmod 755 /tmp/a && stat -c %a /tmp/a"
    result = rt.capture("run", "--bundle", str(bundle(tmp_path, "mode", seccomp, script)), "lc-sc2")
    assert "chmod: /tmp/a: Permission denied" in result.stderr
    assert result.stdout == "755\n"


def test_exec_gets_the_containers_profile(rt: Runtime, tmp_path: Path) -> None:
    path = bundle(tmp_path, "exec", DENY_MKDIR, "exec sleep 60")
    assert rt("create", "--bundle", str(path), "ex-sc1").returncode == 0, rt.err.read_text()
    try:
        assert rt("start", "ex-sc1").returncode == 0, rt.err.read_text()
        result = rt.capture("exec", "ex-sc1", "sh", "-c", SCRIPT)
        assert result.returncode == 0, result.stderr
        assert "Operation not permitted" in result.stderr
        assert result.stdout.splitlines() == ["NoNewPrivs:\t1", "Seccomp:\t2"]
    finally:
        rt("delete", "--force", "ex-sc1")


def test_a_notify_profile_is_refused_before_anything_is_made(rt: Runtime, tmp_path: Path) -> None:
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    }
    code, stderr = rt.fails("run", "--bundle", str(bundle(tmp_path, "notify", seccomp)), "lc-sc3")
    assert code != 0
    assert "SCMP_ACT_NOTIFY is not supported by boxtrace" in stderr
    assert len(stderr.splitlines()) == 1
    assert not (rt.root / "lc-sc3").exists()

"""Rootless: an unprivileged user still gets a container, through a user namespace.

CI runs as root, so the test drops to the user "nobody" with setpriv. nobody cannot read the
pyenv interpreter under /root, so the test runs the runtime with the system python3; nor, where the
checkout sits in a directory others cannot enter (a home directory is 0750 on Ubuntu, a mktemp -d
0700), the checkout: the runtime package (stdlib only, by the layering rule) is copied once per
session into a world-readable temporary directory and run from there (tests/runtime/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_root

pytestmark = needs_root


def system_python() -> str:
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate):
            version = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info >= (3, 11))"],
                capture_output=True,
                text=True,
            )
            if version.stdout.strip() == "True":
                return candidate
    pytest.skip("needs a Python >= 3.11 that the user nobody can run (e.g. Debian's python3)")


def run_as_nobody(
    env: dict[str, str], *args: str, output: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    """``output``: where stdout and stderr go; not a pipe for `create`, whose container keeps
    them (waiting for the pipe to close would wait for the container's end)."""
    command = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        system_python(),
        "-m",
        "boxtrace.runtime",
    ]
    return subprocess.run(
        [*command, *args], env=env, stdout=output, stderr=output, text=True, timeout=120, cwd="/"
    )


def test_rootless_container_starts(nobody_env: dict[str, str]) -> None:
    result = run_as_nobody(
        nobody_env,
        "run",
        "--memory",
        "64m",
        "--",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; echo $$; hostname; grep CapEff /proc/self/status",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "0"  # root inside...
    assert lines[1].split() == ["0", "65534", "1"]  # ...is nobody outside
    assert lines[2:4] == ["1", "boxtrace"]
    assert lines[4].split()[-1] == "00000000a80425fb"
    assert "limits skipped (memory)" in result.stderr
    leftovers = [p for p in Path(nobody_env["HOME"], "boxtrace").iterdir()]
    assert leftovers == [], f"state left behind: {leftovers}"


def test_rootless_is_reported_in_python_too() -> None:
    # The CLI decides rootless from the effective uid; as root it is opt-in.
    from boxtrace.runtime.options import RunOptions

    assert RunOptions().rootless is False
    assert sys.executable


def test_rootless_exec_joins_the_user_namespace_first(nobody_env: dict[str, str]) -> None:
    """exec as nobody: the container's namespaces belong to its user namespace, so setns into
    them is refused until the process is in that user namespace (runc's order handles it)."""
    from tests.conftest import make_busybox_bundle

    bundle = make_busybox_bundle(Path(nobody_env["HOME"]) / "bundle", ["sleep", "60"])
    subprocess.run(["chown", "-R", "65534:65534", str(bundle)], check=True)
    root = str(Path(nobody_env["HOME"]) / "state")
    create = ("--root", root, "create", "--bundle", str(bundle), "rl-1")
    assert run_as_nobody(nobody_env, *create, output=subprocess.DEVNULL).returncode == 0
    try:
        assert run_as_nobody(nobody_env, "--root", root, "start", "rl-1").returncode == 0
        result = run_as_nobody(
            nobody_env,
            "--root",
            root,
            "exec",
            "rl-1",
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; hostname; echo $$",
        )
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "0" and lines[1].split() == ["0", "65534", "1"] and lines[2] == "bundle"
        assert int(lines[3]) > 1
    finally:
        run_as_nobody(nobody_env, "--root", root, "delete", "--force", "rl-1")
    assert os.listdir(root) == []


def test_without_idmap_the_start_fails_as_an_unmapped_process(nobody_env: dict[str, str]) -> None:
    """boxtrace run --without idmap as a user: no uid_map, so the child is the overflow uid and
    overlayfs refuses the rootfs (EACCES); the child says so in the probe's lines and nothing is left."""
    claim = "the claim under test"
    result = run_as_nobody(
        nobody_env, "run", "--without", "idmap", "--env", f"BOXTRACE_CLAIM_IDMAP={claim}", "--", "true"
    )
    assert result.returncode == 125, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines()[1:])
    assert lines["claim"].strip() == claim
    assert "uid 65534 gid 65534" in lines["saw"] and "fails with EINVAL" in lines["saw"]
    assert "/ shows as owned by 65534:65534" in lines["saw"]
    assert "mount overlay on" in lines["saw"] and "Permission denied: overlayfs" in lines["saw"]
    assert lines["held"].strip() == "yes"
    assert not list(Path(nobody_env["HOME"], "boxtrace").iterdir())

"""The host check every test runs (tests/conftest.py): a mount the test made still counts as left
behind; only the engines' one-time host set-up (ENGINE_HOST_MOUNTS), named exactly, does not."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import ENGINE_HOST_MOUNTS, host_mounts, leaked_mounts, needs_root


@needs_root
def test_a_mount_left_behind_is_reported(tmp_path: Path) -> None:
    before = host_mounts()
    target = tmp_path / "left"
    target.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(target)], check=True)
    try:
        assert leaked_mounts(before) == [f"/ {target}"]
    finally:
        subprocess.run(["umount", str(target)], check=True)
    assert leaked_mounts(before) == []


def test_only_the_engines_own_set_up_is_allowed() -> None:
    assert set(ENGINE_HOST_MOUNTS) == {"/run/netns /run/netns", "/netns /run/netns"}
    present = {m for m in host_mounts() if m in ENGINE_HOST_MOUNTS}
    # as if the test had run podman for the first time on this machine
    assert leaked_mounts(host_mounts() - present) == []

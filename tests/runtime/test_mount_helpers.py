"""Mount option parsing and path resolution inside the rootfs (no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

from boxtrace.runtime.constants import MS_BIND, MS_NODEV, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC
from boxtrace.runtime.mounts import parse_mount_options, resolve_in_root


def test_parse_mount_options() -> None:
    opts = parse_mount_options(["nosuid", "nodev", "ro", "mode=755", "size=65536k"])
    assert opts.flags == MS_NOSUID | MS_NODEV | MS_RDONLY
    assert opts.data == "mode=755,size=65536k"
    assert opts.propagation == 0
    opts = parse_mount_options(["rbind", "rprivate", "ro", "rw"])
    assert opts.flags == MS_BIND | MS_REC
    assert opts.propagation == MS_PRIVATE | MS_REC


def test_resolve_in_root_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("/etc", tmp_path / "abs")  # absolute: means the image's /etc
    os.symlink("../../../../etc", tmp_path / "up")  # climbing out stops at the root
    os.symlink("etc", tmp_path / "rel")
    assert resolve_in_root(str(tmp_path), "/abs/passwd") == str(tmp_path / "etc/passwd")
    assert resolve_in_root(str(tmp_path), "/up/passwd") == str(tmp_path / "etc/passwd")
    assert resolve_in_root(str(tmp_path), "/rel/../rel/x") == str(tmp_path / "etc/x")
    assert resolve_in_root(str(tmp_path), "/../../proc") == str(tmp_path / "proc")

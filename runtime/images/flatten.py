"""The fallback when overlayfs cannot be used: copy the layers, base first, into one directory,
applying whiteouts as the image spec says (``.wh.NAME`` removes NAME of lower layers,
``.wh..wh..opq`` empties its directory of lower layers' children before the layer's own are copied).

Runs in the runtime's parent before the clone (never in the child), once per container: the copy is
the container's writable root and is removed with its state directory.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def flatten_layer_dirs(directories: list[str], dest: str) -> None:
    """Layer directories of the store, base first; each one's metadata is next to it (DIR.json)."""
    import json

    layers = []
    for directory in directories:
        with open(directory.rstrip("/") + ".json") as handle:
            layers.append((directory, json.load(handle)))
    flatten(layers, dest)


def flatten(layers: list[tuple[str, dict[str, Any]]], dest: str) -> None:
    """``layers``: (directory, metadata) pairs, base layer first."""
    from boxtrace.runtime.images.store import remove_tree

    os.makedirs(dest, exist_ok=True)
    for directory, meta in layers:
        for opaque in meta.get("opaque", []):
            target = os.path.join(dest, opaque.lstrip("/"))
            if os.path.isdir(target) and not os.path.islink(target):
                for child in os.listdir(target):
                    remove_tree(os.path.join(target, child))
        for hidden in meta.get("whiteouts", []):
            remove_tree(os.path.join(dest, hidden.lstrip("/")))
        _copy_tree(directory, dest)


def _copy_tree(source: str, dest: str) -> None:
    import shutil

    from boxtrace.runtime.images.store import remove_tree

    with os.scandir(source) as entries:
        for entry in entries:
            target = os.path.join(dest, entry.name)
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISCHR(info.st_mode) and info.st_rdev == 0:
                continue  # an overlay whiteout of a layer unpacked as root: applied above already
            if stat.S_ISDIR(info.st_mode):
                if os.path.islink(target) or (os.path.lexists(target) and not os.path.isdir(target)):
                    remove_tree(target)
                if not os.path.lexists(target):
                    os.mkdir(target, 0o700)
                _copy_tree(entry.path, target)
                if os.geteuid() == 0:
                    os.chown(target, info.st_uid, info.st_gid)
                shutil.copystat(entry.path, target, follow_symlinks=False)
                continue
            if os.path.lexists(target):
                remove_tree(target)
            if stat.S_ISLNK(info.st_mode):
                os.symlink(os.readlink(entry.path), target)
            elif stat.S_ISREG(info.st_mode):
                shutil.copy2(entry.path, target, follow_symlinks=False)
            elif stat.S_ISFIFO(info.st_mode):
                os.mkfifo(target, info.st_mode & 0o7777)
            elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
                os.mknod(target, info.st_mode, info.st_rdev)
            if os.geteuid() == 0:
                os.chown(target, info.st_uid, info.st_gid, follow_symlinks=False)
                if not stat.S_ISLNK(info.st_mode):
                    os.chmod(target, info.st_mode & 0o7777)

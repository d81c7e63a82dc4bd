"""The local image store: unpacked layers kept once by their diff id, and small image records.

Layout (``store_root()``)::

    layers/<hex>/        one unpacked layer (hex of its diff id: the sha256 of the uncompressed tar),
                         whiteouts converted to overlayfs ones when unpacked as root
    layers/<hex>.json    its size, and the whiteouts and opaque directories it holds
    images/<hex>.json    one image (hex of its config's digest, Docker's "image id"): names, layers
                         base first, the config's process fields, where it was loaded from
    tmp/                 unpacking in progress; renamed into layers/ only when complete

Only ``json`` and ``os`` here: this module is on the path of running an image already in the store.
"""

from __future__ import annotations

import contextlib
import json
import os

from boxtrace.runtime.errors import RuntimeUsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STORE_ENV = "BOXTRACE_STORE"


class ImageError(RuntimeUsageError):
    """A bad image (unknown name or tag, corrupted blob, unsafe layer entry): one line, exit 2."""


def store_root(root: str | None = None) -> str:
    """``root`` if given, else $BOXTRACE_STORE, else /var/lib/boxtrace/images for root and the
    user's data dir ($XDG_DATA_HOME/boxtrace/images, ~/.local/share/...) otherwise."""
    if root:
        return root
    if os.environ.get(STORE_ENV):
        return os.environ[STORE_ENV]
    if os.geteuid() == 0:
        return "/var/lib/boxtrace/images"
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "boxtrace", "images")


class Store:
    def __init__(self, root: str | None = None) -> None:
        self.root = store_root(root)

    # --- paths ---

    def layer_dir(self, diff_id: str) -> str:
        return os.path.join(self.root, "layers", _hex(diff_id))

    def layer_meta_path(self, diff_id: str) -> str:
        return os.path.join(self.root, "layers", _hex(diff_id) + ".json")

    def image_path(self, image_id: str) -> str:
        return os.path.join(self.root, "images", _hex(image_id) + ".json")

    def has_layer(self, diff_id: str) -> bool:
        return os.path.isdir(self.layer_dir(diff_id)) and os.path.isfile(self.layer_meta_path(diff_id))

    def layer_meta(self, diff_id: str) -> dict[str, Any]:
        return _read_json(self.layer_meta_path(diff_id)) or {}

    # --- image records ---

    def records(self) -> list[dict[str, Any]]:
        folder = os.path.join(self.root, "images")
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if name.endswith(".json"):
                record = _read_json(os.path.join(folder, name))
                if record is not None:
                    found.append(record)
        return found

    def find_by_source(self, key: str) -> dict[str, Any] | None:
        for record in self.records():
            if key in record.get("sources", []) and self.complete(record):
                return record
        return None

    def find_by_name(self, name: str) -> dict[str, Any] | None:
        """By name (``busybox`` means ``busybox:latest``) or by a prefix of the image id."""
        wanted = {name, name if ":" in name.rpartition("/")[2] else f"{name}:latest"}
        records = self.records()
        for record in records:
            if wanted & set(record.get("names", [])):
                return record
        digest = name.removeprefix("sha256:")
        if len(digest) >= 4 and all(c in "0123456789abcdef" for c in digest):
            matches = [r for r in records if _hex(r["id"]).startswith(digest)]
            if len(matches) == 1:
                return matches[0]
        return None

    def complete(self, record: dict[str, Any]) -> bool:
        return all(self.has_layer(d) for d in record.get("layers", []))

    def save_record(self, record: dict[str, Any]) -> None:
        """Write an image record, taking its names away from any other image (like a re-tag)."""
        for other in self.records():
            if other["id"] == record["id"]:
                continue
            taken = [n for n in other.get("names", []) if n in record.get("names", [])]
            if taken:
                other["names"] = [n for n in other["names"] if n not in taken]
                _write_json(self.image_path(other["id"]), other)
        _write_json(self.image_path(record["id"]), record)

    def remove(self, name: str) -> list[str]:
        """`rmi`: untag ``name``; an image left without names is deleted with the layers no other
        image uses. Returns what was done, one line each, like `docker rmi`."""
        record = self.find_by_name(name)
        if record is None:
            raise ImageError(f"no image {name!r} in the store {self.root} (see 'boxtrace images')")
        done = []
        names = record.get("names", [])
        by_id = name not in names and f"{name}:latest" not in names
        untag = names if by_id else [n for n in names if n in (name, f"{name}:latest")]
        record["names"] = [n for n in names if n not in untag]
        done += [f"Untagged: {n}" for n in untag]
        if record["names"]:
            _write_json(self.image_path(record["id"]), record)
            return done
        os.unlink(self.image_path(record["id"]))
        done.append(f"Deleted: {record['id']}")
        in_use = {d for other in self.records() for d in other.get("layers", [])}
        for diff_id in record.get("layers", []):
            if diff_id not in in_use and os.path.isdir(self.layer_dir(diff_id)):
                remove_tree(self.layer_dir(diff_id))
                _unlink(self.layer_meta_path(diff_id))
                done.append(f"Deleted: layer {diff_id}")
        return done


def _hex(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
        raise ImageError(f"not a sha256 digest: {digest!r}")
    return value


def _read_json(path: str) -> Any:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _write_json(path: str, data: Any) -> None:
    """Write whole or not at all: a reader never sees half a record."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = f"{path}.{os.getpid()}.tmp"
    with open(partial, "w") as handle:
        json.dump(data, handle, indent=1)
    os.rename(partial, path)


def write_json(path: str, data: Any) -> None:
    _write_json(path, data)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def remove_tree(path: str) -> None:
    """rm -rf that also gets through directories an image made unreadable (mode 000)."""
    if os.path.islink(path) or not os.path.isdir(path):
        _unlink(path)
        return
    with contextlib.suppress(OSError):  # a symlink race or read-only fs: rmdir will say
        os.chmod(path, 0o700)
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                remove_tree(entry.path)
            else:
                os.unlink(entry.path)
    os.rmdir(path)

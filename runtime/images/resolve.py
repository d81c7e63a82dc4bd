"""From what the user typed after `boxtrace run` to an image: its layers (top first) and config.

The path of running an image that is already in the store: json and os only. Anything new is
handed to ``sources.py`` (which imports tarfile, gzip, hashlib) to be loaded into the store first.
"""

from __future__ import annotations

import os

from boxtrace.runtime.images.store import ImageError, Store
from boxtrace.runtime.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Overlay in a user namespace needs Linux 5.11; older kernels get a copied rootfs.
ROOTLESS_OVERLAY_KERNEL = (5, 11)

IMAGE_FORMS = (
    "an OCI image layout directory (DIR or DIR:TAG), a 'docker save' archive, a rootfs tarball, "
    "a rootfs directory, an OCI bundle (a directory with config.json), or the name of an image in "
    "the store (see 'boxtrace images')"
)


@record
class Image:
    """An image ready to be mounted: ``lowers`` are the overlay's lowerdirs, top layer first."""

    name: str
    kind: str  # "layout", "archive", "store", "rootfs-dir"
    lowers: list[str]
    config: dict[str, Any] = field(default_factory=dict)  # the image config's "config" object
    image_id: str | None = None
    # Layers with whiteouts that could not be made overlay whiteouts (not unpacked as root).
    unmaterialized: list[str] = field(default_factory=list)


def split_reference(text: str) -> tuple[str | None, str | None]:
    """``PATH`` or ``PATH:TAG`` when PATH exists (the longest existing prefix wins: a docker archive
    takes ``ARCHIVE:REPO:TAG``); (None, None) when no such path exists."""
    if os.path.exists(text):
        return text, None
    at = len(text)
    while (at := text.rfind(":", 0, at)) > 0:
        if os.path.exists(text[:at]):
            return text[:at], text[at + 1 :] or None
    return None, None


def resolve(text: str, store_root: str | None = None) -> Image:
    path, tag = split_reference(text)
    store = Store(store_root)
    if path is None:
        found = store.find_by_name(text) or _find_by_reference(store, text)
        if found is None or not store.complete(found):
            raise ImageError(
                f"unknown image {text!r}: give {IMAGE_FORMS}, or fetch it first with 'boxtrace pull {text}'"
            )
        return _from_record(store, found, "store", text)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "index.json")) and os.path.exists(
            os.path.join(path, "oci-layout")
        ):
            index = os.stat(os.path.join(path, "index.json"))
            key = f"oci:{os.path.realpath(path)}:{tag or ''}:{index.st_size}:{index.st_mtime_ns}"
            found = store.find_by_source(key)
            if found is None:
                from boxtrace.runtime.images.sources import import_oci_layout

                found = import_oci_layout(path, tag, store, key)
            return _from_record(store, found, "layout", found["sources"].get(key, text))
        if tag is not None:
            raise ImageError(f"{path} is a rootfs directory (no index.json and oci-layout): it has no tags")
        return Image(name=path, kind="rootfs-dir", lowers=[os.path.abspath(path)])
    info = os.stat(path)
    key = f"file:{os.path.realpath(path)}:{tag or ''}:{info.st_size}:{info.st_mtime_ns}"
    found = store.find_by_source(key)
    if found is None:
        from boxtrace.runtime.images.sources import import_archive

        found = import_archive(path, tag, store, key)
    return _from_record(store, found, "archive", found["sources"].get(key, text))


def _find_by_reference(store: Store, text: str) -> dict[str, Any] | None:
    """``docker.io/library/busybox`` is stored as ``busybox:latest``: look it up as `docker pull`
    names it (only when the plain lookup failed: parsing references imports re)."""
    from boxtrace.runtime.images.reference import BadReference, parse_reference

    try:
        name = parse_reference(text).name
    except BadReference:
        return None
    return store.find_by_name(name) if name != text else None


def _from_record(store: Store, found: dict[str, Any], kind: str, name: str) -> Image:
    layers = found.get("layers", [])
    unmaterialized = []
    for diff_id in layers:
        meta = store.layer_meta(diff_id)
        if (meta.get("whiteouts") or meta.get("opaque")) and not meta.get("materialized"):
            unmaterialized.append(diff_id)
    return Image(
        name=name,
        kind=kind,
        lowers=[store.layer_dir(d) for d in reversed(layers)],
        config=found.get("config") or {},
        image_id=found["id"],
        unmaterialized=unmaterialized,
    )


def needs_copy(image: Image, rootless: bool) -> str | None:
    """Why this image cannot be an overlay here (the runtime then copies it), or None."""
    if image.unmaterialized:
        return (
            "its layers were unpacked without root, so their whiteouts are not overlay whiteouts; "
            "using a copied rootfs instead of overlayfs"
        )
    if rootless:
        release = os.uname().release.split("-")[0].split(".")
        try:
            version = (int(release[0]), int(release[1]))
        except (ValueError, IndexError):
            return None
        if version < ROOTLESS_OVERLAY_KERNEL:
            return (
                f"overlayfs in a user namespace needs Linux 5.11 (this is {os.uname().release}); "
                "using a copied rootfs instead"
            )
    if len(image.lowers) > 1 and len(":".join(image.lowers)) > 3500:
        return "too many layers for one overlay mount option (4 KiB); using a copied rootfs instead"
    return None

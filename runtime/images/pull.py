"""`boxtrace pull`: fetch an image from a registry into the local store.

manifest (or index -> the host's manifest) -> config -> each layer not stored yet: streamed into
``store/tmp``, verified against the manifest's digest and size, unpacked with the same safe
unpacker as every other image source (which checks the config's diff_id), renamed into
``layers/``. The image record is written last, so an interrupted pull leaves no image behind and
no half-written layer: only complete layers, which the next pull does not fetch again.

The runtime prints nothing: what happens is told to a ``PullListener`` (the command draws it).
"""

from __future__ import annotations

import io
import json
import os
import re

from boxtrace.runtime.images import platform
from boxtrace.runtime.images.reference import Reference
from boxtrace.runtime.images.registry import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    SCHEMA1_TYPES,
    CorruptBlob,
    NotFound,
    Registry,
    RegistryError,
)
from boxtrace.runtime.images.store import ImageError, Store, remove_tree
from boxtrace.runtime.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

CONFIG_TYPES = (
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
)
CONFIG_MAX = 16 << 20
# layer media type -> how it is stored; the unpacker tells gzip from tar by its magic bytes
LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": "tar",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "foreign",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "foreign",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "foreign",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "foreign",
}
SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


class PullListener:
    """Told what a pull does, in order, inside ``with listener:``. The default does nothing."""

    def __enter__(self) -> PullListener:
        return self

    def __exit__(self, *exc: object) -> None:
        """The pull ended, done or not."""

    def message(self, text: str) -> None:
        """A line worth showing ("Pulling from ...", a platform warning)."""

    def layers(self, layers: list[tuple[str, int]]) -> None:
        """The image's layers, base first: (blob digest, compressed size)."""

    def layer(self, digest: str, state: str, done: int = 0, total: int = 0) -> None:
        """A layer changed ``state`` (see STATES in boxtrace/commands/pull.py), or made progress:
        "exists", "downloading" (done/total bytes), "downloaded", "extracting" (done/total bytes
        of the blob read so far), "done"."""


@record
class Pulled:
    name: str  # the name in the store: busybox:latest, 127.0.0.1:5000/demo@sha256:...
    image_id: str  # config digest
    digest: str  # what `pull NAME@DIGEST` names: the index's digest when the tag is an index
    platform: str  # linux/amd64
    downloaded: int  # layers fetched by this pull (0: everything was in the store already)
    up_to_date: bool  # the name already meant this image before the pull
    record: dict[str, Any]


def pull(
    ref: Reference,
    store: Store | None = None,
    *,
    insecure: bool = False,
    listener: PullListener | None = None,
    user_agent: str = "boxtrace",
) -> Pulled:
    store = store or Store()
    tell = listener or PullListener()
    registry = Registry(ref.api_host, insecure=insecure, user_agent=user_agent)
    tell.message(f"{ref.tag or ref.digest}: Pulling from {ref.familiar} ({registry.url('')})")
    manifest, digest = _manifest(registry, ref)
    config_descriptor = _object(manifest.get("config"), f"manifest {digest}: config")
    if config_descriptor.get("mediaType") not in CONFIG_TYPES:
        raise RegistryError(
            f"{ref.name} is not a container image: its config is {config_descriptor.get('mediaType')!r}"
        )
    config_digest = _checked_digest(config_descriptor, "config")
    config_bytes = registry.read_blob(ref.path, config_digest, _size(config_descriptor), limit=CONFIG_MAX)
    try:
        config = json.loads(config_bytes)
    except (ValueError, RecursionError) as exc:
        raise ImageError(f"config {config_digest} of {ref.name} is not valid JSON: {exc}") from None
    config = _object(config, f"config {config_digest} of {ref.name}")
    here = "/".join(p for p in platform.host_platform() if p)
    image_platform = platform.describe(config)
    if platform.pick([{"platform": config}]) is None:
        tell.message(
            f"warning: the image's platform ({image_platform}) does not match this host ({here}): "
            "its programs may not run here"
        )
    listed = _list(manifest.get("layers"), f"manifest {digest}: layers")
    descriptors = [_object(d, f"manifest {digest}: layer") for d in listed]
    rootfs = _object(config.get("rootfs") or {}, f"config {config_digest}: rootfs")
    diff_ids = _list(rootfs.get("diff_ids"), f"config {config_digest}: rootfs.diff_ids")
    for diff_id in diff_ids:
        if not isinstance(diff_id, str) or not SHA256.fullmatch(diff_id):
            raise ImageError(f"config {config_digest}: diff_id {diff_id!r} is not a sha256 digest")
    if len(diff_ids) != len(descriptors):
        raise ImageError(
            f"config {config_digest}: rootfs.diff_ids lists {len(diff_ids)} layers, "
            f"the manifest {len(descriptors)}"
        )
    layers = [(_checked_layer(d), _size(d), i) for d, i in zip(descriptors, diff_ids, strict=True)]
    tell.layers([(blob, size) for blob, size, _ in layers])
    metas = []
    downloaded = 0
    for number, (blob, size, diff_id) in enumerate(layers, 1):
        if store.has_layer(diff_id):
            tell.layer(blob, "exists", size, size)
            metas.append(store.layer_meta(diff_id))
            continue
        label = f"layer {number}/{len(layers)} ({blob})"
        metas.append(_fetch_layer(registry, ref, store, blob, size, diff_id, label, tell))
        downloaded += 1
    from boxtrace.runtime.images.sources import _save

    before = store.find_by_name(ref.name)
    up_to_date = before is not None and before["id"] == config_digest and not downloaded
    known: list[str] = next(
        (r.get("repo_digests", []) for r in store.records() if r["id"] == config_digest), []
    )
    saved = _save(store, config, config_digest, [ref.name], f"pull:{ref}", metas)
    # Docker's RepoDigests: NAME@DIGEST pulls this very image again, whatever its tag says by then
    saved["repo_digests"] = sorted({*known, f"{ref.familiar}@{digest}"})
    store.save_record(saved)
    return Pulled(
        name=ref.name,
        image_id=config_digest,
        digest=digest,
        platform=image_platform,
        downloaded=downloaded,
        up_to_date=up_to_date,
        record=saved,
    )


def _manifest(registry: Registry, ref: Reference) -> tuple[dict[str, Any], str]:
    """The image manifest to pull (the host's, when the reference names an index) and the digest
    of what the reference names."""
    try:
        body, media_type, digest = registry.manifest(ref.path, ref.manifest_ref)
    except NotFound as exc:
        raise _not_found(registry, ref, exc) from None
    document = _parse_manifest(body, media_type, ref, digest)
    if not _is_index(document, media_type):
        return document, digest
    listed = _list(document.get("manifests"), f"index {digest}: manifests")
    descriptors = [d for d in listed if isinstance(d, dict)]
    chosen = platform.pick(descriptors)
    if chosen is None:
        offered = sorted({platform.describe(d.get("platform")) for d in descriptors})
        here = "/".join(p for p in platform.host_platform() if p)
        raise RegistryError(
            f"{ref.name} has no image for this host's platform {here} "
            f"(registry {ref.api_host} offers: {', '.join(offered) or 'none'})"
        )
    chosen_digest = _checked_digest(chosen, "manifest")
    body, media_type, _ = registry.manifest(ref.path, chosen_digest)
    document = _parse_manifest(body, media_type or str(chosen.get("mediaType") or ""), ref, chosen_digest)
    if _is_index(document, media_type):
        raise ImageError(f"{ref.name}: the index {digest} points to another index ({chosen_digest})")
    return document, digest


def _parse_manifest(body: bytes, media_type: str, ref: Reference, digest: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ImageError(f"manifest {digest} of {ref.name} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ImageError(f"manifest {digest} of {ref.name} is not a JSON object")
    kind = document.get("mediaType") or media_type
    if kind in SCHEMA1_TYPES or document.get("schemaVersion") == 1:
        raise ImageError(
            f"{ref.name} has a schema 1 manifest (deprecated since 2017, removed from Docker): "
            "not supported; push it again with a current Docker or skopeo"
        )
    if kind not in INDEX_TYPES + MANIFEST_TYPES and "manifests" not in document and "layers" not in document:
        raise ImageError(f"{ref.name}: manifest {digest} has an unknown media type {kind!r}")
    return document


def _is_index(document: dict[str, Any], media_type: str) -> bool:
    return (document.get("mediaType") or media_type) in INDEX_TYPES or "manifests" in document


def _not_found(registry: Registry, ref: Reference, exc: NotFound) -> RegistryError:
    """Tell an unknown image from an unknown tag (the tag list says which, and which tags exist)."""
    where = f"registry {ref.api_host}"
    unknown = RegistryError(f"unknown image {ref.familiar}: {where} has no repository {ref.path!r}")
    if "NAME_UNKNOWN" in exc.codes:
        return unknown
    tags: list[str] | None = None
    try:
        tags = registry.tags(ref.path)
    except NotFound as again:
        if "NAME_UNKNOWN" in again.codes:
            return unknown
    except RegistryError:
        pass  # the tag list is only a better message
    if ref.digest is not None:
        return RegistryError(f"no manifest {ref.digest} for {ref.familiar} on {where}")
    known = f" (tags: {', '.join(tags)})" if tags else " (it has no tags)" if tags == [] else ""
    return RegistryError(f"no tag {ref.tag!r} for {ref.familiar} on {where}{known}")


def _object(value: Any, what: str) -> dict[str, Any]:
    """A JSON object the image format requires (a registry may send any JSON in its place)."""
    if not isinstance(value, dict):
        raise ImageError(f"{what} is not a JSON object ({type(value).__name__})")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ImageError(f"{what} is not a JSON array ({type(value).__name__})")
    return value


def _checked_digest(descriptor: dict[str, Any], what: str) -> str:
    digest = str(descriptor.get("digest"))
    if not SHA256.fullmatch(digest):
        raise ImageError(f"{what} digest {digest!r}: unsupported or malformed (only sha256 is supported)")
    return digest


def _checked_layer(descriptor: dict[str, Any]) -> str:
    digest = _checked_digest(descriptor, "layer")
    kind = LAYER_TYPES.get(str(descriptor.get("mediaType")))
    if kind is None:
        kind_there = descriptor.get("mediaType")
        raise ImageError(f"layer {digest} has the media type {kind_there!r}: not an image layer")
    if kind == "zstd":
        raise ImageError(
            f"layer {digest} is zstd-compressed: not supported (Python 3.11 has no zstd); "
            "ask for the image with gzip layers"
        )
    if kind == "foreign":
        raise ImageError(f"layer {digest} is a non-distributable (foreign) layer: not supported")
    return digest


def _size(descriptor: dict[str, Any]) -> int:
    size = descriptor.get("size")
    if not isinstance(size, int) or size < 0:
        raise ImageError(f"descriptor {descriptor.get('digest')} has no valid size ({size!r})")
    return size


def _fetch_layer(
    registry: Registry,
    ref: Reference,
    store: Store,
    blob: str,
    size: int,
    diff_id: str,
    label: str,
    tell: PullListener,
) -> dict[str, Any]:
    """Download into store/tmp, verify, unpack into the store; the download is removed in any case."""
    import tempfile

    from boxtrace.runtime.images.sources import _unpack_into_store

    tmp = os.path.join(store.root, "tmp")
    os.makedirs(tmp, mode=0o700, exist_ok=True)
    work = tempfile.mkdtemp(prefix="pull-", dir=tmp)
    try:
        path = os.path.join(work, "blob")
        tell.layer(blob, "downloading", 0, size)
        with open(path, "wb") as out:
            registry.fetch_blob(
                ref.path, blob, size, out, lambda done: tell.layer(blob, "downloading", done, size)
            )
        tell.layer(blob, "downloaded", size, size)
        tell.layer(blob, "extracting", 0, size)
        meta = _unpack_into_store(
            store,
            lambda: _Reading(path, lambda done: tell.layer(blob, "extracting", done, size)),
            blob,
            diff_id,
            label,
        )
        tell.layer(blob, "done", size, size)
        return meta
    finally:
        remove_tree(work)


class _Reading(io.FileIO):
    """The downloaded blob, telling how far the unpacker has read (for the progress bar)."""

    def __init__(self, path: str, progress: Callable[[int], None]) -> None:
        super().__init__(path, "rb")
        self.progress = progress

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.progress(self.tell())
        return data


__all__ = ["CorruptBlob", "PullListener", "Pulled", "RegistryError", "pull"]

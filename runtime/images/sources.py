"""Load an image into the store from an OCI image layout, a `docker save` archive or a rootfs
tarball: read its index/manifest/config, check every digest, unpack the layers not stored yet.

Imported only when an image is not in the store yet (``resolve.py`` checks that with json alone).
"""

from __future__ import annotations

import contextlib
import json
import os

from boxtrace.runtime.images.store import ImageError, Store, remove_tree, write_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from collections.abc import Callable, Iterator
    from typing import IO, Any

INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"  # Docker >= 25 writes the full name here
ARCHITECTURES = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}


class _DirBlobs:
    def __init__(self, root: str) -> None:
        self.root = root

    def exists(self, name: str) -> bool:
        return os.path.isfile(os.path.join(self.root, name))

    def open(self, name: str) -> IO[bytes]:
        try:
            return open(os.path.join(self.root, name), "rb")
        except FileNotFoundError:
            raise ImageError(f"{self.root}: missing {name}") from None

    def read(self, name: str) -> bytes:
        with self.open(name) as handle:
            return handle.read()


class _TarBlobs:
    """Files of an image archive (a tar), opened in place: docker save archives are uncompressed,
    so each member is a seekable window into the file."""

    def __init__(self, archive: tarfile.TarFile, label: str) -> None:
        self.archive = archive
        self.label = label
        self.members = {m.name.removeprefix("./"): m for m in archive.getmembers() if m.isreg() or m.islnk()}

    def exists(self, name: str) -> bool:
        return name.removeprefix("./") in self.members

    def open(self, name: str) -> IO[bytes]:
        member = self.members.get(name.removeprefix("./"))
        handle = self.archive.extractfile(member) if member is not None else None
        if handle is None:
            raise ImageError(f"{self.label}: missing {name}")
        return handle

    def read(self, name: str) -> bytes:
        with self.open(name) as handle:
            return handle.read()


def sha256(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_path(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
        raise ImageError(f"unsupported or malformed digest {digest!r} (only sha256 is supported)")
    return f"blobs/sha256/{value}"


def read_verified(blobs: _DirBlobs | _TarBlobs, digest: str, what: str) -> bytes:
    data = blobs.read(blob_path(digest))
    if sha256(data) != digest:
        raise ImageError(f"{what} blob {digest} does not match its digest (got {sha256(data)}): corrupted")
    return data


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except RecursionError:  # json recurses once per nested list or object
        raise ImageError(f"{what} is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise ImageError(f"{what} is not valid JSON: {exc}") from None


# --- entry points -----------------------------------------------------------------------------------


def import_oci_layout(path: str, tag: str | None, store: Store, key: str) -> dict[str, Any]:
    with _malformed(path):
        return _import_oci(_DirBlobs(path), path, tag, store, key)


@contextlib.contextmanager
def _malformed(path: str) -> Iterator[None]:
    """An index, manifest or config whose JSON has another shape than the OCI image spec's (a
    list where an object belongs, a field missing): one ImageError naming the image, not the
    KeyError or TypeError of the line that looked."""
    try:
        yield
    except KeyError as exc:
        raise ImageError(f"{path}: malformed image metadata: missing field {exc.args[0]!r}") from None
    except (TypeError, AttributeError, IndexError) as exc:
        raise ImageError(f"{path}: malformed image metadata (a field of the wrong type: {exc})") from None


def import_archive(path: str, tag: str | None, store: Store, key: str) -> dict[str, Any]:
    """A tar file: `docker save` (manifest.json, legacy or OCI form), an OCI layout in a tar
    (`skopeo copy oci-archive:`), or else a root filesystem tarball (`docker export`)."""
    import tarfile

    try:
        archive = tarfile.open(path, "r:*")  # noqa: SIM115 (closed by the `with` below)
    except tarfile.TarError as exc:
        raise ImageError(f"{path} is not an image: not a directory, and not a tar archive ({exc})") from None
    with archive:
        try:
            blobs = _TarBlobs(archive, path)
        except (tarfile.TarError, EOFError) as exc:
            raise ImageError(f"{path}: corrupted or truncated archive ({exc})") from None
        with _malformed(path):
            if blobs.exists("manifest.json"):
                return _import_docker_archive(blobs, path, tag, store, key)
            if blobs.exists("index.json") and blobs.exists("oci-layout"):
                return _import_oci(blobs, path, tag, store, key)
    if tag is not None:
        raise ImageError(f"{path} is a root filesystem tarball: it has no tags (drop :{tag})")
    return _import_rootfs_tarball(path, store, key)


# --- OCI image layout ---------------------------------------------------------------------------------


def _import_oci(
    blobs: _DirBlobs | _TarBlobs, path: str, tag: str | None, store: Store, key: str
) -> dict[str, Any]:
    index = _json(blobs.read("index.json"), f"{path}/index.json")
    descriptor = _pick_manifest(index.get("manifests") or [], tag, path)
    annotations = descriptor.get("annotations") or {}
    manifest = _json(
        read_verified(blobs, descriptor["digest"], "manifest"), f"manifest {descriptor['digest']}"
    )
    if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
        descriptor = _pick_platform(manifest.get("manifests") or [], path)
        manifest = _json(
            read_verified(blobs, descriptor["digest"], "manifest"), f"manifest {descriptor['digest']}"
        )
    config_digest = manifest["config"]["digest"]
    config = _json(read_verified(blobs, config_digest, "config"), f"config {config_digest}")
    layers = [(blob_path(d["digest"]), d["digest"]) for d in manifest.get("layers") or []]
    ref = annotations.get(REF_NAME) or tag
    if annotations.get(CONTAINERD_NAME):
        name = annotations[CONTAINERD_NAME]
    elif ref and (":" in ref or "/" in ref):
        name = ref
    else:
        name = f"{_base_name(path)}:{ref or 'latest'}"
    return _store_image(blobs, store, layers, config, config_digest, [name], key)


def _pick_manifest(manifests: list[dict[str, Any]], tag: str | None, path: str) -> dict[str, Any]:
    def ref(m: dict[str, Any]) -> str | None:
        return (m.get("annotations") or {}).get(REF_NAME)

    tags = sorted({r for m in manifests if (r := ref(m))})
    if tag is not None:
        found = [
            m for m in manifests if ref(m) == tag or (m.get("annotations") or {}).get(CONTAINERD_NAME) == tag
        ]
        if not found:
            raise ImageError(f"no tag {tag!r} in {path}/index.json (tags: {', '.join(tags) or 'none'})")
        return found[0]
    if len(manifests) == 1:
        return manifests[0]
    latest = [m for m in manifests if ref(m) == "latest"]
    if latest:
        return latest[0]
    if not manifests:
        raise ImageError(f"{path}/index.json lists no images")
    raise ImageError(f"{path} holds several images: pick one with {path}:TAG (tags: {', '.join(tags)})")


def _pick_platform(manifests: list[dict[str, Any]], path: str) -> dict[str, Any]:
    arch = ARCHITECTURES.get(os.uname().machine, os.uname().machine)
    for m in manifests:
        platform = m.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == arch:
            return m
    seen = ", ".join(
        f"{(m.get('platform') or {}).get('os')}/{(m.get('platform') or {}).get('architecture')}"
        for m in manifests
    )
    raise ImageError(f"{path}: no image for linux/{arch} in its manifest list (has: {seen})")


# --- docker save -------------------------------------------------------------------------------------


def _import_docker_archive(
    blobs: _TarBlobs, path: str, tag: str | None, store: Store, key: str
) -> dict[str, Any]:
    """manifest.json: [{"Config": ..., "RepoTags": [...], "Layers": [...]}]. Legacy archives name
    files by id ("<hex>.json", "<id>/layer.tar"); Docker >= 25 points into an OCI layout
    ("blobs/sha256/<hex>"), so both forms are read the same way."""
    entries = _json(blobs.read("manifest.json"), f"{path}/manifest.json")
    if not isinstance(entries, list) or not entries:
        raise ImageError(f"{path}/manifest.json lists no images")
    entry = entries[0]
    if tag is not None:
        matches = [e for e in entries if any(_tag_matches(t, tag) for t in e.get("RepoTags") or [])]
        if not matches:
            tags = sorted(t for e in entries for t in e.get("RepoTags") or [])
            raise ImageError(f"no tag {tag!r} in {path} (tags: {', '.join(tags) or 'none'})")
        entry = matches[0]
    elif len(entries) > 1:
        tags = sorted(t for e in entries for t in e.get("RepoTags") or [])
        raise ImageError(f"{path} holds several images: pick one with {path}:TAG (tags: {', '.join(tags)})")
    config_bytes = blobs.read(entry["Config"])
    config_digest = sha256(config_bytes)
    expected = _digest_in_name(entry["Config"])
    if expected is not None and expected != config_digest:
        raise ImageError(f"config blob {expected} does not match its digest (got {config_digest}): corrupted")
    config = _json(config_bytes, f"config {config_digest}")
    layers = [(name, _digest_in_name(name)) for name in entry.get("Layers") or []]
    names = list(entry.get("RepoTags") or []) or [f"{_base_name(path)}:latest"]
    return _store_image(blobs, store, layers, config, config_digest, names, key)


def _tag_matches(repo_tag: str, wanted: str) -> bool:
    repo, _, tag = repo_tag.rpartition(":")
    return wanted in (repo_tag, tag, repo)


def _digest_in_name(name: str) -> str | None:
    """blobs/sha256/<hex> (OCI form) or <hex>.json (legacy config) carry their digest."""
    parts = name.removeprefix("./").split("/")
    if len(parts) == 3 and parts[:2] == ["blobs", "sha256"]:
        return "sha256:" + parts[2]
    stem = parts[-1].removesuffix(".json")
    if len(parts) == 1 and len(stem) == 64 and all(c in "0123456789abcdef" for c in stem):
        return "sha256:" + stem
    return None


# --- rootfs tarball ------------------------------------------------------------------------------------


def _import_rootfs_tarball(path: str, store: Store, key: str) -> dict[str, Any]:
    """`docker export` output: one layer, no config; its diff id is computed while unpacking."""
    meta = _unpack_into_store(
        store,
        lambda: open(path, "rb"),  # noqa: SIM115 (closed by the caller's `with`)
        None,
        None,
        f"rootfs tarball {path}",
    )
    diff_id = meta["diff_id"]
    config = {
        "architecture": ARCHITECTURES.get(os.uname().machine),
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    config_digest = sha256(json.dumps(config, sort_keys=True).encode())
    return _save(store, config, config_digest, [f"{_base_name(path)}:latest"], key, [meta])


# --- common -------------------------------------------------------------------------------------------


def _store_image(
    blobs: _DirBlobs | _TarBlobs,
    store: Store,
    layers: list[tuple[str, str | None]],
    config: dict[str, Any],
    config_digest: str,
    names: list[str],
    key: str,
) -> dict[str, Any]:
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if len(diff_ids) != len(layers):
        raise ImageError(
            f"config {config_digest}: rootfs.diff_ids lists {len(diff_ids)} layers, "
            f"the manifest {len(layers)}"
        )
    metas = []
    for number, ((name, digest), diff_id) in enumerate(zip(layers, diff_ids, strict=True), 1):
        label = f"layer {number}/{len(layers)} ({digest or diff_id})"
        if store.has_layer(diff_id):
            metas.append(store.layer_meta(diff_id))  # stored once: shared with other images
            continue
        metas.append(_unpack_into_store(store, lambda n=name: blobs.open(n), digest, diff_id, label))  # type: ignore[misc]
    return _save(store, config, config_digest, names, key, metas)


def _unpack_into_store(
    store: Store, open_blob: Callable[[], IO[bytes]], digest: str | None, diff_id: str | None, label: str
) -> dict[str, Any]:
    """Unpack into store/tmp, rename into layers/ when complete: a failure leaves nothing behind."""
    import tempfile

    from boxtrace.runtime.images.unpack import unpack_layer

    tmp = os.path.join(store.root, "tmp")
    os.makedirs(tmp, mode=0o700, exist_ok=True)
    os.makedirs(os.path.join(store.root, "layers"), mode=0o755, exist_ok=True)
    work = tempfile.mkdtemp(prefix="unpack-", dir=tmp)
    try:
        dest = os.path.join(work, "layer")
        os.mkdir(dest, 0o755)
        with open_blob() as blob:
            meta = unpack_layer(blob, dest, blob_digest=digest, diff_id=diff_id, label=label)
        meta_path = os.path.join(work, "layer.json")
        write_json(meta_path, meta)
        final = store.layer_dir(meta["diff_id"])
        try:
            os.rename(dest, final)
        except OSError:
            if not os.path.isdir(final):
                raise  # not a concurrent import of the same layer: a real error
        os.rename(meta_path, store.layer_meta_path(meta["diff_id"]))
        return meta
    finally:
        remove_tree(work)


def _save(
    store: Store,
    config: dict[str, Any],
    config_digest: str,
    names: list[str],
    key: str,
    metas: list[dict[str, Any]],
) -> dict[str, Any]:
    existing = next((r for r in store.records() if r["id"] == config_digest), None) or {}
    record = {
        "id": config_digest,
        "names": sorted(set(existing.get("names", [])) | set(names)),
        "layers": [m["diff_id"] for m in metas],
        "config": config.get("config") or {},
        "architecture": config.get("architecture"),
        "os": config.get("os"),
        "created": config.get("created"),
        "size": sum(int(m.get("size", 0)) for m in metas),
        # where the image was loaded from, and the name it got there: the next run of the same
        # source finds the image by this key without reading any blob
        "sources": {**existing.get("sources", {}), key: names[0]},
    }
    store.save_record(record)
    return record


def _base_name(path: str) -> str:
    name = os.path.basename(os.path.realpath(path)) or "image"
    for suffix in (".tar.gz", ".tgz", ".tar", ".oci"):
        name = name.removesuffix(suffix)
    return name.lower() or "image"

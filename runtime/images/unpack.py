"""Unpack one layer tarball into its own directory, safely, checking its digests as it streams.

Every entry is created inside the layer's directory or refused:

* names are relative and may not climb out: an absolute name or a ``..`` that would leave the root
  is an error, never silently re-rooted;
* parent directories are walked one component at a time with lstat: an entry whose path goes
  through a symlink (planted by an earlier entry, e.g. ``etc -> /etc`` then ``etc/passwd``) or a
  non-directory is refused, so nothing is ever written through a link;
* hard links must name an earlier entry of the same layer, by the same rules;
* symlinks are created as they are: their targets are read only by the container, inside its own
  root (absolute targets mean the image's root), and never followed here;
* device nodes are created only by root (otherwise skipped and counted).

Whiteouts become overlayfs whiteouts, as containerd does for its overlay snapshotter: ``.wh.NAME``
a 0/0 character device NAME, ``.wh..wh..opq`` the ``trusted.overlay.opaque=y`` xattr on its
directory. Both need root; without it they are only recorded (``whiteouts``/``opaque`` in the layer
metadata) and the runtime falls back to a flattened copy (``flatten.py``).

The module is imported only to unpack: tarfile, gzip and hashlib are imported inside functions.
"""

from __future__ import annotations

import contextlib
import os
import stat

from boxtrace.runtime.images.store import ImageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from typing import IO, Any

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
CHUNK = 1 << 20


class UnsafeEntry(ImageError):
    """A layer entry that would write or link outside the layer's root."""


class _Hashing:
    """A read-only file wrapper that hashes (sha256) and counts every byte read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        import hashlib

        self.raw = raw
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def unpack_layer(
    blob: IO[bytes], dest: str, *, blob_digest: str | None, diff_id: str | None, label: str
) -> dict[str, Any]:
    """Unpack the (possibly gzip-compressed) layer tar ``blob`` into the new directory ``dest``.

    ``blob_digest``: the digest the blob must have (None when the archive names none, as in
    legacy `docker save`); ``diff_id``: the digest of the uncompressed tar, from the config's
    rootfs.diff_ids (None for a plain rootfs tarball: the computed one is returned). Returns the
    layer's metadata. Raises ImageError naming the digest when the
    blob is corrupted, truncated or does not match.
    """
    import gzip
    import tarfile
    import zlib

    magic = blob.read(4)
    blob.seek(0)
    if magic[:4] == b"\x28\xb5\x2f\xfd":
        raise ImageError(
            f"{label}: zstd-compressed layers are not supported (Python 3.11 has no zstd); "
            "convert the image with gzip layers (skopeo copy --dest-compress-format gzip)"
        )
    compressed = _Hashing(blob)
    # Any: the wrappers are file-like enough for gzip and tarfile (read only), not IO[bytes].
    stream: Any = compressed
    if magic[:2] == b"\x1f\x8b":
        stream = gzip.GzipFile(fileobj=stream, mode="rb")
    uncompressed: Any = _Hashing(stream)
    layer = _Layer(dest, os.geteuid() == 0)
    try:
        with tarfile.open(fileobj=uncompressed, mode="r|") as archive:
            for member in archive:
                try:
                    layer.add(member, archive)
                except UnsafeEntry:
                    raise
                except OSError as exc:  # a name too long, a hard link to a directory...
                    raise ImageError(
                        f"{label}: cannot unpack entry {member.name[:200]!r}: {exc.strerror}"
                    ) from None
        uncompressed.drain()  # the end-of-archive blocks count towards the digests
        compressed.drain()
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ImageError(f"{label}: corrupted or truncated blob ({exc})") from None
    if blob_digest is not None and compressed.digest() != blob_digest:
        raise ImageError(
            f"{label}: blob {blob_digest} does not match its digest (its content hashes to "
            f"{compressed.digest()}): corrupted"
        )
    if diff_id is not None and uncompressed.digest() != diff_id:
        raise ImageError(
            f"{label}: uncompressed layer hashes to {uncompressed.digest()}, but the config's "
            f"rootfs.diff_ids says {diff_id}: corrupted or not this image's layer"
        )
    layer.finish()
    return {
        "diff_id": diff_id or uncompressed.digest(),
        "size": layer.size,
        "whiteouts": layer.whiteouts,
        "opaque": layer.opaque,
        "materialized": layer.privileged,  # overlay whiteouts were created (root only)
        "skipped_devices": layer.skipped_devices,
    }


def clean_name(name: str) -> str:
    """The entry's path relative to the layer root, or UnsafeEntry if it is absolute or climbs out."""
    if name.startswith("/"):
        raise UnsafeEntry(f"entry {name!r} has an absolute path: refused")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafeEntry(f"entry {name!r} points outside the layer's root: refused")
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


class _Layer:
    def __init__(self, root: str, privileged: bool) -> None:
        self.root = root
        self.privileged = privileged
        self.size = 0
        self.whiteouts: list[str] = []
        self.opaque: list[str] = []
        self.skipped_devices = 0
        self.dirs: list[tuple[str, tarfile.TarInfo]] = []  # attributes set last: modes may forbid writes

    def parent_of(self, relative: str, entry: str) -> str:
        """The host directory that will hold ``relative``, creating missing parents; refuses any
        component that is a symlink or not a directory."""
        current = self.root
        for part in relative.split("/")[:-1]:
            current = os.path.join(current, part)
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                os.mkdir(current, 0o755)
                continue
            if stat.S_ISLNK(info.st_mode):
                link = os.path.relpath(current, self.root)
                raise UnsafeEntry(
                    f"entry {entry!r} would be written through the symlink {link!r} "
                    f"(-> {os.readlink(current)}): refused"
                )
            if not stat.S_ISDIR(info.st_mode):
                raise UnsafeEntry(
                    f"entry {entry!r}: {os.path.relpath(current, self.root)!r} is not a directory"
                )
        return current

    def add(self, member: tarfile.TarInfo, archive: tarfile.TarFile) -> None:
        relative = clean_name(member.name)
        if not relative:
            return  # the root itself ("./"): the layer directory already exists
        base = relative.rsplit("/", 1)[-1]
        if base == OPAQUE_MARKER:
            directory = relative.rpartition("/")[0]
            self.opaque.append("/" + directory)
            if self.privileged:
                path = os.path.join(self.parent_of(relative, member.name), "")
                os.setxattr(path, "trusted.overlay.opaque", b"y", follow_symlinks=False)
            return
        if base.startswith(WHITEOUT_PREFIX):
            hidden = relative[: -len(base)] + base[len(WHITEOUT_PREFIX) :]
            self.whiteouts.append("/" + hidden)
            if self.privileged:
                target = os.path.join(self.parent_of(relative, member.name), base[len(WHITEOUT_PREFIX) :])
                self._clear(target)
                os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
            return
        target = os.path.join(self.parent_of(relative, member.name), base)
        if member.isdir():
            if not os.path.isdir(target) or os.path.islink(target):
                self._clear(target)
                os.mkdir(target, 0o755)
            self.dirs.append((target, member))
            return
        self._clear(target)
        if member.isreg():
            source = archive.extractfile(member)
            assert source is not None
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
            self.size += member.size
        elif member.issym():
            os.symlink(member.linkname, target)
        elif member.islnk():
            try:
                linked = clean_name(member.linkname)
            except UnsafeEntry:
                linked = ""
            if not linked:
                raise UnsafeEntry(
                    f"hard link {member.name!r} -> {member.linkname!r} points outside the layer: refused"
                )
            source_path = os.path.join(self.parent_of(linked, member.name), linked.rsplit("/", 1)[-1])
            if not os.path.lexists(source_path):
                raise UnsafeEntry(
                    f"hard link {member.name!r} -> {member.linkname!r}: no such earlier entry: refused"
                )
            os.link(source_path, target, follow_symlinks=False)
            return  # a hard link shares the attributes of its target
        elif member.isfifo():
            os.mkfifo(target, 0o600)
        elif member.ischr() or member.isblk():
            if not self.privileged:
                self.skipped_devices += 1
                return
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(target, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        else:
            return  # other types (GNU volume headers...) carry nothing to create
        self._attributes(target, member)

    def _clear(self, target: str) -> None:
        """An entry replaces whatever an earlier entry of this layer put at its path."""
        if os.path.lexists(target):
            if os.path.isdir(target) and not os.path.islink(target):
                from boxtrace.runtime.images.store import remove_tree

                remove_tree(target)
            else:
                os.unlink(target)

    def _attributes(self, target: str, member: tarfile.TarInfo) -> None:
        is_link = member.issym()
        if self.privileged:
            os.chown(target, member.uid, member.gid, follow_symlinks=False)
            for key, value in member.pax_headers.items():
                if key.startswith("SCHILY.xattr."):
                    # e.g. security.capability on ping; a filesystem may refuse some names
                    with contextlib.suppress(OSError):
                        os.setxattr(
                            target,
                            key[len("SCHILY.xattr.") :],
                            value.encode("utf-8", "surrogateescape"),
                            follow_symlinks=False,
                        )
        if not is_link:
            # After chown, which clears setuid bits; a non-root owner must keep read/write access.
            mode = member.mode & 0o7777 if self.privileged else (member.mode & 0o7777) | 0o600
            os.chmod(target, mode)
        os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)

    def finish(self) -> None:
        for target, member in reversed(self.dirs):
            self._attributes(target, member)
            if not self.privileged:
                os.chmod(target, (member.mode & 0o7777) | 0o700)

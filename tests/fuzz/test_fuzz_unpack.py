"""Fuzzing layer unpacking (runtime/images/unpack.py) with hostile tar archives: absolute paths,
``..``, symlinks out of the layer and files written through them, hard links out, device nodes,
sizes that lie, whiteouts and opaque directories, duplicates, long names. Nothing may be written
outside the target directory, and a refused archive is a one-line ImageError."""

from __future__ import annotations

import io
import os
import tarfile
import tempfile

from hypothesis import example, given
from hypothesis import strategies as st

from boxtrace.runtime.errors import RuntimeUsageError
from boxtrace.runtime.images.unpack import unpack_layer

NAMES = st.sampled_from(
    [
        "a", "a/b", "dir", "dir/f", "link", "link/f", "link/../../escape", "../escape", "../../tmp/escape",
        "/etc/escape", "/abs", "./a", "a/../../escape", ".wh.a", "dir/.wh.f", "dir/.wh..wh..opq",
        ".wh..wh..opq", "x" * 300, "d/" * 60 + "f", "", ".", "..", "a//b", "dev/null", "outside/f",
    ]
)  # fmt: skip
TARGETS = st.sampled_from(
    ["..", "../..", "/", "/tmp", "../outside", "outside", "a", "dir", "/etc/passwd", ""]
)
KINDS = st.sampled_from(
    [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE,
     tarfile.FIFOTYPE]
)  # fmt: skip


@st.composite
def hostile_tar(draw: st.DrawFn) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(
        fileobj=raw, mode="w", format=draw(st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT]))
    ) as tar:
        for _ in range(draw(st.integers(1, 8))):
            info = tarfile.TarInfo(draw(NAMES))
            info.type = draw(KINDS)
            info.mode = draw(st.sampled_from([0o644, 0o755, 0o4755, 0o000, 0o7777]))
            info.mtime = 1_700_000_000
            if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = draw(TARGETS | NAMES)
            if info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = draw(st.sampled_from([(1, 3), (8, 0), (0, 0)]))
            data = b""
            if info.type == tarfile.REGTYPE:
                data = draw(st.binary(max_size=64))
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    blob = raw.getvalue()
    how = draw(st.sampled_from(["whole", "whole", "cut", "lying-size"]))
    if how == "cut":
        blob = blob[: draw(st.integers(0, len(blob)))]
    elif how == "lying-size" and len(blob) > 512:
        # The first header's size field (offset 124, 12 octal digits) says more than follows.
        header = bytearray(blob[:512])
        header[124:136] = b"77777777777\0"
        header[148:156] = b" " * 8
        header[148:154] = f"{sum(header):06o}".encode()
        blob = bytes(header) + blob[512:]
    return blob


def _snapshot(root: str, skip: str) -> dict[str, tuple[int, int, bytes | str | None]]:
    found: dict[str, tuple[int, int, bytes | str | None]] = {}
    for directory, dirs, files in os.walk(root):
        if directory == skip or directory.startswith(skip + os.sep):
            dirs[:] = []
            continue
        for name in dirs + files:
            path = os.path.join(directory, name)
            if path == skip:
                continue
            st_ = os.lstat(path)
            content: bytes | str | None = None
            if os.path.islink(path):
                content = os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    content = f.read()
            found[path] = (st_.st_mode, st_.st_nlink, content)
    return found


@given(hostile_tar())
@example(b"")
def test_hostile_layers_stay_inside(blob: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        outside = os.path.join(tmp, "outside")
        os.mkdir(outside)
        with open(os.path.join(outside, "f"), "w") as f:
            f.write("keep")
        work = os.path.join(tmp, "work")
        os.mkdir(work)
        dest = os.path.join(work, "layer")
        os.mkdir(dest, 0o755)  # as the store makes it (sources._unpack_into_store)
        before = _snapshot(tmp, dest)
        try:
            unpack_layer(io.BytesIO(blob), dest, blob_digest=None, diff_id=None, label="layer")
        except RuntimeUsageError as exc:
            assert str(exc) and "\n" not in str(exc)
        assert _snapshot(tmp, dest) == before
        assert not os.path.lexists(os.path.join(tmp, "escape"))
        assert not os.path.lexists("/etc/escape") and not os.path.lexists("/tmp/escape")

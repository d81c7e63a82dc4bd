"""Images and layers: the OCI layout, `docker save` archives (both forms), rootfs tarballs, the store,
safe unpacking (whiteouts, escapes, corrupted blobs). Images are built here with tarfile.

Running containers from images (root) is in test_images_run.py, which reuses the builders below.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxtrace.runtime.images.resolve import resolve
from boxtrace.runtime.images.store import ImageError, Store
from boxtrace.runtime.launch import build_image_container
from boxtrace.runtime.options import RunOptions
from tests.conftest import IS_ROOT, REPO

# ("file", name, data[, mode]) | ("dir", name) | ("symlink", name, target) | ("hardlink", name, target)
Entry = tuple


# --- builders -------------------------------------------------------------------------------------


def layer_tar(entries: list[Entry], compress: bool = True) -> tuple[bytes, str]:
    """(blob, diff_id): a layer tarball and the digest of its uncompressed tar."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            kind, name = entry[0], entry[1]
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "file":
                data = entry[2]
                info.size = len(data)
                info.mode = entry[3] if len(entry) > 3 else 0o644
                archive.addfile(info, io.BytesIO(data))
                continue
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = entry[2]
            elif kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = entry[2]
            archive.addfile(info)
    tar = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    return (gzip.compress(tar, mtime=0) if compress else tar), diff_id


def busybox_entries() -> list[Entry]:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("needs busybox (Debian package busybox-static)")
    entries: list[Entry] = [("dir", d) for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root")]
    entries.append(("file", "bin/busybox", Path(busybox).read_bytes(), 0o755))
    for applet in ("sh", "cat", "ls", "echo", "test", "touch", "id", "pwd", "env", "stat"):
        entries.append(("symlink", f"bin/{applet}", "busybox"))
    entries.append(
        ("file", "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n")
    )
    entries.append(("file", "etc/group", b"root:x:0:\nnogroup:x:65534:\n"))
    return entries


def image_config(diff_ids: list[str], **process: object) -> dict[str, object]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin", "GREETING=hello"], **process},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }


def _blob(root: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def oci_layout(root: Path, layers: list[tuple[bytes, str]], tag: str = "latest", **process: object) -> Path:
    """An OCI image layout as `skopeo copy ... oci:DIR:TAG` writes it (one tag per call; call again
    with the same root to add another tag)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    config = _blob(root, json.dumps(image_config([d for _, d in layers], **process)).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(root, blob)}
            for blob, _ in layers
        ],
    }
    descriptor = _blob(root, json.dumps(manifest).encode())
    index_path = root / "index.json"
    index = (
        json.loads(index_path.read_text()) if index_path.exists() else {"schemaVersion": 2, "manifests": []}
    )
    index["manifests"].append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            **descriptor,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
    )
    index_path.write_text(json.dumps(index))
    return root


def docker_archive(
    path: Path, layers: list[tuple[bytes, str]], repo_tag: str, form: str, **process: object
) -> Path:
    """`docker save`: "legacy" (<id>/layer.tar, <hex>.json) or "oci" (Docker >= 25: an OCI layout
    plus manifest.json pointing into blobs/). Layers are stored uncompressed, as docker does."""
    staging = path.with_suffix(".d")
    config_bytes = json.dumps(image_config([d for _, d in layers], **process)).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    tars = [gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob for blob, _ in layers]
    if form == "legacy":
        names = []
        for number, tar in enumerate(tars):
            layer_id = hashlib.sha256(f"{number}{config_hex}".encode()).hexdigest()
            (staging / layer_id).mkdir(parents=True)
            (staging / layer_id / "layer.tar").write_bytes(tar)
            names.append(f"{layer_id}/layer.tar")
        (staging / f"{config_hex}.json").write_bytes(config_bytes)
        config_name = f"{config_hex}.json"
    else:
        oci_layout(staging, [(tar, d) for tar, (_, d) in zip(tars, layers, strict=True)], tag=repo_tag)
        names = [f"blobs/sha256/{hashlib.sha256(tar).hexdigest()}" for tar in tars]
        config_name = f"blobs/sha256/{_blob(staging, config_bytes)['digest'].split(':')[1]}"  # type: ignore[union-attr]
    manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": names}]
    (staging / "manifest.json").write_text(json.dumps(manifest))
    with tarfile.open(path, "w") as archive:
        for item in sorted(staging.iterdir()):
            archive.add(item, arcname=item.name)
    shutil.rmtree(staging)
    return path


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "store"
    monkeypatch.setenv("BOXTRACE_STORE", str(root))
    yield root


# layers with a whiteout and an opaque directory over a base
BASE: list[Entry] = [
    ("dir", "etc"),
    ("file", "etc/msg", b"base\n"),
    ("file", "etc/gone", b"deleted by the upper layer\n"),
    ("dir", "data"),
    ("file", "data/old1", b"1"),
    ("file", "data/old2", b"2"),
]
UPPER: list[Entry] = [
    ("dir", "etc"),
    ("file", "etc/msg", b"upper\n"),
    ("file", "etc/.wh.gone", b""),
    ("dir", "data"),
    ("file", "data/.wh..wh..opq", b""),
    ("file", "data/new", b"new"),
]


# --- unpacking and the store ----------------------------------------------------------------------


def test_oci_layout_layers_stored_with_overlay_whiteouts(tmp_path: Path, store: Path) -> None:
    layout = oci_layout(tmp_path / "layout", [layer_tar(BASE), layer_tar(UPPER)], tag="v1", Cmd=["sh"])
    image = resolve(f"{layout}:v1")
    assert image.name == "layout:v1"
    assert len(image.lowers) == 2
    top, base = (Path(p) for p in image.lowers)
    assert (base / "etc/gone").read_text().startswith("deleted")
    assert (top / "etc/msg").read_text() == "upper\n"
    assert not (top / "etc/.wh.gone").exists() and not (top / "data/.wh..wh..opq").exists()
    meta = json.loads(Path(str(top) + ".json").read_text())
    assert meta["whiteouts"] == ["/etc/gone"] and meta["opaque"] == ["/data"]
    if IS_ROOT:
        whiteout = os.lstat(top / "etc/gone")
        assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
        assert os.getxattr(top / "data", "trusted.overlay.opaque") == b"y"
        assert image.unmaterialized == []
    else:
        assert not (top / "etc/gone").exists()
        assert image.unmaterialized  # the runtime will use a copied rootfs
    assert not list((store / "tmp").iterdir())
    # a second resolve finds it by its source without unpacking again
    again = resolve(f"{layout}:v1")
    assert again.lowers == image.lowers


def test_layers_are_stored_once_by_digest(tmp_path: Path, store: Path) -> None:
    base = layer_tar(BASE)
    oci_layout(tmp_path / "a", [base, layer_tar([("file", "a", b"a")])])
    oci_layout(tmp_path / "b", [base, layer_tar([("file", "b", b"b")])])
    first, second = resolve(str(tmp_path / "a")), resolve(str(tmp_path / "b"))
    assert first.lowers[1] == second.lowers[1]
    assert len([p for p in (store / "layers").iterdir() if p.is_dir()]) == 3


def test_bad_tag_and_unknown_image(tmp_path: Path, store: Path) -> None:
    layout = oci_layout(tmp_path / "layout", [layer_tar(BASE)], tag="v1")
    with pytest.raises(ImageError, match=r"no tag 'nope' in .*index.json \(tags: v1\)"):
        resolve(f"{layout}:nope")
    with pytest.raises(ImageError, match=r"unknown image 'no/such:image'.*'boxtrace pull no/such:image'"):
        resolve("no/such:image")


def test_a_stored_image_is_found_by_any_spelling_docker_accepts(tmp_path: Path, store: Path) -> None:
    layout = oci_layout(tmp_path / "layout", [layer_tar(BASE)], tag="v1")
    image = resolve(f"{layout}:v1")
    [record] = Store(str(store)).records()
    record["names"] = ["busybox:latest"]  # as `boxtrace pull busybox` names it
    Store(str(store)).save_record(record)
    for spelling in ("busybox", "busybox:latest", "library/busybox", "docker.io/library/busybox:latest"):
        assert resolve(spelling).image_id == image.image_id


def test_docker_archives_both_forms(tmp_path: Path, store: Path) -> None:
    layers = [layer_tar(BASE), layer_tar(UPPER)]
    legacy = resolve(
        str(docker_archive(tmp_path / "legacy.tar", layers, "demo:legacy", "legacy", Cmd=["sh"]))
    )
    oci = resolve(str(docker_archive(tmp_path / "oci.tar", layers, "demo:oci", "oci", Cmd=["sh"])))
    assert legacy.name == "demo:legacy" and oci.name == "demo:oci"
    # same config and layers: one image with two names, layers stored once
    assert legacy.image_id == oci.image_id and legacy.lowers == oci.lowers
    assert Store(str(store)).find_by_name("demo:legacy") is not None
    assert resolve("demo:oci").lowers == legacy.lowers  # by name, from the store


def test_rootfs_tarball_and_directory(tmp_path: Path, store: Path) -> None:
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(layer_tar(BASE, compress=False)[0])
    image = resolve(str(tarball))
    assert image.name == "rootfs:latest" and len(image.lowers) == 1
    assert (Path(image.lowers[0]) / "etc/msg").read_text() == "base\n"
    directory = resolve(str(tmp_path))
    assert directory.kind == "rootfs-dir" and directory.lowers == [str(tmp_path)]


def test_image_config_becomes_the_process(tmp_path: Path, store: Path) -> None:
    layout = oci_layout(
        tmp_path / "layout",
        [layer_tar(busybox_entries())],
        Entrypoint=["/bin/echo", "entry"],
        Cmd=["default", "args"],
        WorkingDir="/srv",
        User="nobody",
    )
    container = build_image_container(RunOptions(image=str(layout)), str(layout))
    process = container.spec.process
    assert process.args == ["/bin/echo", "entry", "default", "args"]
    assert "GREETING=hello" in process.env and "PATH=/bin" in process.env
    assert process.cwd == "/srv"
    assert (process.user.uid, process.user.gid) == (65534, 65534)
    replaced = build_image_container(
        RunOptions(image=str(layout), command=["mine"], user="0", workdir="/"), str(layout)
    )
    assert replaced.spec.process.args == ["/bin/echo", "entry", "mine"]  # -- CMD replaces Cmd only
    assert replaced.spec.process.user.uid == 0 and replaced.spec.process.cwd == "/"


def test_image_without_command_is_a_usage_error(tmp_path: Path, store: Path) -> None:
    layout = oci_layout(tmp_path / "layout", [layer_tar(BASE)])
    result = run_cli("run", "--no-trace", str(layout), env={"BOXTRACE_STORE": str(store)})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "has no command (no Entrypoint or Cmd" in result.stderr


# --- safety ---------------------------------------------------------------------------------------

MALICIOUS: dict[str, list[Entry]] = {
    "dotdot": [("file", "../escape", b"x")],
    "absolute": [("file", "/abs-escape", b"x")],
    "through-symlink": [("symlink", "etc", "/etc"), ("file", "etc/boxtrace-escape", b"x")],
    "relative-symlink": [("symlink", "up", "../../.."), ("file", "up/boxtrace-escape", b"x")],
    "hardlink": [("hardlink", "passwd", "/etc/passwd")],
    "hardlink-dotdot": [("hardlink", "passwd", "../../../../../../etc/passwd")],
}
REFUSALS = {
    "dotdot": "points outside the layer's root",
    "absolute": "has an absolute path",
    "through-symlink": "would be written through the symlink 'etc'",
    "relative-symlink": "would be written through the symlink 'up'",
    "hardlink": "points outside the layer",
    "hardlink-dotdot": "points outside the layer",
}


def snapshot(*folders: Path) -> set[str]:
    found = set()
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            found.update(os.path.join(dirpath, n) for n in dirnames + filenames)
    return found


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_layers_write_nothing_outside(case: str, tmp_path: Path, store: Path) -> None:
    work = tmp_path / "deep" / "er"
    layout = oci_layout(work / "layout", [layer_tar(MALICIOUS[case])])
    passwd = Path("/etc/passwd").stat()
    around = snapshot(tmp_path)
    with pytest.raises(ImageError, match=REFUSALS[case]):
        resolve(str(layout))
    assert snapshot(tmp_path) - around == {str(store), str(store / "layers"), str(store / "tmp")}
    assert not list((store / "layers").iterdir()) and not list((store / "tmp").iterdir())
    assert not Path("/etc/boxtrace-escape").exists() and not Path("/abs-escape").exists()
    assert not (tmp_path / "escape").exists() and not (work / "escape").exists()
    after = Path("/etc/passwd").stat()
    assert (after.st_nlink, after.st_mtime_ns) == (passwd.st_nlink, passwd.st_mtime_ns)


def test_symlinks_to_absolute_paths_are_kept_as_links(tmp_path: Path, store: Path) -> None:
    """An absolute symlink means the image's root: it is created, never followed while unpacking."""
    layout = oci_layout(
        tmp_path / "layout", [layer_tar([("symlink", "etc", "/etc"), ("hardlink", "etc2", "etc")])]
    )
    image = resolve(str(layout))
    assert os.readlink(Path(image.lowers[0]) / "etc") == "/etc"
    assert os.readlink(Path(image.lowers[0]) / "etc2") == "/etc"


def corrupt(layout: Path, blob: bytes, how: str) -> str:
    digest = hashlib.sha256(blob).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flipped":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    else:  # valid gzip of a different tar: only the digests can tell
        path.write_bytes(layer_tar([("file", "other", b"x")])[0])
    return f"sha256:{digest}"


@pytest.mark.parametrize("how", ["truncated", "flipped", "replaced"])
def test_corrupted_blob_is_reported_by_digest(how: str, tmp_path: Path, store: Path) -> None:
    good, bad = layer_tar(BASE), layer_tar(UPPER)
    layout = oci_layout(tmp_path / "layout", [good, bad], Cmd=["sh"])
    digest = corrupt(layout, bad[0], how)
    result = run_cli("run", "--no-trace", str(layout), env={"BOXTRACE_STORE": str(store)})
    assert result.returncode == 2, result.stderr
    assert digest in result.stderr and "corrupted" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    # the good layer may be stored; the bad one is not, and nothing half-written is left
    assert len([p for p in (store / "layers").iterdir() if p.is_dir()]) == 1
    assert not list((store / "tmp").iterdir())


# --- images and rmi -------------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "boxtrace", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def test_images_lists_and_rmi_removes(tmp_path: Path, store: Path) -> None:
    base = layer_tar(BASE)
    resolve(str(oci_layout(tmp_path / "one", [base, layer_tar(UPPER)], tag="v1")) + ":v1")
    resolve(str(oci_layout(tmp_path / "two", [base])))
    env = {"BOXTRACE_STORE": str(store)}
    listing = run_cli("images", env=env)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["NAME", "IMAGE", "ID", "LAYERS", "SIZE"]
    assert sorted(line.split()[0] for line in lines[1:]) == ["one:v1", "two:latest"]
    removed = run_cli("rmi", "one:v1", env=env)
    assert removed.returncode == 0, removed.stderr
    assert "Untagged: one:v1" in removed.stdout and "Deleted: layer" in removed.stdout
    # the shared base layer stays for "two"
    assert len([p for p in (store / "layers").iterdir() if p.is_dir()]) == 1
    missing = run_cli("rmi", "one:v1", env=env)
    assert missing.returncode == 2 and "no image 'one:v1'" in missing.stderr
    assert run_cli("rmi", "two", env=env).returncode == 0
    assert not [p for p in (store / "layers").iterdir()]
    assert run_cli("images", env=env).stdout.splitlines()[1:] == []

"""Real containers from images (root): an OCI layout, `docker save` archives in both forms, a rootfs
tarball and directory; whiteouts and opaque directories seen from inside; a fresh upper layer per
run; the copied-rootfs fallback; the traced overlay mount with every layer.

The autouse fixture in conftest.py checks after every test that no mount or cgroup was left behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO, needs_root
from tests.runtime.test_images import (
    BASE,
    UPPER,
    busybox_entries,
    docker_archive,
    layer_tar,
    oci_layout,
    run_cli,
)
from tests.runtime.test_rootless import run_as_nobody

pytestmark = needs_root

SHOW = "cat /etc/msg; ls /etc/gone 2>&1; ls /data; echo $GREETING; pwd"


@pytest.fixture(scope="module")
def busybox_layer() -> tuple[bytes, str]:
    return layer_tar(busybox_entries())


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"BOXTRACE_STORE": str(tmp_path / "store")}


def run(
    image: str, env: dict[str, str], *command: str, options: tuple[str, ...] = ()
) -> tuple[int, str, str]:
    argv = ["run", "--no-trace", *options, image]
    if command:
        argv += ["--", *command]
    result = run_cli(*argv, env=env)
    return result.returncode, result.stdout, result.stderr


def test_oci_layout_whiteouts_and_opaque_dirs(
    tmp_path: Path, env: dict[str, str], busybox_layer: tuple[bytes, str]
) -> None:
    layout = oci_layout(
        tmp_path / "layout",
        [busybox_layer, layer_tar(BASE), layer_tar(UPPER)],
        tag="v1",
        Cmd=["sh", "-c", SHOW],
        WorkingDir="/data",
    )
    code, out, err = run(f"{layout}:v1", env)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "upper"  # the top layer's file wins
    assert "No such file or directory" in lines[1]  # .wh.gone deleted the base layer's file
    assert lines[2] == "new"  # the opaque directory hides old1 and old2 of the layer below
    assert lines[3:] == ["hello", "/data"]  # Env and WorkingDir of the image config


@pytest.mark.parametrize("form", ["legacy", "oci"])
def test_docker_archive(
    form: str, tmp_path: Path, env: dict[str, str], busybox_layer: tuple[bytes, str]
) -> None:
    archive = docker_archive(
        tmp_path / "saved.tar",
        [busybox_layer, layer_tar(BASE), layer_tar(UPPER)],
        f"demo:{form}",
        form,
        Entrypoint=["sh", "-c"],
        Cmd=[SHOW],
    )
    code, out, err = run(str(archive), env)
    assert code == 0, err
    assert out.splitlines()[0] == "upper" and out.splitlines()[2] == "new"
    # -- CMD replaces Cmd, after the Entrypoint; by name from the store the second time
    code, out, err = run(f"demo:{form}", env, "echo from the store")
    assert (code, out) == (0, "from the store\n"), err


def test_writes_vanish_with_the_container(
    tmp_path: Path, env: dict[str, str], busybox_layer: tuple[bytes, str]
) -> None:
    layout = oci_layout(tmp_path / "layout", [busybox_layer, layer_tar(BASE)])
    code, out, err = run(
        str(layout), env, "sh", "-c", "echo changed > /etc/msg; touch /etc/new; cat /etc/msg"
    )
    assert (code, out) == (0, "changed\n"), err
    code, out, err = run(str(layout), env, "sh", "-c", "cat /etc/msg; ls /etc/new 2>&1")
    assert code != 0
    assert out.splitlines()[0] == "base" and "No such file" in out.splitlines()[1]
    for layer in (Path(env["BOXTRACE_STORE"]) / "layers").glob("*/etc/msg"):
        assert layer.read_text() == "base\n"  # the lower layers were never written


def test_keep_keeps_the_upper_layer(
    tmp_path: Path, env: dict[str, str], busybox_layer: tuple[bytes, str]
) -> None:
    layout = oci_layout(tmp_path / "layout", [busybox_layer])
    code, _, err = run(str(layout), env, "touch", "/kept", options=("--keep", "--name", "imgkeep"))
    assert code == 0, err
    upper = Path(err.split("kept the container's writable layer: ")[1].strip())
    try:
        assert (upper / "kept").exists()
    finally:
        import shutil

        shutil.rmtree(upper.parent)


def test_rootfs_tarball_and_directory(
    tmp_path: Path, env: dict[str, str], busybox_layer: tuple[bytes, str]
) -> None:
    import gzip

    tarball = tmp_path / "exported.tar"
    tarball.write_bytes(gzip.decompress(busybox_layer[0]))
    code, out, err = run(str(tarball), env, "echo", "from a tarball")
    assert (code, out) == (0, "from a tarball\n"), err
    # the unpacked layer in the store is a plain rootfs directory
    only = next(p for p in (Path(env["BOXTRACE_STORE"]) / "layers").iterdir() if p.is_dir())
    code, out, err = run(str(only), env, "sh", "-c", "touch /x; echo from a directory")
    assert (code, out) == (0, "from a directory\n"), err
    assert not (only / "x").exists()  # a rootfs directory is an overlay's lower layer too
    code, _, err = run(str(only), env)
    assert code == 2 and "has no command" in err


def test_copied_rootfs_fallback(
    tmp_path: Path, env: dict[str, str], busybox_layer: tuple[bytes, str]
) -> None:
    """Layers unpacked without root have their whiteouts only recorded: the runtime copies them."""
    layout = oci_layout(
        tmp_path / "layout", [busybox_layer, layer_tar(BASE), layer_tar(UPPER)], Cmd=["sh", "-c", SHOW]
    )
    assert run(str(layout), env)[0] == 0
    for meta_path in (Path(env["BOXTRACE_STORE"]) / "layers").glob("*.json"):
        meta = json.loads(meta_path.read_text())
        meta["materialized"] = False  # as if unpacked by a user
        meta_path.write_text(json.dumps(meta))
    code, out, err = run(str(layout), env, "sh", "-c", SHOW + "; grep ' / ' /proc/self/mounts")
    assert code == 0, err
    assert "using a copied rootfs instead of overlayfs" in err
    lines = out.splitlines()
    assert lines[0] == "upper" and "No such file" in lines[1] and lines[2] == "new"
    assert "overlay" not in lines[-1]


def test_traced_run_shows_every_lowerdir(
    tmp_path: Path, env: dict[str, str], busybox_layer: tuple[bytes, str]
) -> None:
    layout = oci_layout(tmp_path / "layout", [busybox_layer, layer_tar(BASE), layer_tar(UPPER)])
    trace = tmp_path / "trace.jsonl"
    result = run_cli("run", "--plain", "-o", str(trace), str(layout), "--", "echo", env=env)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in trace.read_text().splitlines()[1:]]
    overlay = next(
        e for e in events if e.get("name") == "mount" and (e.get("detail") or {}).get("fstype") == "overlay"
    )
    lowers = overlay["detail"]["options"]["lowerdir"].split(":")
    store_layers = Path(env["BOXTRACE_STORE"]) / "layers"
    assert len(lowers) == 3 and all(Path(p).parent == store_layers for p in lowers)
    assert os.path.basename(lowers[-1]) == layer_tar(busybox_entries())[1].split(":")[1]  # base is last


def test_rootless_unpacks_and_falls_back_to_a_copy(
    nobody_env: dict[str, str], busybox_layer: tuple[bytes, str]
) -> None:
    """As the user nobody: layers unpack without chown or mknod, whiteouts are only recorded, and the
    container runs on a copied rootfs, saying so."""
    if not os.stat(REPO).st_mode & 0o005:
        pytest.skip(f"{REPO} is not readable by other users")
    home = Path(nobody_env["HOME"])
    layout = oci_layout(
        home / "layout", [busybox_layer, layer_tar(BASE), layer_tar(UPPER)], Cmd=["sh", "-c", SHOW]
    )
    env = {**nobody_env, "BOXTRACE_STORE": str(home / "store")}
    result = run_as_nobody(env, "run", str(layout))
    assert result.returncode == 0, result.stderr
    assert "using a copied rootfs instead of overlayfs" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "upper" and "No such file" in lines[1] and lines[2] == "new"
    layers = [p for p in (home / "store" / "layers").iterdir() if p.is_dir()]
    assert len(layers) == 3 and all(p.stat().st_uid == 65534 for p in layers)

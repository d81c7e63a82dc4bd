"""The arm64 lane's own parts, natively: the recipe's key, the mmdebstrap and pip command lines,
the modules the initramfs loads and the archive it is, the qemu command, the guest's settings,
the pytest selection, and a VM that ends without a status saying so."""

from __future__ import annotations

import gzip
import lzma
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.vm.arm64 import __main__ as lane
from tests.vm.arm64 import initramfs, recipe, rootfs, selection

MODULES_DEP = """kernel/fs/9p/9p.ko: kernel/fs/netfs/netfs.ko kernel/net/9p/9pnet.ko
kernel/fs/netfs/netfs.ko:
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_mmio.ko.xz:
kernel/fs/overlayfs/overlay.ko:
kernel/drivers/block/loop.ko:
"""


def modules_dir(tmp_path: Path, builtin: str = "kernel/drivers/virtio/virtio_pci.ko\n") -> Path:
    (tmp_path / "modules.dep").write_text(MODULES_DEP)
    (tmp_path / "modules.builtin").write_text(builtin)
    return tmp_path


def test_the_key_changes_with_the_recipe_and_only_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    key = recipe.key()
    assert re.fullmatch(r"[0-9a-f]{12}", key) and recipe.key() == key
    monkeypatch.setattr(recipe, "PACKAGES", (*recipe.PACKAGES, "less"))
    assert recipe.key() != key
    monkeypatch.undo()
    monkeypatch.setattr(recipe, "BUILD_STEPS", recipe.BUILD_STEPS + 1)
    assert recipe.key() != key


def test_the_tree_is_cached_outside_the_checkout_by_key() -> None:
    place = rootfs.location(Path("/var/cache/boxtrace/vm"))
    assert place.home == Path(f"/var/cache/boxtrace/vm/arm64-{recipe.key()}")
    assert place.site_packages == place.tree / "opt/boxtrace-venv/lib/python3.11/site-packages"
    assert rootfs.log_file(place, "mmdebstrap") == Path(
        f"/var/cache/boxtrace/vm/arm64-{recipe.key()}.mmdebstrap.log"
    )


def test_mmdebstrap_skips_the_kernels_initramfs_and_makes_the_venv() -> None:
    command = rootfs.mmdebstrap_command(Path("/t/rootfs"))
    assert command[:3] == ["mmdebstrap", "--variant=apt", "--arch=arm64"]
    assert f"--include={','.join(recipe.PACKAGES)}" in command
    hooks = [c for c in command if c.startswith("--essential-hook=")]
    assert len(hooks) == 1 and "dpkg-divert" in hooks[0] and "/usr/sbin/update-initramfs" in hooks[0]
    assert f"--customize-hook={rootfs.VENV_HOOK}" in command
    assert command[-len(recipe.MIRRORS) - 2 :] == [recipe.SUITE, "/t/rootfs", *recipe.MIRRORS]


def test_the_stub_update_initramfs_is_a_shell_script_that_succeeds(tmp_path: Path) -> None:
    # the hook's own text, with chroot's diversion left out: what it writes must run and exit 0
    write = rootfs.NO_INITRAMFS_HOOK.split(" && ", 1)[1]
    (tmp_path / "usr/sbin").mkdir(parents=True)
    subprocess.run(["sh", "-c", write, "hook", str(tmp_path)], check=True)
    stub = tmp_path / "usr/sbin/update-initramfs"
    assert stub.read_text().startswith("#!/bin/sh\n")
    assert subprocess.run([str(stub), "-c", "-k", "6.1.0-x-arm64"]).returncode == 0


def test_the_wheels_are_aarch64_cpython_311_installed_by_the_hosts_pip() -> None:
    command = rootfs.wheels_command(Path("/t/site-packages"))
    assert "--only-binary=:all:" in command and "--target=/t/site-packages" in command
    assert "--platform=manylinux2014_aarch64" in command and "--python-version=3.11" in command
    assert command[-len(recipe.WHEELS) :] == list(recipe.WHEELS)


def test_the_recipes_wheels_are_pyprojects_dependencies() -> None:
    text = (REPO / "pyproject.toml").read_text()
    for requirement in recipe.WHEELS:
        assert f'"{requirement}"' in text, requirement


def test_modules_come_dependencies_first_and_built_in_ones_are_skipped(tmp_path: Path) -> None:
    order = initramfs.module_paths(modules_dir(tmp_path))
    assert order == [
        "kernel/drivers/virtio/virtio_mmio.ko.xz",
        "kernel/net/9p/9pnet.ko",
        "kernel/drivers/virtio/virtio_ring.ko",
        "kernel/net/9p/9pnet_virtio.ko",
        "kernel/fs/netfs/netfs.ko",
        "kernel/fs/9p/9p.ko",
        "kernel/fs/overlayfs/overlay.ko",
    ]


def test_a_module_that_is_neither_there_nor_built_in_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="the arm64 kernel has no module virtio_pci"):
        initramfs.module_paths(modules_dir(tmp_path, builtin=""))


def test_the_initramfs_is_a_newc_archive_the_cpio_tool_reads(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    modules = tree / "lib/modules/6.1.0-x-arm64"
    for path in MODULES_DEP.splitlines():
        file = modules / path.split(":")[0]
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(b"\x7fELF module")
    (modules / "kernel/drivers/virtio/virtio_mmio.ko.xz").write_bytes(lzma.compress(b"\x7fELF mmio"))
    modules_dir(modules)
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/busybox").write_bytes(b"\x7fELF busybox")
    image = initramfs.build(
        tree, "6.1.0-x-arm64", Path("/work/repo"), "LANE_MODE=tests\n", tmp_path / "i.img"
    )
    archive = gzip.decompress(image.read_bytes())
    if shutil.which("busybox") is None:
        pytest.skip("needs busybox (Debian package busybox-static): its cpio reads the archive back")
    listing = subprocess.run(["busybox", "cpio", "-t"], input=archive, capture_output=True, check=True)
    names = listing.stdout.decode().split()
    assert {"init", "bin/busybox", "stage-two", "repo-path", "lane-env", "modules/order"} <= set(names)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["busybox", "cpio", "-id"], input=archive, cwd=out, check=True)
    assert (out / "init").read_text().startswith("#!/bin/busybox sh\n")
    assert (out / "init").stat().st_mode & 0o111
    assert (out / "modules/virtio_mmio.ko").read_bytes() == b"\x7fELF mmio"  # unpacked from .xz
    assert (out / "modules/order").read_text().split()[-1] == "overlay.ko"
    assert (out / "repo-path").read_text() == "/work/repo\n"


def test_the_guest_gets_its_arguments_back_as_given(tmp_path: Path) -> None:
    env = lane.guest_env(Path("/work/my repo"), "tests", ["-k", "a and not b", "it's"])
    script = tmp_path / "env"
    script.write_text(env)
    shown = subprocess.run(
        ["sh", "-c", f'. {script}; eval "set -- $LANE_ARGS"; printf "%s|" "$LANE_REPO" "$@"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == "/work/my repo|-k|a and not b|it's|"


def test_the_selection_runs_unless_tests_are_named() -> None:
    assert lane.pytest_args([]) == ["--durations=5", *selection.ARM64_LANE]
    assert lane.pytest_args(["-x"])[-1] == "-x"
    one = "tests/runtime/test_cgroup_v2.py::test_limits_read_back_inside_the_container"
    assert lane.pytest_args([one, "-v"]) == [one, "-v"]


def test_every_test_the_lane_runs_exists() -> None:
    for nodeid in selection.ARM64_LANE:
        path, _, name = nodeid.partition("::")
        assert (REPO / path).is_file(), nodeid
        if name:
            function = name.split("[", 1)[0]
            assert re.search(rf"^def {re.escape(function)}\(", (REPO / path).read_text(), re.MULTILINE), (
                nodeid
            )


def test_qemu_boots_the_trees_kernel_with_both_shares() -> None:
    command = lane.qemu_command(Path("/c/vmlinuz"), Path("/b/i.img"), Path("/c/rootfs"), Path("/repo"))
    joined = shlex.join(command)
    assert command[:5] == ["qemu-system-aarch64", "-M", "virt", "-cpu", lane.CPU]
    assert "-kernel /c/vmlinuz -initrd /b/i.img" in joined
    assert "path=/c/rootfs,security_model=none,readonly=on" in joined
    assert f"mount_tag={initramfs.ROOT_TAG}" in joined and f"mount_tag={initramfs.REPO_TAG}" in joined
    assert "console=ttyAMA0" in joined


def test_the_guests_status_comes_back_and_the_boot_goes_to_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = (
        f"echo boot noise; printf '{lane.MARKER} ok\\r\\n'; echo '1 failed'; echo '{lane.STATUS}1'; "
        "echo '[  241.973696] reboot: Power down'"
    )
    status, booted = lane.run(["sh", "-c", script], tmp_path / "boot.log")
    assert status == 1 and booted is not None
    assert capsys.readouterr().out.splitlines() == ["arm64-lane: booted", f"{lane.MARKER} ok", "1 failed"]
    assert (tmp_path / "boot.log").read_text() == "boot noise\n[  241.973696] reboot: Power down\n"


def test_a_guest_that_ends_without_a_status_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, booted = lane.run(["sh", "-c", "echo 'Kernel panic'; exit 0"], tmp_path / "boot.log")
    assert (status, booted) == (1, None)
    assert capsys.readouterr().out == (
        "arm64-lane: the guest stopped without a status (qemu exit 0); "
        f"its console: {tmp_path / 'boot.log'}\n"
    )

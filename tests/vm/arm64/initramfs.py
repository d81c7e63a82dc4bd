"""The arm64 lane's initramfs, made on the host from the root filesystem's own files (its static
busybox and the kernel's modules; nothing runs under qemu-user): it loads the modules that mount
the root (virtio, 9p, overlay), mounts the tree shared over 9p read-only under a tmpfs overlay,
mounts the checkout at its host path and switches to the tree's stage-two init (guest_init.sh)."""

from __future__ import annotations

import gzip
import io
import lzma
from pathlib import Path

from tests.vm.errors import LaneError

# What mounts the root, by module name: the rest of each one's dependencies comes from modules.dep.
# Names built into the kernel (modules.builtin) are skipped. virtio_pci: qemu's virt machine puts
# the 9p devices on PCI; overlay: the writable layer over the shared tree (and the containers').
ROOT_MODULES = ("virtio_pci", "virtio_mmio", "9pnet_virtio", "9p", "overlay")
ROOT_TAG = "rootfs"
REPO_TAG = "repo"
STAGE_TWO = Path(__file__).with_name("guest_init.sh")

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r module; do
    insmod "/modules/$module" || echo "arm64-lane: insmod $module failed"
done < /modules/order
fail() { echo "arm64-lane: initramfs: $*"; poweroff -f; }
mkdir -p /lower /layer /newroot
# cache=loose: nothing changes the tree on the host while the guest runs
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose,ro {root_tag} /lower \\
    || fail "cannot mount the root filesystem (9p tag {root_tag})"
mount -t tmpfs -o mode=0755 tmpfs /layer && mkdir /layer/upper /layer/work
mount -t overlay -o lowerdir=/lower,upperdir=/layer/upper,workdir=/layer/work overlay /newroot \\
    || fail "cannot mount the overlay over the root filesystem"
repo=$(cat /repo-path)
mkdir -p "/newroot$repo"
# cache=mmap: the checkout is written by both sides; mmap works (pytest, hypothesis)
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=mmap {repo_tag} "/newroot$repo" \\
    || fail "cannot mount the checkout (9p tag {repo_tag})"
cp /stage-two /newroot/sbin/arm64-lane-init && chmod 755 /newroot/sbin/arm64-lane-init
cp /lane-env /newroot/etc/arm64-lane.env
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/arm64-lane-init
""".replace("{root_tag}", ROOT_TAG).replace("{repo_tag}", REPO_TAG)


def module_paths(modules_dir: Path, wanted: tuple[str, ...] = ROOT_MODULES) -> list[str]:
    """The module files (relative to ``modules_dir``) to load, dependencies first, each once;
    names that are built in are left out, and a name that is neither is an error."""
    deps: dict[str, list[str]] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
    builtin = set()
    builtin_file = modules_dir / "modules.builtin"
    if builtin_file.exists():
        builtin = {_name(line) for line in builtin_file.read_text().split()}
    by_name = {_name(path): path for path in deps}
    order: list[str] = []

    def add(path: str) -> None:
        if path in order:
            return
        for dep in deps.get(path, []):
            add(dep)
        order.append(path)

    for name in wanted:
        if name in by_name:
            add(by_name[name])
        elif name not in builtin:
            raise LaneError(
                f"the arm64 kernel has no module {name} (and it is not built in): "
                "the lane cannot mount its root"
            )
    return order


def _name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    for suffix in (".xz", ".zst", ".gz"):
        base = base.removesuffix(suffix)
    return base.removesuffix(".ko").replace("-", "_")


def build(tree: Path, release: str, repo: Path, env: str, target: Path) -> Path:
    """Write the initramfs (a gzip'd newc cpio) to ``target``. ``env``: the lane's settings for the
    stage-two init (shell assignments)."""
    modules_dir = tree / "lib" / "modules" / release
    busybox = next((p for p in (tree / "usr/bin/busybox", tree / "bin/busybox") if p.is_file()), None)
    if busybox is None:
        raise LaneError(f"no busybox in {tree}: the recipe installs busybox-static")
    archive = Cpio()
    for directory in ("bin", "dev", "proc", "sys", "modules"):
        archive.add(directory, b"", 0o040755)
    archive.add("bin/busybox", busybox.read_bytes(), 0o100755)
    archive.add("init", INIT.encode(), 0o100755)
    archive.add("stage-two", STAGE_TWO.read_bytes(), 0o100755)
    archive.add("repo-path", f"{repo}\n".encode(), 0o100644)
    archive.add("lane-env", env.encode(), 0o100644)
    order = []
    for path in module_paths(modules_dir):
        data = (modules_dir / path).read_bytes()
        if path.endswith(".xz"):
            data = lzma.decompress(data)  # busybox's insmod takes plain .ko files
        name = _name(path) + ".ko"
        archive.add(f"modules/{name}", data, 0o100644)
        order.append(name)
    archive.add("modules/order", "".join(f"{n}\n" for n in order).encode(), 0o100644)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(archive.finish(), compresslevel=1, mtime=0))
    return target


class Cpio:
    """The "newc" format the kernel unpacks (Documentation/driver-api/early-userspace/buffer-format.rst)."""

    def __init__(self) -> None:
        self._out = io.BytesIO()
        self._ino = 1

    def add(self, name: str, data: bytes, mode: int) -> None:
        fields = (self._ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0)
        self._ino += 1
        self._out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0")
        self._pad()
        self._out.write(data)
        self._pad()

    def finish(self) -> bytes:
        self.add("TRAILER!!!", b"", 0)
        return self._out.getvalue()

    def _pad(self) -> None:
        self._out.write(b"\0" * (-self._out.tell() % 4))

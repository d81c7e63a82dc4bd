"""The embedded default image: a tiny root filesystem built once from the host and cached.

With busybox on the host (Debian's busybox-static) the image is busybox and its applet links;
otherwise it is assembled from host binaries and the shared libraries they load. Either way it
needs no network.
"""

from __future__ import annotations

import os
import shutil
import tempfile

IMAGE_VERSION = "1"  # bump when the recipe changes: a new cache directory is built
# Fallback image: host programs the default command and the lessons use.
HOST_PROGRAMS: tuple[str, ...] = (
    "sh",
    "ls",
    "cat",
    "echo",
    "ps",
    "hostname",
    "id",
    "mount",
    "grep",
    "sleep",
    "true",
    "false",
    "dd",
    "head",
    "wc",
    "cut",
    "mkdir",
    "touch",
    "rm",
)
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"
HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def cache_dir() -> str:
    """Where built images are kept: /var/cache/boxtrace for root, the user's cache dir otherwise."""
    if os.geteuid() == 0:
        return "/var/cache/boxtrace"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if os.access(os.path.dirname(base) or "/", os.W_OK) or os.path.isdir(base):
        return os.path.join(base, "boxtrace")
    return os.path.join(tempfile.gettempdir(), f"boxtrace-{os.getuid()}", "cache")


def default_image(busybox: str | None = "auto", cache: str | None = None) -> str:
    """The default image's rootfs directory, built on first use.

    ``busybox``: "auto" finds it on PATH; a path uses that binary; None forces the host-binaries
    image (tests use it to cover hosts without busybox).
    """
    if busybox == "auto":
        busybox = shutil.which("busybox") or _first_existing("/bin/busybox", "/usr/bin/busybox")
    flavour = "busybox" if busybox else "host"
    final = os.path.join(cache or cache_dir(), f"default-{flavour}-v{IMAGE_VERSION}")
    if os.path.isdir(final):
        return final
    os.makedirs(os.path.dirname(final), exist_ok=True)
    building = tempfile.mkdtemp(prefix=".building-", dir=os.path.dirname(final))
    try:
        _make_skeleton(building)
        if busybox:
            _install_busybox(building, busybox)
        else:
            _install_host_programs(building)
        os.chmod(building, 0o755)
        # rename(2) makes the finished image appear at once; a concurrent build loses the race.
        os.rename(building, final)
    except OSError:
        shutil.rmtree(building, ignore_errors=True)
        if not os.path.isdir(final):
            raise
    return final


def _first_existing(*paths: str) -> str | None:
    return next((p for p in paths if os.path.exists(p)), None)


def _make_skeleton(root: str) -> None:
    for name, mode in (
        ("bin", 0o755),
        ("etc", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
        ("var", 0o755),
        ("usr", 0o755),
    ):
        os.mkdir(os.path.join(root, name))
        os.chmod(os.path.join(root, name), mode)
    for name, text in (("etc/passwd", PASSWD), ("etc/group", GROUP), ("etc/hosts", HOSTS)):
        with open(os.path.join(root, name), "w") as handle:
            handle.write(text)
    os.symlink("../bin", os.path.join(root, "usr/bin"))
    os.symlink("bin", os.path.join(root, "sbin"))


def _install_busybox(root: str, busybox: str) -> None:
    import subprocess  # only when building the image: not on the start path

    target = os.path.join(root, "bin", "busybox")
    shutil.copy2(busybox, target)
    _copy_libraries(root, [busybox])
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        link = os.path.join(root, "bin", applet)
        if applet != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)


def _install_host_programs(root: str) -> None:
    found = []
    for name in HOST_PROGRAMS:
        path = shutil.which(name)
        if path is None:
            continue
        found.append(path)
        shutil.copy2(os.path.realpath(path), os.path.join(root, "bin", name))
    if not any(os.path.basename(p) == "sh" for p in found):
        raise OSError("no /bin/sh on the host to build the default image from")
    _copy_libraries(root, found)


def _copy_libraries(root: str, programs: list[str]) -> None:
    """Copy the shared libraries (and the dynamic loader) the programs need, at the same paths."""
    import subprocess

    for program in programs:
        result = subprocess.run(["ldd", program], capture_output=True, text=True, check=False)
        if result.returncode != 0:  # static binary: "not a dynamic executable"
            continue
        for line in result.stdout.splitlines():
            parts = line.split()
            candidates = [p for p in parts if p.startswith("/")]
            for lib in candidates[:1]:
                dest = os.path.join(root, lib.lstrip("/"))
                if not os.path.exists(dest):
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    shutil.copy2(os.path.realpath(lib), dest)

"""`boxtrace-runtime spec`: the config.json runc spec writes, as data.

Differences from runc's, on purpose: hostname "boxtrace", and process.terminal false (the
one-process `boxtrace-runtime run` does not relay a terminal; `create --console-socket` does).
"""

from __future__ import annotations

import json
import os

from boxtrace.runtime.errors import ContainerError

OCI_VERSION = "1.0.2"
_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
_MASKED = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
]
_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _mount(destination: str, kind: str, source: str, *options: str) -> dict[str, object]:
    mount: dict[str, object] = {"destination": destination, "type": kind, "source": source}
    if options:
        mount["options"] = list(options)
    return mount


def runc_spec(rootless: bool = False) -> dict[str, object]:
    """runc 1.1's `runc spec` (`--rootless`: a user namespace mapping your uid, /sys bound from the
    host, no network namespace, no device rule and no gid=5 on devpts)."""
    devpts = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    if not rootless:
        devpts.append("gid=5")
    mounts = [
        _mount("/proc", "proc", "proc"),
        _mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        _mount("/dev/pts", "devpts", "devpts", *devpts),
        _mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
        _mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
        _mount("/sys", "none", "/sys", "rbind", "nosuid", "noexec", "nodev", "ro")
        if rootless
        else _mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"),
    ]
    namespaces = ["pid", "ipc", "uts", "mount"] if rootless else ["pid", "network", "ipc", "uts", "mount"]
    linux: dict[str, object] = {}
    if rootless:
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
        namespaces.append("user")
    else:
        linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    linux["namespaces"] = [{"type": kind} for kind in namespaces]
    linux["maskedPaths"] = list(_MASKED)
    linux["readonlyPaths"] = list(_READONLY)
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {name: list(_CAPS) for name in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "boxtrace",
        "mounts": mounts,
        "linux": linux,
    }


def write_spec(bundle: str, rootless: bool) -> str:
    """Write BUNDLE/config.json; never over an existing one (runc refuses too)."""
    path = os.path.join(bundle, "config.json")
    if not os.path.isdir(bundle):
        raise ContainerError(f"bundle directory {bundle} does not exist: create it first", 1)
    if os.path.exists(path):
        raise ContainerError(f"{path} exists: remove it first", 1)
    with open(path, "w") as handle:
        json.dump(runc_spec(rootless), handle, indent="\t")
    return path

"""The host's platform, and picking its manifest from an image index (a manifest list).

Matching follows containerd's platform matcher in spirit: same OS (linux) and architecture,
and a variant the host can run, the host's own first (an arm v7 host also runs v6 and v5 images;
an image without a variant is taken last).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# os.uname().machine -> (GOARCH, variant), as the OCI image index spec names platforms
MACHINES: dict[str, tuple[str, str]] = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "armv5tel": ("arm", "v5"),
    "i686": ("386", ""),
    "i386": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}
# variants a host runs, best first ("" = the image names no variant)
RUNS: dict[tuple[str, str], tuple[str, ...]] = {
    ("amd64", ""): ("", "v1"),
    ("arm64", "v8"): ("v8", ""),
    ("arm", "v7"): ("v7", "v6", "v5", ""),
    ("arm", "v6"): ("v6", "v5", ""),
    ("arm", "v5"): ("v5", ""),
}


def host_platform() -> tuple[str, str, str]:
    """(os, architecture, variant) of this machine: ("linux", "amd64", "")."""
    machine = os.uname().machine
    arch, variant = MACHINES.get(machine, (machine, ""))
    return "linux", arch, variant


def describe(platform: dict[str, Any] | None) -> str:
    """linux/arm64/v8, as `docker pull --platform` spells it."""
    if not isinstance(platform, dict):  # a registry's or a layout's JSON may hold anything here
        platform = {}
    parts = [str(platform.get("os") or "?"), str(platform.get("architecture") or "?")]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def pick(manifests: list[dict[str, Any]], host: tuple[str, str, str] | None = None) -> dict[str, Any] | None:
    """The descriptor of the manifest this host should run, or None."""
    wanted_os, arch, variant = host or host_platform()
    runs = RUNS.get((arch, variant), (variant, ""))
    best: tuple[int, dict[str, Any]] | None = None
    for descriptor in manifests:
        platform = descriptor.get("platform")
        if not isinstance(platform, dict):
            continue
        if platform.get("os") != wanted_os or platform.get("architecture") != arch:
            continue
        variant_there = platform.get("variant") or ""
        if variant_there not in runs:
            continue
        rank = runs.index(variant_there)
        if best is None or rank < best[0]:
            best = (rank, descriptor)
    return best[1] if best else None

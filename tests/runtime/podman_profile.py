"""podman's seccomp profile as podman hands it to a runtime (for the tests)."""

from __future__ import annotations

from typing import Any


def podman_to_oci(profile: dict[str, Any], goarch: str, caps: frozenset[str]) -> dict[str, Any]:
    """What podman puts in linux.seccomp for a container on ``goarch`` with ``caps``: the rules
    whose includes/excludes hold (containers/common pkg/seccomp, as moby's profiles/seccomp)."""
    arches = next(
        [a["architecture"], *a.get("subArchitectures", [])]
        for a in profile["archMap"]
        if a["architecture"] == {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}[goarch]
    )
    rules = []
    for rule in profile["syscalls"]:
        inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
        if inc.get("arches") and goarch not in inc["arches"]:
            continue
        if exc.get("arches") and goarch in exc["arches"]:
            continue
        if inc.get("caps") and not set(inc["caps"]) <= caps:
            continue
        if exc.get("caps") and set(exc["caps"]) & caps:
            continue
        oci = {"names": rule["names"], "action": rule["action"], "args": rule.get("args") or []}
        if rule.get("errnoRet") is not None:
            oci["errnoRet"] = rule["errnoRet"]
        rules.append(oci)
    return {
        "defaultAction": profile["defaultAction"],
        "defaultErrnoRet": profile.get("defaultErrnoRet"),
        "architectures": arches,
        "syscalls": rules,
    }

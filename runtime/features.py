"""`boxtrace-runtime features`: what this runtime implements, in the shape of runc's
`features` output (runtime-spec features.md), from the tables the runtime itself uses."""

from __future__ import annotations

from boxtrace.runtime.constants import CAPABILITIES, MOUNT_OPTION_FLAGS, NAMESPACE_FLAGS, PROPAGATION_OPTIONS
from boxtrace.runtime.machine import CURRENT
from boxtrace.runtime.seccomp_tables import (
    ACTIONS,
    FLAGS,
    OPERATORS,
    UNSUPPORTED_ACTIONS,
)
from boxtrace.runtime.spec import HOOK_POINTS
from boxtrace.runtime.spec_template import OCI_VERSION


def features() -> dict[str, object]:
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOK_POINTS),
        "mountOptions": sorted({*MOUNT_OPTION_FLAGS, *PROPAGATION_OPTIONS, "bind", "rbind"}),
        "linux": {
            "namespaces": sorted(NAMESPACE_FLAGS),
            "capabilities": sorted(CAPABILITIES, key=CAPABILITIES.__getitem__),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": True,
                "actions": sorted(set(ACTIONS) - UNSUPPORTED_ACTIONS),
                "operators": sorted(OPERATORS),
                # Only the native ABI is filtered rule by rule; others get the default action.
                "archs": [CURRENT.scmp_arch] if CURRENT is not None else [],
                "knownFlags": list(FLAGS),
                "supportedFlags": list(FLAGS),
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
    }

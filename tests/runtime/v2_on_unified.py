"""boxtrace-runtime with its cgroup in the hybrid host's real cgroup2 tree (/sys/fs/cgroup/unified).

On a hybrid host the runtime takes cgroup v1; this program points the runtime's cgroup root at the
v2 tree the host also has, so the v2 path (clone3 with CLONE_INTO_CGROUP, a cgroup2 mount) runs for
real here too. ``--refuse-clone3 ERRNO`` first loads a seccomp filter that fails clone3 with that
errno, as Docker's default profile (ENOSYS) or an EPERM filter would around a nested runtime.

    python tests/runtime/v2_on_unified.py [--refuse-clone3 ERRNO] run -- CMD...
"""

from __future__ import annotations

import sys

from boxtrace.runtime import cgroups, syscalls
from boxtrace.runtime.cli import main
from boxtrace.runtime.constants import PR_SET_NO_NEW_PRIVS
from boxtrace.runtime.seccomp_profile import compile_profile
from boxtrace.runtime.spec import Seccomp, SeccompRule

UNIFIED = "/sys/fs/cgroup/unified"


def refuse_clone3(errno_ret: int) -> None:
    profile = Seccomp("SCMP_ACT_ALLOW", rules=[SeccompRule(["clone3"], "SCMP_ACT_ERRNO", errno_ret)])
    compiled = compile_profile(profile)
    syscalls.prctl(PR_SET_NO_NEW_PRIVS, 1)
    syscalls.seccomp_set_mode_filter(compiled.program, compiled.flags)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--refuse-clone3"]:
        refuse_clone3(int(args[1]))
        args = args[2:]
    cgroups.detect_cgroup_version = lambda root=UNIFIED: "v2"
    # The container step passes cgroups.CGROUP_ROOT (or a delegated parent) as the root explicitly.
    cgroups.CGROUP_ROOT = UNIFIED
    sys.argv[1:] = args
    sys.exit(main())

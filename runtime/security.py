"""The last steps before exec: resource limits, no_new_privs, capabilities and the user.

Order matters and follows runc (standard_init_linux.go): rlimits while still privileged, then
no_new_privs, then the bounding set, then the user change with PR_SET_KEEPCAPS so the permitted set
survives setuid, then capset to the final sets and the ambient raises.
"""

from __future__ import annotations

import os
import resource

from boxtrace.runtime import syscalls
from boxtrace.runtime.constants import (
    CAPABILITIES,
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAP_AMBIENT_RAISE,
    PR_CAPBSET_DROP,
    PR_SET_KEEPCAPS,
    PR_SET_NO_NEW_PRIVS,
)
from boxtrace.runtime.spec import Capabilities, Rlimit, User


def cap_mask(names: list[str]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << CAPABILITIES[name]
    return mask


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            return int(handle.read())
    except OSError:
        return max(CAPABILITIES.values())


def set_rlimits(rlimits: list[Rlimit]) -> None:
    for limit in rlimits:
        try:
            resource.setrlimit(getattr(resource, limit.type), (limit.soft, limit.hard))
        except (OSError, ValueError) as exc:
            raise OSError(f"setrlimit {limit.type} {limit.soft}:{limit.hard}: {exc}") from None


def set_no_new_privs() -> None:
    """After this, execve can never grant privileges (setuid bits and file capabilities are ignored)."""
    syscalls.prctl(PR_SET_NO_NEW_PRIVS, 1, what="prctl(PR_SET_NO_NEW_PRIVS)")


def drop_bounding_capabilities(caps: Capabilities) -> None:
    """Remove every capability not in the bounding set: no later execve can regain it."""
    keep = cap_mask(caps.bounding)
    for number in range(last_cap() + 1):
        if not keep & (1 << number):
            syscalls.prctl(PR_CAPBSET_DROP, number, what=f"prctl(PR_CAPBSET_DROP, {number})")


def set_user(user: User, setgroups_denied: bool) -> None:
    """Supplementary groups, gid, then uid; PR_SET_KEEPCAPS keeps the permitted set across setuid.

    In a user namespace whose setgroups file says "deny" (user_namespaces(7)), setgroups(2) always
    fails; with no extra groups asked for there is nothing to drop, so the call is skipped.
    """
    syscalls.prctl(PR_SET_KEEPCAPS, 1, what="prctl(PR_SET_KEEPCAPS)")
    if user.additional_gids or not setgroups_denied:
        os.setgroups(user.additional_gids)
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    syscalls.prctl(PR_SET_KEEPCAPS, 0, what="prctl(PR_SET_KEEPCAPS)")
    if user.umask is not None:
        os.umask(user.umask)


def set_capabilities(caps: Capabilities) -> list[str]:
    """capset(2) to the spec's effective/permitted/inheritable sets, then raise the ambient ones.

    Returns warnings: the kernel only lets a capability be ambient when it is both permitted and
    inheritable (capabilities(7)); runc warns and goes on, and so does boxtrace.
    """
    syscalls.capset(cap_mask(caps.effective), cap_mask(caps.permitted), cap_mask(caps.inheritable))
    syscalls.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, what="prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    warnings = []
    for name in caps.ambient:
        if name not in caps.permitted or name not in caps.inheritable:
            warnings.append(f"ambient capability {name} not raised: it must be permitted and inheritable")
            continue
        syscalls.prctl(
            PR_CAP_AMBIENT,
            PR_CAP_AMBIENT_RAISE,
            CAPABILITIES[name],
            what=f"prctl(PR_CAP_AMBIENT_RAISE, {name})",
        )
    return warnings

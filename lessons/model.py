"""What the explanation catalogue gives consumers: an Explanation per event, and the phases of the
container story. The TUI, the plain printer and the exporters read only these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The chapters a container start reads as, in story order.
PHASES: tuple[str, ...] = (
    "prepare",  # the runtime reads its spec, prepares the rootfs and state
    "cgroups",  # creates the cgroup, writes limits, joins it
    "namespaces",  # clone/unshare/setns into new namespaces
    "user mapping",  # uid_map, gid_map, setgroups
    "filesystem",  # mount propagation, rootfs, proc, /dev, sysfs, masked and read-only paths
    "pivot",  # pivot_root (or chroot) and detaching the old root
    "identity and hardening",  # hostname, rlimits, no_new_privs, capabilities, seccomp, user
    "exec",  # execve of the container's process
    "run",  # what the container does once it runs
    "cleanup",  # the runtime removes what it made
)


@dataclass(frozen=True, slots=True)
class FlagNote:
    """One flag or value of a call, with what it means here."""

    name: str  # e.g. "MS_REC"
    meaning: str  # one sentence
    entry: str  # catalogue id, e.g. "flag.MS_REC"


@dataclass(frozen=True, slots=True)
class Explanation:
    """The explanation of one event, combined from catalogue entries.

    ``entries`` lists the id of every catalogue entry used (syscall, flags, values, result), so a
    reader can look each up with ``boxtrace explain``. ``fallback`` is True when no entry specific to
    this call matched and the text is generic.
    """

    title: str  # short, e.g. "Make every mount private (mount MS_REC|MS_PRIVATE)"
    what: str  # what this call does, one or two sentences (Markdown)
    why: str  # why a container runtime does it
    without: str  # what would go wrong without it
    man: tuple[str, ...]  # man pages, e.g. ("mount(2)", "mount_namespaces(7)")
    runtimes: str  # what runc / crun / Docker do at this point
    flags: tuple[FlagNote, ...] = ()
    result: str | None = None  # what the return value or error means here (e.g. EINVAL from pivot_root)
    entries: tuple[str, ...] = field(default=())
    fallback: bool = False
    # Catalogue ids this event called for that the catalogue lacks (e.g. a flag newer than the
    # catalogue); ``boxtrace explain --coverage`` lists them so the gap gets filled.
    missing: tuple[str, ...] = ()

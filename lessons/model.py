"""What the explanation catalogue gives consumers: an Explanation per event, and the phases of the
container story. The TUI, the plain printer and the exporters read only these types.

Plain ``__slots__`` classes (``boxtrace.tracer.plain``), not dataclasses: the console printer loads
this module on ``boxtrace trace``'s delivery thread, where importing dataclasses (with inspect, ast,
dis, tokenize) and building each class from source would compete with the trace loop.
"""

from __future__ import annotations

from boxtrace.tracer.plain import Frozen

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


class FlagNote(Frozen):
    """One flag or value of a call, with what it means here."""

    __slots__ = ("entry", "meaning", "name")
    name: str  # e.g. "MS_REC"
    meaning: str  # one sentence
    entry: str  # catalogue id, e.g. "flag.MS_REC"

    def __init__(self, name: str, meaning: str, entry: str) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "name", name)
        setattr_(self, "meaning", meaning)
        setattr_(self, "entry", entry)

    def __hash__(self) -> int:  # type: ignore[override]  # frozen: hashable (Plain is not)
        return hash((self.name, self.meaning, self.entry))


class Explanation(Frozen):
    """The explanation of one event, combined from catalogue entries.

    ``entries`` lists the id of every catalogue entry used (syscall, flags, values, result), so a
    reader can look each up with ``boxtrace explain``. ``fallback`` is True when no entry specific to
    this call matched and the text is generic.
    """

    __slots__ = (
        "entries",
        "fallback",
        "flags",
        "man",
        "missing",
        "result",
        "runtimes",
        "title",
        "what",
        "why",
        "without",
    )
    title: str  # short, e.g. "Make every mount private (mount MS_REC|MS_PRIVATE)"
    what: str  # what this call does, one or two sentences (Markdown)
    why: str  # why a container runtime does it
    without: str  # what would go wrong without it
    man: tuple[str, ...]  # man pages, e.g. ("mount(2)", "mount_namespaces(7)")
    runtimes: str  # what runc / crun / Docker do at this point
    flags: tuple[FlagNote, ...]
    result: str | None  # what the return value or error means here (e.g. EINVAL from pivot_root)
    entries: tuple[str, ...]
    fallback: bool
    # Catalogue ids this event called for that the catalogue lacks (e.g. a flag newer than the
    # catalogue); ``boxtrace explain --coverage`` lists them so the gap gets filled.
    missing: tuple[str, ...]

    def __init__(
        self,
        title: str,
        what: str,
        why: str,
        without: str,
        man: tuple[str, ...],
        runtimes: str,
        flags: tuple[FlagNote, ...] = (),
        result: str | None = None,
        entries: tuple[str, ...] = (),
        fallback: bool = False,
        missing: tuple[str, ...] = (),
    ) -> None:
        # Written out (not Frozen._assign's loop): one is built for every distinct call of a trace.
        setattr_ = object.__setattr__
        setattr_(self, "title", title)
        setattr_(self, "what", what)
        setattr_(self, "why", why)
        setattr_(self, "without", without)
        setattr_(self, "man", man)
        setattr_(self, "runtimes", runtimes)
        setattr_(self, "flags", flags)
        setattr_(self, "result", result)
        setattr_(self, "entries", entries)
        setattr_(self, "fallback", fallback)
        setattr_(self, "missing", missing)

    def replace(self, **changes: object) -> Explanation:
        """A copy with some fields changed (what ``dataclasses.replace`` did)."""
        values = {name: getattr(self, name) for name in self._fields}
        unknown = changes.keys() - values.keys()
        if unknown:
            raise TypeError(f"Explanation has no field(s) {', '.join(sorted(unknown))}")
        values.update(changes)
        return type(self)(**values)

    def __eq__(self, other: object) -> bool:
        # Annotators intern explanations in a dict: compared and hashed once per distinct call.
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Explanation)
        return (
            self.title == other.title
            and self.what == other.what
            and self.why == other.why
            and self.without == other.without
            and self.man == other.man
            and self.runtimes == other.runtimes
            and self.flags == other.flags
            and self.result == other.result
            and self.entries == other.entries
            and self.fallback == other.fallback
            and self.missing == other.missing
        )

    def __hash__(self) -> int:  # type: ignore[override]  # frozen: hashable (Plain is not)
        return hash(
            (
                self.title,
                self.what,
                self.why,
                self.without,
                self.man,
                self.runtimes,
                self.flags,
                self.result,
                self.entries,
                self.fallback,
                self.missing,
            )
        )

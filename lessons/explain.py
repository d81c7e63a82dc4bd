"""``explain(event) -> Explanation``: one event, explained from the catalogue.

The text lives in the catalogue (``lessons/catalogue/*.toml``); this module only decides which
entries an event calls for, reading the facts the decoders put on the event:

- the *subject*: the entry that says what this particular call does (the prctl option, the cgroup
  file written, the filesystem mounted, the propagation type set...). Its title heads the explanation;
- the syscall's own entry;
- one :class:`FlagNote` per flag or value (CLONE_NEWPID, MS_REC, PR_CAP_AMBIENT_RAISE, CAP_KILL...);
- the result: ``error.SYSCALL.ERRNO`` when there is one (pivot_root's EINVAL), else ``errno.ERRNO``.

Only dict lookups per event: an export explains 100,000 events in well under a second.
"""

from __future__ import annotations

from boxtrace.lessons.catalogue import Catalogue, Entry, catalogue
from boxtrace.lessons.model import Explanation, FlagNote
from boxtrace.tracer.events import (
    Event,
    ExecEvent,
    ExitEvent,
    OutputEvent,
    SpawnEvent,
    SyscallEvent,
)
from boxtrace.tracer.tables.clone import CLONE3_FLAGS, NS_FILE_OF_FLAG
from boxtrace.tracer.tables.mount import MOUNT_FLAGS, PROPAGATION_NAMES

TYPE_CHECKING = False  # typing and collections.abc: only type checkers see them (console start-up)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

__all__ = ["explain", "explain_names", "note_title", "summary"]

# Calls that are only interesting for what they touch: the syscall entry alone ("write writes
# bytes") explains nothing specific, the cgroup file, id map or device does.
FILE_CALLS: frozenset[str] = frozenset(
    {"openat", "openat2", "open", "creat", "mkdir", "mkdirat", "rmdir", "unlinkat", "mknod", "mknodat"}
    | {"symlink", "symlinkat", "write", "writev", "pwrite64", "pwritev", "pwritev2"}
)

# Arguments whose text is one enumerated value (the prctl option, fsconfig's cmd...).
_ENUM_ARGS: frozenset[str] = frozenset({"option", "cmd", "operation", "op", "dumpable", "mode"})
_FLAG_OR_VALUE: tuple[str, ...] = ("flag", "value")

# /proc/PID/ns file name -> the CLONE_NEW* flag that makes that namespace (setns names types this way).
_NS_FLAG: dict[str, str] = {
    NS_FILE_OF_FLAG[bit]: name for name, bit in CLONE3_FLAGS if bit in NS_FILE_OF_FLAG
}
_NS_FLAG["pid_for_children"] = "CLONE_NEWPID"
_NS_FLAG["time_for_children"] = "CLONE_NEWTIME"
# "private" -> "MS_PRIVATE" (the decoder reports the propagation type by its mountinfo name).
_PROPAGATION_FLAG: dict[str, str] = {
    word: MOUNT_FLAGS.by_value[bit] for bit, word in PROPAGATION_NAMES.items()
}
_MOUNT_OPERATION_FLAG: dict[str, str] = {
    "bind": "MS_BIND",
    "move": "MS_MOVE",
    "remount": "MS_REMOUNT",
    "remount-bind": "MS_REMOUNT",
}
# Filesystem options explained by their own entries (overlay's layers, devpts's private instance).
_OPTION_KEYS: frozenset[str] = frozenset({"lowerdir", "upperdir", "workdir", "newinstance", "ptmxmode"})


class _Found:
    """What one event calls for: ids in order of use, the subject, notes and ids the catalogue lacks."""

    __slots__ = ("call", "cat", "ids", "missing", "notes", "subject")

    def __init__(self, cat: Catalogue, call: str | None = None) -> None:
        self.cat = cat
        self.call = call  # flags and values are explained as arguments of this call
        self.ids: list[str] = []
        self.notes: list[FlagNote] = []
        self.missing: list[str] = []
        self.subject: Entry | None = None

    def use(self, entry_id: str) -> Entry | None:
        entry = self.cat.get(entry_id)
        if entry is None:
            if entry_id not in self.missing:
                self.missing.append(entry_id)
            return None
        if entry_id not in self.ids:
            self.ids.append(entry_id)
        return entry

    def note(self, name: str, kinds: tuple[str, ...] = _FLAG_OR_VALUE) -> None:
        """A FlagNote for ``name``, the first kind that has it; missing under the first kind."""
        if kinds is _FLAG_OR_VALUE:
            found = self.cat.note_of.get(name)
            if found is not None and found.kind != "cap":
                if found.id not in self.ids:
                    self.ids.append(found.id)
                    self.notes.append(found.note_in(self.call))
                return
            kinds = ("flag",)
        for kind in kinds:
            entry = self.cat.get(f"{kind}.{name}")
            if entry is not None:
                if entry.id not in self.ids:
                    self.ids.append(entry.id)
                    self.notes.append(entry.note_in(self.call))
                return
        self.use(f"{kinds[0]}.{name}")

    def subject_of(self, *candidates: str) -> None:
        """The first candidate the catalogue has becomes the subject (once)."""
        if self.subject is not None:
            return
        for entry_id in candidates:
            entry = self.cat.get(entry_id)
            if entry is not None:
                self.subject = entry
                if entry_id not in self.ids:
                    self.ids.append(entry_id)
                return
        if candidates:
            self.use(candidates[0])


def _basename(path: Any) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1] if path else ""


# --- per-family subjects --------------------------------------------------------------------------


def _mount(ev: SyscallEvent, f: _Found) -> None:
    d = ev.detail
    op = d.get("operation")
    if op == "propagation":
        prop = d.get("propagation")
        words = prop if isinstance(prop, list) else [prop]
        f.subject_of(*(f"flag.{_PROPAGATION_FLAG[w]}" for w in words if w in _PROPAGATION_FLAG))
    elif op in _MOUNT_OPERATION_FLAG:
        f.subject_of(f"flag.{_MOUNT_OPERATION_FLAG[op]}")
    elif op == "new" and d.get("fstype"):
        f.subject_of(f"fs.{d['fstype']}")
    options = d.get("options")
    if isinstance(options, dict):
        for key in options:
            if key in _OPTION_KEYS:
                f.note(key, ("option",))


def _fsopen(ev: SyscallEvent, f: _Found) -> None:
    fstype = ev.detail.get("fstype")
    if fstype:
        f.note(str(fstype), ("fs",))


def _fsconfig(ev: SyscallEvent, f: _Found) -> None:
    key = ev.detail.get("key")
    if isinstance(key, str) and key in _OPTION_KEYS:
        f.note(key, ("option",))


def _setns(ev: SyscallEvent, f: _Found) -> None:
    for ns in ev.detail.get("namespaces") or ():
        flag = _NS_FLAG.get(ns)
        if flag is not None:
            f.note(flag, ("flag",))


def _clone3(ev: SyscallEvent, f: _Found) -> None:
    if ev.detail.get("set_tid"):
        f.note("set_tid", ("field",))


def _bpf(ev: SyscallEvent, f: _Found) -> None:
    """The command is the subject when the catalogue explains it; the program type and attach type
    are notes. Commands and types it does not explain fall back to syscall.bpf without a gap
    report: bpf has some forty commands and a container runtime uses a handful."""
    d = ev.detail
    command = d.get("command")
    if isinstance(command, str) and f.cat.get(f"value.{command}") is not None:
        f.subject_of(f"value.{command}")
    for key in ("prog_type", "attach_type"):
        value = d.get(key)
        if isinstance(value, str) and f.cat.get(f"value.{value}") is not None:
            f.note(value, ("value",))


def _capset(ev: SyscallEvent, f: _Found) -> None:
    for cap in ev.detail.get("permitted") or ():
        f.note(str(cap), ("cap",))


def _seccomp(ev: SyscallEvent, f: _Found) -> None:
    action = ev.detail.get("action")
    if action:
        f.note(str(action), ("value",))


def _mount_setattr(ev: SyscallEvent, f: _Found) -> None:
    d = ev.detail
    for name in (*(d.get("attr_set") or ()), *(d.get("attr_clr") or ())):
        f.note(str(name), ("flag",))
    prop = d.get("propagation")
    if prop in _PROPAGATION_FLAG:
        f.note(_PROPAGATION_FLAG[prop], ("flag",))


def _file(ev: SyscallEvent, f: _Found) -> None:
    d = ev.detail
    cat = ev.category_name
    if cat == "cgroup":
        if "cgroup_file" in d:
            f.subject_of(f"cgroup.{d['cgroup_file']}")
        elif d.get("action") in ("create", "remove"):
            f.subject_of(f"cgroup.{d['action']}")
    elif cat == "idmap":
        f.subject_of(f"idmap.{d.get('file')}")
    elif cat == "device":
        path = str(d.get("path") or "").rstrip("/")
        name = _basename(path)
        # Then the directory: a convention explained once for all its members (/dev/char/1:3,
        # /dev/block/8:0, /run/host/inaccessible/chr).
        parent = _basename(path.rsplit("/", 1)[0]) if "/" in path else ""
        kind = (
            "devlink"
            if ev.name in ("symlink", "symlinkat")
            else "devdir"
            if ev.name in ("mkdir", "mkdirat")
            else "device"
        )
        f.subject_of(f"{kind}.{name}", *((f"{kind}.{parent}",) if parent else ()))
        if ev.name in ("mknod", "mknodat"):
            mode = ev.arg("mode")
            file_type = mode.text.split("|", 1)[0] if mode is not None else ""
            if file_type.startswith("S_IF"):
                f.note(file_type, ("value",))


# runtime/left_out.py marks a step left out on purpose (boxtrace run --without) with this name.
SKIP_MARKER = "skip:"


def _prctl(ev: SyscallEvent, f: _Found) -> None:
    """prctl(PR_SET_NAME, "skip:STEP"): the place of a step left out on purpose, explained as such."""
    name = ev.detail.get("name")
    if ev.detail.get("option") == "PR_SET_NAME" and isinstance(name, str) and name.startswith(SKIP_MARKER):
        entry = f.cat.get("skip." + name.removeprefix(SKIP_MARKER))
        if entry is not None:
            f.subject = entry
            if entry.id not in f.ids:
                f.ids.append(entry.id)


def left_out_step(ev: Event) -> str | None:
    """The step a marker event stands for (boxtrace run --without), or None for any other event."""
    if type(ev) is not SyscallEvent or ev.name != "prctl" or ev.detail.get("option") != "PR_SET_NAME":
        return None
    name = ev.detail.get("name")
    if isinstance(name, str) and name.startswith(SKIP_MARKER):
        return name.removeprefix(SKIP_MARKER)
    return None


_SUBJECTS: dict[str, Callable[[SyscallEvent, _Found], None]] = {
    "prctl": _prctl,
    "mount": _mount,
    "fsopen": _fsopen,
    "fsconfig": _fsconfig,
    "setns": _setns,
    "clone3": _clone3,
    "bpf": _bpf,
    "capset": _capset,
    "seccomp": _seccomp,
    "mount_setattr": _mount_setattr,
    **{name: _file for name in FILE_CALLS},
}

# The argument whose value names the subject, per call (prctl's option, seccomp's operation...).
_SUBJECT_ARG: dict[str, str] = {"prctl": "option", "seccomp": "operation", "fsconfig": "cmd"}
# The argument that names a call in titles (``bpf BPF_PROG_LOAD``); bpf's subject is chosen by _bpf.
_LABEL_ARG: dict[str, str] = {**_SUBJECT_ARG, "bpf": "cmd"}
# Calls whose enumerated arguments their own hook explains (the generic lookup would report a gap).
_OWN_ENUMS: frozenset[str] = frozenset({"bpf"})


# --- text -----------------------------------------------------------------------------------------


def _md_code(value: Any) -> str:
    """A fact as Markdown inline code; traced strings never break out of it (no backticks, one line)."""
    if type(value) is not str:
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        else:
            value = str(value)
    if "`" in value or "\n" in value:
        value = value.replace("`", "'").replace("\n", " ")
    if len(value) > 200:
        value = value[:200] + "..."
    return f"`{value}`"


def _here(entry: Entry, facts: dict[str, Any]) -> str | None:
    """The entry's ``here`` sentence filled from the event's facts; None if a fact is missing."""
    template = entry.here
    if template is None:
        return None
    values = {}
    for name in entry.here_fields:
        value = facts.get(name)
        if value is None or value == "" or value == []:
            return None
        values[name] = _md_code(value)
    return template.format_map(values)


def _join_man(*entries: Entry | None) -> tuple[str, ...]:
    out: list[str] = []
    for entry in entries:
        if entry is not None:
            for page in entry.man:
                if page not in out:
                    out.append(page)
    return tuple(out)


def _short_path(path: Any, keep: int = 2) -> str:
    """``.../fs/cgroup`` for long paths: titles stay one short line."""
    text = str(path) if path else "?"
    parts = text.split("/")
    return text if len(text) <= 24 or len(parts) <= keep + 1 else ".../" + "/".join(parts[-keep:])


def summary(event: SyscallEvent) -> str:
    """A short label of the call, for titles: ``mount MS_REC|MS_PRIVATE``, ``write pids.max``."""
    name = event.name
    if name in FILE_CALLS:
        base = _basename(event.detail.get("path"))
        return f"{name} {base}" if base else name
    if name == "mount" and event.detail.get("operation") == "new" and event.detail.get("fstype"):
        return f"mount {event.detail['fstype']} on {_short_path(event.detail.get('target'))}"
    if name in _LABEL_ARG:
        arg = event.arg(_LABEL_ARG[name])
        if arg is not None:
            return f"{name} {arg.text}"
    for arg in event.args:
        if arg.flags:
            return f"{name} {'|'.join(arg.flags)}"
    return name


def _generic(name: str, event_kind: str) -> Explanation:
    """What every event gets when the catalogue has nothing: honest, generic, marked fallback."""
    return Explanation(
        title=f"{name} ({event_kind})",
        what=f"`{name}` has no entry in boxtrace's catalogue yet; its man page says what it does.",
        why="It is not one of the calls boxtrace explains as part of building a container.",
        without="Not known: the catalogue does not cover this call.",
        man=(f"{name}(2)",) if event_kind == "syscall" else (),
        runtimes="",
        entries=(),
        fallback=True,
        missing=(f"syscall.{name}",) if event_kind == "syscall" else (),
    )


def _ns_result(ns_changed: dict[str, int]) -> str:
    shown = ", ".join(f"{ns}:[{inode}]" for ns, inode in sorted(ns_changed.items()))
    return f"New namespaces: {shown}."


def _explain_syscall(ev: SyscallEvent, cat: Catalogue) -> Explanation:
    name = ev.name
    f = _Found(cat, name)
    ids = f.ids
    notes = f.notes
    syscall = cat.by_id.get("syscall." + name)
    if syscall is not None:
        ids.append(syscall.id)
    subject_arg = _SUBJECT_ARG.get(name)
    note_of = cat.note_of
    # The hot loop of an export: inlined flag lookups (see _Found.note for the rules).
    for arg in ev.args:
        if arg.flags:
            for flag in arg.flags:
                entry = note_of.get(flag)
                if entry is None or entry.kind == "cap":
                    f.use("flag." + flag)
                elif entry.id not in ids:
                    ids.append(entry.id)
                    notes.append(
                        entry.context_notes.get(name, entry.note) if entry.context_notes else entry.note
                    )
        elif arg.name in _ENUM_ARGS and arg.text.isidentifier() and name not in _OWN_ENUMS:
            if arg.name == subject_arg:
                f.subject_of("value." + arg.text)
            else:
                f.note(arg.text, ("value",))
        elif arg.name == "cap" and arg.text.isidentifier():
            f.note(arg.text, ("cap",))
    extra = _SUBJECTS.get(name)
    if extra is not None:
        extra(ev, f)

    error: Entry | None = None
    if ev.errno:
        error = cat.get(f"error.{name}.{ev.errno}") or cat.get(f"errno.{ev.errno}")
        if error is None:
            f.use(f"errno.{ev.errno}")
        elif error.id not in f.ids:
            f.ids.append(error.id)

    subject = f.subject
    specific = subject is not None or (syscall is not None and name not in FILE_CALLS)
    if not specific:
        generic = _generic(name, "syscall")
        if syscall is None and not f.ids:
            return generic
        # A known call on an unknown target (a cgroup file the catalogue lacks): say what is known.
        base = syscall
        assert base is not None or f.ids
        return Explanation(
            title=f"{base.title} ({summary(ev)})" if base is not None else generic.title,
            what=base.what if base is not None else generic.what,
            why=base.why if base is not None else generic.why,
            without=base.without if base is not None else generic.without,
            man=_join_man(base, error) or generic.man,
            runtimes=base.runtimes if base is not None else "",
            flags=tuple(f.notes),
            result=error.meaning if error is not None else None,
            entries=tuple(f.ids),
            fallback=True,
            missing=tuple(f.missing),
        )

    main = subject if subject is not None else syscall
    assert main is not None
    facts = ev.detail
    what = main.what_in(name)
    here = _here(main, facts)
    if here is None and syscall is not None and main is not syscall:
        here = _here(syscall, facts)
    if here is not None:
        what = f"{what} {here}"
    result: str | None
    if error is not None:
        result = error.meaning
    elif ev.result is not None and ev.errno is None:
        parts = [p for p in (main.result, syscall.result if syscall is not main and syscall else None) if p]
        if ev.ns_changed:
            parts.append(_ns_result(ev.ns_changed))
        result = " ".join(parts) if parts else None
    else:
        result = None
    if error is None and (main is syscall or syscall is None):
        man = main.man
    else:
        man = _join_man(syscall, main, error)
    return Explanation(
        title=_title(main, ev),
        what=what,
        why=main.why,
        without=main.without,
        man=man,
        runtimes=main.runtimes,
        flags=tuple(f.notes),
        result=result,
        entries=tuple(f.ids),
        fallback=False,
        missing=tuple(f.missing),
    )


def _explain_process(event: Event, cat: Catalogue) -> Explanation:
    notes: tuple[FlagNote, ...] = ()
    ids: tuple[str, ...]
    facts: dict[str, Any]
    if isinstance(event, SpawnEvent):
        entry_id = "event.spawn.thread" if event.thread else "event.spawn"
        facts = {"child": event.child, "how": event.how}
        if event.flags:
            # Thread spawns carry nine flags each and Go runtimes spawn many: direct lookups.
            note_of = cat.note_of
            found = [note_of.get(flag) for flag in event.flags]
            how = event.how
            notes = tuple(e.note_in(how) for e in found if e is not None and e.kind == "flag")
            ids = (entry_id, *(n.entry for n in notes))
            missing = tuple(f"flag.{flag}" for flag, e in zip(event.flags, found, strict=True) if e is None)
        else:
            ids, missing = (entry_id,), ()
    elif isinstance(event, ExecEvent):
        entry_id = "event.exec"
        facts = {"path": event.path, "argv": " ".join(event.argv)}
        ids, missing = (entry_id,), ()
    elif isinstance(event, ExitEvent):
        entry_id = "event.exit.signal" if event.signal else "event.exit"
        facts = {"status": event.status, "signal": event.signal}
        ids, missing = (entry_id,), ()
    elif isinstance(event, OutputEvent):
        entry_id = "event.output"
        facts = {"stream": event.stream}
        ids, missing = (entry_id,), ()
    else:
        return _generic(event.kind, event.kind)
    entry = cat.by_id.get(entry_id)
    if entry is None:
        return _generic(event.kind, event.kind).replace(missing=(entry_id,))
    here = _here(entry, facts)
    return Explanation(
        title=entry.title,
        what=f"{entry.what} {here}" if here else entry.what,
        why=entry.why,
        without=entry.without,
        man=entry.man,
        runtimes=entry.runtimes,
        flags=notes,
        result=None,
        entries=ids,
        fallback=False,
        missing=missing,
    )


def _heading_entry(ev: SyscallEvent, cat: Catalogue) -> Entry | None:
    """The entry whose title heads ``explain(ev)``, or None when that explanation is a fallback.

    The subject is chosen as ``_explain_syscall`` chooses it (the subject argument's value, then the
    call's own hook), without the flag notes, the error, the texts and the man pages.
    """
    name = ev.name
    f = _Found(cat, name)
    subject_arg = _SUBJECT_ARG.get(name)
    if subject_arg is not None and name not in _OWN_ENUMS:
        for arg in ev.args:
            # As _explain_syscall's loop chooses it (there, flags come first).
            subject = not arg.flags and arg.name == subject_arg and arg.name in _ENUM_ARGS
            if subject and arg.text.isidentifier():
                f.subject_of("value." + arg.text)
    extra = _SUBJECTS.get(name)
    if extra is not None:
        extra(ev, f)
    if f.subject is not None:
        return f.subject
    syscall = cat.by_id.get("syscall." + name)
    return syscall if syscall is not None and name not in FILE_CALLS else None


def note_title(event: Event, cat: Catalogue | None = None) -> str | None:
    """``explain(event).title``, or None when that explanation is a fallback (generic text).

    What the console prints under each line: a third of the cost of the whole explanation, which
    the console would build for every event and read one field of (most calls of a container start
    differ in a path or a number, so memoising explanations saves little there).
    """
    if cat is None:
        cat = catalogue()
    if not isinstance(event, SyscallEvent):
        explanation = _explain_process(event, cat)
        return None if explanation.fallback else explanation.title
    main = _heading_entry(event, cat)
    if main is None:
        return None
    return _title(main, event)


def _title(main: Entry, ev: SyscallEvent) -> str:
    """The explanation's title: the entry's, with what this call did when that says more."""
    label = summary(ev)
    return f"{main.title} ({label})" if label != main.name else main.title


def explain(event: Event, cat: Catalogue | None = None) -> Explanation:
    """The explanation of one event (any kind), from ``cat`` or the packaged catalogue."""
    if cat is None:
        cat = catalogue()
    if isinstance(event, SyscallEvent):
        return _explain_syscall(event, cat)
    return _explain_process(event, cat)


def explain_names(syscall: str, names: Iterable[str], cat: Catalogue | None = None) -> Explanation:
    """What ``boxtrace explain SYSCALL [NAME...]`` shows: the syscall (or any entry id) with notes.

    Each name is looked up as a flag, value, capability, filesystem, option, cgroup file, id map,
    device or error of this call. Raises KeyError naming the first thing the catalogue lacks.
    """
    if cat is None:
        cat = catalogue()
    main = cat.get(f"syscall.{syscall}") or cat.get(syscall)
    if main is None:
        raise KeyError(syscall)
    f = _Found(cat, main.name if main.kind == "syscall" else None)
    f.ids.append(main.id)
    error: Entry | None = None
    for name in names:
        error_entry = cat.get(f"error.{main.name}.{name}") if main.kind == "syscall" else None
        if error_entry is not None or (name.startswith("E") and cat.get(f"errno.{name}")):
            error = error_entry or cat[f"errno.{name}"]
            f.ids.append(error.id)
            continue
        found = [e for e in cat.find(name) if e.kind not in ("syscall", "error", "event")]
        if not found:
            raise KeyError(name)
        entry = found[0]
        if entry.id not in f.ids:
            f.ids.append(entry.id)
            f.notes.append(entry.note_in(f.call))
    return Explanation(
        title=main.title,
        what=main.what,
        why=main.why,
        without=main.without,
        man=_join_man(main, *(cat[i] for i in f.ids[1:])),
        runtimes=main.runtimes,
        flags=tuple(f.notes),
        result=error.meaning if error is not None else main.result,
        entries=tuple(f.ids),
    )

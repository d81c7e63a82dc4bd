"""The event model: what the tracer records and every consumer reads.

One model for a live session, a replay and an export. Events keep facts only (raw numbers beside
decoded names); explanations are derived later by ``boxtrace.lessons``. Every event serialises to one
JSON object (one line of a trace file) and back, see ``docs/trace-format.md``.
"""

from __future__ import annotations

from boxtrace.tracer.plain import Plain

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar

# Categories an event can belong to. Kept as plain strings so the trace file stays readable.
CATEGORIES: tuple[str, ...] = (
    "namespace",  # clone/clone3 with CLONE_NEW*, unshare, setns
    "mount",  # mount, umount2, pivot_root, chroot and the new mount API
    "cgroup",  # mkdir/rmdir/writes on cgroupfs
    "idmap",  # writes to /proc/PID/uid_map, gid_map, setgroups
    "device",  # mknod, /dev symlinks and directories
    "identity",  # sethostname, setdomainname, set*id, setgroups
    "security",  # capset, prctl, seccomp
    "exec",  # execve, execveat
    "file",  # other file work the default set reports
    "process",  # spawn and exit of traced processes
    "other",  # anything else (only with --all)
)

# How each category is shown (rich style names), by the console printer and the TUI alike, so that
# both read the same; plain strings, so that using them costs no rich import.
CATEGORY_STYLES: dict[str, str] = {
    "namespace": "bold magenta",
    "mount": "bold blue",
    "cgroup": "bold green",
    "idmap": "bold yellow",
    "device": "cyan",
    "identity": "yellow",
    "security": "bold red",
    "exec": "bold",
    "file": "",
    "process": "dim",
    "other": "dim",
    "output": "dim italic",
}


class Arg(Plain):
    """One decoded syscall argument.

    ``raw`` is the register value (or None when the argument is a read struct/string whose
    pointer is not interesting); ``text`` is how strace would print it; ``flags`` lists the
    flag names when the argument is a flag set (unknown bits appear as a hex remainder in
    ``text`` only); ``fields`` holds a decoded struct (e.g. clone3's ``struct clone_args``).
    """

    __slots__ = ("fields", "flags", "name", "raw", "text")

    def __init__(
        self,
        name: str,
        raw: int | None,
        text: str,
        flags: list[str] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.raw = raw
        self.text = text
        self.flags = flags
        self.fields = fields

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "raw": self.raw, "text": self.text}
        if self.flags is not None:
            out["flags"] = self.flags
        if self.fields is not None:
            out["fields"] = self.fields
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Arg:
        return cls(
            name=data["name"],
            raw=data.get("raw"),
            text=data["text"],
            flags=data.get("flags"),
            fields=data.get("fields"),
        )


class Event(Plain):
    """Fields every event has. ``seq`` orders events; ``time`` is seconds since the trace started."""

    # nspid: the pid as seen in each nested pid namespace, outermost first (NSpid)
    __slots__ = ("comm", "nspid", "pid", "seq", "tid", "time")

    def __init__(self, seq: int, time: float, pid: int, tid: int, comm: str, nspid: list[int] | None) -> None:
        self.seq = seq
        self.time = time
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.nspid = nspid

    kind: ClassVar[str] = "event"

    def base_json(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "seq": self.seq,
            "time": round(self.time, 6),
            "pid": self.pid,
            "tid": self.tid,
            "comm": self.comm,
            "nspid": self.nspid,
        }

    def to_json(self) -> dict[str, Any]:
        return self.base_json()

    @property
    def category(self) -> str:
        return "process"


class SyscallEvent(Event):
    """A traced system call: decoded at entry, completed at exit.

    ``result`` is None while the call has not returned (step mode shows the call before it runs)
    and stays None if the process died inside the call. ``errno`` is the error name (``EPERM``)
    when the call failed. ``detail`` carries family-specific facts (e.g. a cgroup write:
    ``{"cgroup_file": "pids.max", "value": "64", "path": ...}``). ``ns_changed`` maps namespace
    type to its new inode number after clone/unshare/setns (like ``strace -e namespace=new``).
    """

    __slots__ = (
        "args",
        "category_name",
        "detail",
        "duration",
        "errno",
        "name",
        "nr",
        "ns_changed",
        "result",
        "result_text",
    )

    def __init__(
        self,
        seq: int,
        time: float,
        pid: int,
        tid: int,
        comm: str,
        nspid: list[int] | None,
        name: str = "",
        nr: int = -1,
        category_name: str = "other",
        args: list[Arg] | None = None,
        result: int | None = None,
        result_text: str | None = None,
        errno: str | None = None,
        duration: float | None = None,
        ns_changed: dict[str, int] | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.seq = seq
        self.time = time
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.nspid = nspid
        self.name = name
        self.nr = nr
        self.category_name = category_name
        self.args: list[Arg] = [] if args is None else args
        self.result = result
        self.result_text = result_text
        self.errno = errno
        self.duration = duration
        self.ns_changed: dict[str, int] = {} if ns_changed is None else ns_changed
        self.detail: dict[str, Any] = {} if detail is None else detail

    kind: ClassVar[str] = "syscall"

    @property
    def category(self) -> str:
        return self.category_name

    @property
    def finished(self) -> bool:
        return self.result is not None

    def arg(self, name: str) -> Arg | None:
        for a in self.args:
            if a.name == name:
                return a
        return None

    def to_json(self) -> dict[str, Any]:
        out = self.base_json()
        out.update(
            {
                "name": self.name,
                "nr": self.nr,
                "category": self.category_name,
                "args": [a.to_json() for a in self.args],
                "result": self.result,
                "result_text": self.result_text,
                "errno": self.errno,
                "duration": None if self.duration is None else round(self.duration, 6),
            }
        )
        if self.ns_changed:
            out["ns_changed"] = self.ns_changed
        if self.detail:
            out["detail"] = self.detail
        return out


class SpawnEvent(Event):
    """A traced process created a new process or thread (fork, vfork, clone, clone3).

    ``pid``/``tid`` are the parent's; ``child`` is the new task's host tid.
    """

    __slots__ = ("child", "flags", "how", "thread")

    def __init__(
        self,
        seq: int,
        time: float,
        pid: int,
        tid: int,
        comm: str,
        nspid: list[int] | None,
        child: int = 0,
        how: str = "fork",
        thread: bool = False,
        flags: list[str] | None = None,
    ) -> None:
        self.seq = seq
        self.time = time
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.nspid = nspid
        self.child = child
        self.how = how  # fork | vfork | clone | clone3
        self.thread = thread
        self.flags: list[str] = [] if flags is None else flags

    kind: ClassVar[str] = "spawn"

    def to_json(self) -> dict[str, Any]:
        out = self.base_json()
        out.update({"child": self.child, "how": self.how, "thread": self.thread, "flags": self.flags})
        return out


class ExecEvent(Event):
    """A traced process replaced its program (after a successful execve)."""

    __slots__ = ("argv", "path")

    def __init__(
        self,
        seq: int,
        time: float,
        pid: int,
        tid: int,
        comm: str,
        nspid: list[int] | None,
        path: str = "",
        argv: list[str] | None = None,
    ) -> None:
        self.seq = seq
        self.time = time
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.nspid = nspid
        self.path = path
        self.argv: list[str] = [] if argv is None else argv

    kind: ClassVar[str] = "exec"

    def to_json(self) -> dict[str, Any]:
        out = self.base_json()
        out.update({"path": self.path, "argv": self.argv})
        return out


class ExitEvent(Event):
    """A traced process (or thread) ended: ``status`` when it exited, ``signal`` when killed."""

    __slots__ = ("signal", "status")

    def __init__(
        self,
        seq: int,
        time: float,
        pid: int,
        tid: int,
        comm: str,
        nspid: list[int] | None,
        status: int | None = None,
        signal: str | None = None,
    ) -> None:
        self.seq = seq
        self.time = time
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.nspid = nspid
        self.status = status
        self.signal = signal

    kind: ClassVar[str] = "exit"

    def to_json(self) -> dict[str, Any]:
        out = self.base_json()
        out.update({"status": self.status, "signal": self.signal})
        return out


class OutputEvent(Event):
    """Output the traced command wrote to its stdout or stderr (kept apart from the trace)."""

    __slots__ = ("stream", "text")

    def __init__(
        self,
        seq: int,
        time: float,
        pid: int,
        tid: int,
        comm: str,
        nspid: list[int] | None,
        stream: str = "stdout",
        text: str = "",
    ) -> None:
        self.seq = seq
        self.time = time
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.nspid = nspid
        self.stream = stream
        self.text = text

    kind: ClassVar[str] = "output"

    def to_json(self) -> dict[str, Any]:
        out = self.base_json()
        out.update({"stream": self.stream, "text": self.text})
        return out

    @property
    def category(self) -> str:
        return "output"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls for cls in (SyscallEvent, SpawnEvent, ExecEvent, ExitEvent, OutputEvent)
}


# Reading a trace builds one event per line (100,000 in a large export), so the builders below call
# the classes with positional arguments: keyword arguments and a shared ``**common`` dict cost more
# than half of the build. The order of the arguments is the order of the fields, and the
# fields are read in the order of the keyword version they replace, so that a line with several
# problems still names the same one (tests/tracer/test_event_json.py checks both).


def _syscall_from_json(d: dict[str, Any]) -> SyscallEvent:
    get = d.get
    event = SyscallEvent(
        int(d["seq"]),
        float(d["time"]),
        int(d["pid"]),
        int(d["tid"]),
        str(d["comm"]),
        get("nspid"),
        d["name"],
        int(d["nr"]),
        d["category"],
        [Arg(a["name"], a.get("raw"), a["text"], a.get("flags"), a.get("fields")) for a in d["args"]],
        get("result"),
        get("result_text"),
        get("errno"),
        get("duration"),
        dict(get("ns_changed", _NO_FIELDS)),
        dict(get("detail", _NO_FIELDS)),
    )
    _check_types(d, _SYSCALL_TYPES)
    for a in d["args"]:
        _check_types(a, _ARG_TYPES)
    return event


def _common(d: dict[str, Any]) -> tuple[int, float, int, int, str, Any]:
    """The fields every event has, in field order (process events are few: the syscall builder,
    the one most lines take, spells them out)."""
    return int(d["seq"]), float(d["time"]), int(d["pid"]), int(d["tid"]), str(d["comm"]), d.get("nspid")


def _spawn_from_json(d: dict[str, Any]) -> SpawnEvent:
    event = SpawnEvent(*_common(d), int(d["child"]), d["how"], bool(d["thread"]), list(d.get("flags", ())))
    _check_types(d, _SPAWN_TYPES)
    return event


def _exec_from_json(d: dict[str, Any]) -> ExecEvent:
    event = ExecEvent(*_common(d), d["path"], list(d["argv"]))
    _check_types(d, _EXEC_TYPES)
    return event


def _exit_from_json(d: dict[str, Any]) -> ExitEvent:
    event = ExitEvent(*_common(d), d.get("status"), d.get("signal"))
    _check_types(d, _EXIT_TYPES)
    return event


def _output_from_json(d: dict[str, Any]) -> OutputEvent:
    event = OutputEvent(*_common(d), d["stream"], d["text"])
    _check_types(d, _OUTPUT_TYPES)
    return event


# The JSON types of the fields that the builders take as they are (docs/trace-format.md's tables);
# the numbers they convert (seq, time, pid...) are checked by the conversion. A field of another
# type would pass the reader and fail later in a consumer (an exporter, the lessons) with a
# traceback. Checked after building, so that a missing field is still named as missing.
# field -> (the classes its value may have, how to say it, the classes of a list's items or None).
_NoneType = type(None)
_STR = (frozenset({str}), "a string", None)
_STR_OR_NULL = (frozenset({str, _NoneType}), "a string or null", None)
_INT_OR_NULL = (frozenset({int, bool, _NoneType}), "an integer or null", None)
_NUMBER_OR_NULL = (frozenset({int, bool, float, _NoneType}), "a number or null", None)
_STRINGS = (frozenset({list}), "a list of strings", frozenset({str}))
_STRINGS_OR_ABSENT = (frozenset({list, _NoneType}), "a list of strings", frozenset({str}))
_INTS_OR_NULL = (frozenset({list, _NoneType}), "a list of integers or null", frozenset({int, bool}))
_OBJECT_OR_ABSENT = (frozenset({dict, _NoneType}), "an object", None)
_COMMON_TYPES = {"nspid": _INTS_OR_NULL}
_SYSCALL_TYPES = {
    **_COMMON_TYPES,
    "name": _STR,
    "category": _STR,
    "result": _INT_OR_NULL,
    "result_text": _STR_OR_NULL,
    "errno": _STR_OR_NULL,
    "duration": _NUMBER_OR_NULL,
    "ns_changed": _OBJECT_OR_ABSENT,
    "detail": _OBJECT_OR_ABSENT,
}
_ARG_TYPES = {
    "name": _STR,
    "raw": _INT_OR_NULL,
    "text": _STR,
    "flags": _STRINGS_OR_ABSENT,
    "fields": _OBJECT_OR_ABSENT,
}
_SPAWN_TYPES = {**_COMMON_TYPES, "how": _STR, "flags": _STRINGS_OR_ABSENT}
_EXEC_TYPES = {**_COMMON_TYPES, "path": _STR, "argv": _STRINGS}
_EXIT_TYPES = {**_COMMON_TYPES, "status": _INT_OR_NULL, "signal": _STR_OR_NULL}
_OUTPUT_TYPES = {**_COMMON_TYPES, "stream": _STR, "text": _STR}
_JSON_NAMES = {str: "a string", int: "an integer", bool: "a boolean", float: "a number", list: "a list",
               dict: "an object", _NoneType: "null"}  # fmt: skip


def _check_types(d: dict[str, Any], types: dict[str, tuple[Any, str, Any]]) -> None:
    get = d.get
    for key, (allowed, what, items) in types.items():
        value = get(key)
        if value.__class__ not in allowed:
            raise TypeError(f"field {key!r} must be {what}, not {_JSON_NAMES.get(value.__class__, 'that')}")
        if items is not None and value is not None:
            for item in value:
                if item.__class__ not in items:
                    holding = _JSON_NAMES.get(item.__class__, "that")
                    raise TypeError(f"field {key!r} must be {what}, not a list holding {holding}")


_NO_FIELDS: dict[str, Any] = {}  # read only: the default of an absent ns_changed/detail, copied

# type -> the function that builds that event from its parsed line (what event_from_json calls).
EVENT_BUILDERS: dict[str, Callable[[dict[str, Any]], Event]] = {
    SyscallEvent.kind: _syscall_from_json,
    SpawnEvent.kind: _spawn_from_json,
    ExecEvent.kind: _exec_from_json,
    ExitEvent.kind: _exit_from_json,
    OutputEvent.kind: _output_from_json,
}
assert EVENT_BUILDERS.keys() == EVENT_TYPES.keys()


def event_from_json(data: dict[str, Any]) -> Event:
    """Build an event from one parsed trace-file line; raises KeyError/ValueError/TypeError on bad input."""
    kind = data["type"]
    build = EVENT_BUILDERS.get(kind)
    if build is None:
        raise ValueError(f"unknown event type {kind!r}")
    return build(data)


class TraceHeader(Plain):
    """First line of a trace file."""

    __slots__ = ("arch", "boxtrace_version", "command", "extra", "kernel", "mode", "start_time", "version")

    def __init__(
        self,
        version: str,
        boxtrace_version: str,
        kernel: str,
        arch: str,
        command: list[str],
        start_time: str,
        mode: str = "filtered",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.version = version
        self.boxtrace_version = boxtrace_version
        self.kernel = kernel
        self.arch = arch
        self.command = command
        self.start_time = start_time  # ISO 8601, UTC
        self.mode = mode  # filtered (seccomp) | all | fallback (every syscall, no filter)
        self.extra: dict[str, Any] = {} if extra is None else extra

    FORMAT: ClassVar[str] = "boxtrace-trace"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "header",
            "format": self.FORMAT,
            "version": self.version,
            "boxtrace_version": self.boxtrace_version,
            "kernel": self.kernel,
            "arch": self.arch,
            "command": self.command,
            "start_time": self.start_time,
            "mode": self.mode,
        }
        if self.extra:
            out["extra"] = self.extra
        return out

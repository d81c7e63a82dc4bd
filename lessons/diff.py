"""Two container starts side by side: which steps both make, which only one makes, which differ.

A *step* is one syscall reduced to what it does, so that two traces can be compared although their
pids, times, container ids, rootfs paths and temporary names differ:

- its **key** says which step it is: the family of the call (clone, clone3 and unshare that create
  namespaces are one family, as are mkdir/mkdirat, execve/execveat, setuid/setresuid...), and what
  it acts on: the mount target seen from inside the container, the cgroup controller and file,
  the prctl option and capability, the id-map file;
- its **variant** holds the arguments that may differ for the same step: the exact syscall, the
  decoded flags, the namespace types, the value written, the capability sets, the source and the
  path as given (``<rootfs>/proc`` before pivot_root, ``/proc/self/fd/<n>`` for runc's O_PATH
  targets, ``/proc`` after pivot_root).

Within each phase (``lessons.phases``) the two step sequences are aligned with difflib's sequence
matcher: first on key and variant (the same step done the same way), then, inside each stretch that
did not match, on the key alone (the same step with other arguments). What is left over on both
sides with the same key was done in another order: it is reported as moved, not as missing twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from typing import Any

from boxtrace.lessons.explain import explain, left_out_step, summary
from boxtrace.lessons.model import PHASES
from boxtrace.lessons.phases import phases_of
from boxtrace.tracer.events import Event, SyscallEvent, TraceHeader

__all__ = [
    "CATEGORY_RANK",
    "CONCERNS",
    "LEFT_OUT",
    "MARK",
    "LeftOut",
    "PhaseDiff",
    "Row",
    "Step",
    "TraceDiff",
    "change_text",
    "diff_traces",
    "side_name",
    "steps_of",
]

# What matters most when two runtimes differ, most important first: what isolates and confines
# the container before what only prepares or tidies up. ``rank`` orders the summary; ``why`` is
# shown beside the ranking in docs/diff.md.
CATEGORY_RANK: dict[str, tuple[int, str]] = {
    "security": (0, "capabilities, no_new_privs, seccomp: what the container may do"),
    "namespace": (1, "what the container is isolated from"),
    "idmap": (2, "who root inside is outside"),
    "identity": (3, "the user, groups and hostname the container runs as"),
    "mount": (4, "what the container sees of the filesystem"),
    "device": (5, "which devices the container can reach"),
    "cgroup": (6, "limits and accounting"),
    "exec": (7, "which programs run"),
    "file": (8, "other files the runtime writes"),
}
# Docker's and podman's masked paths: files and directories hidden under /dev/null or an empty tmpfs.
MASKED_PATHS = (
    *("/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys"),
    *("/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list"),
    *("/proc/timer_stats", "/sys/dev/block", "/sys/devices/virtual/powercap", "/sys/firmware"),
    "/sys/fs/selinux",
)
# Inside the categories, the steps that confine the container most, in this order, before any other
# step (identity bookkeeping such as setuid or sethostname comes after them, by category). Each
# concern lists step keys (or their first fields) that belong to it; the summary ranks by the first
# concern a step's key starts with.
CONCERNS: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    (
        "seccomp filter",
        (
            ("seccomp", "SECCOMP_SET_MODE_FILTER"),
            ("seccomp", "SECCOMP_SET_MODE_STRICT"),
            ("prctl", "PR_SET_SECCOMP"),  # runc loads its filter through prctl
        ),
    ),
    (
        "capabilities",
        (("capset",), ("prctl", "PR_CAPBSET_DROP"), ("prctl", "PR_CAP_AMBIENT")),
    ),
    ("no_new_privs", (("prctl", "PR_SET_NO_NEW_PRIVS"),)),
    (
        "device rules",
        (
            ("cgroup", "write", "devices", "devices.deny"),
            ("cgroup", "write", "devices", "devices.allow"),
            ("bpf", "BPF_PROG_LOAD"),
            ("bpf", "BPF_PROG_ATTACH"),
        ),
    ),
    ("masked paths", tuple(("mount", "mount", path) for path in MASKED_PATHS)),
    (
        "read-only paths",
        tuple(
            ("mount", "mount", path)
            for path in ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
        ),
    ),
)
_CONCERN_OF: dict[tuple[str, ...], int] = {
    prefix: tier for tier, (_, prefixes) in enumerate(CONCERNS) for prefix in prefixes
}
_PREFIX_LENGTHS: tuple[int, ...] = tuple(sorted({len(p) for p in _CONCERN_OF}, reverse=True))


def concern(key: tuple[str, ...]) -> int:
    """The tier of CONCERNS a step key belongs to (its index), ``len(CONCERNS)`` for any other."""
    for length in _PREFIX_LENGTHS:
        tier = _CONCERN_OF.get(key[:length])
        if tier is not None:
            return tier
    return len(CONCERNS)


_MASKED = dict(CONCERNS)["masked paths"]
_READ_ONLY = dict(CONCERNS)["read-only paths"]
# Each step of `boxtrace run --without STEP`: its phase (the marker, a PR_SET_NAME, keeps the phase
# of the process that makes it; the step it stands for is in this one) and the keys (or their first
# fields) of the calls it makes, wherever they are (caps drops the bounding set before setuid and
# sets the capabilities after it). Differences next to the marker are the step's too (chroot in
# place of pivot_root).
LEFT_OUT: dict[str, tuple[str, tuple[tuple[str, ...], ...]]] = {
    "cgroup": ("cgroups", (("cgroup",),)),
    "devices": ("cgroups", (("cgroup", "write", "devices"), ("bpf",))),
    "pidns": ("namespaces", ()),
    "idmap": ("user mapping", (("idmap",),)),
    "private": ("filesystem", (("mount", "propagation", "/"),)),
    "proc": ("filesystem", (("mount", "mount", "/proc"),)),
    "masks": ("filesystem", _MASKED),
    "readonly": ("filesystem", _READ_ONLY),
    "pivot_root": ("pivot", (("pivot_root",), ("chroot",))),
    "detach": ("pivot", (("umount2",),)),
    "nonewprivs": ("identity and hardening", (("prctl", "PR_SET_NO_NEW_PRIVS"),)),
    "seccomp": ("identity and hardening", (("seccomp", "SECCOMP_SET_MODE_FILTER"),)),
    "caps": ("identity and hardening", dict(CONCERNS)["capabilities"]),
}
LEFT_OUT_KEY = "left out"

# Steps in these phases are the runtime's own bookkeeping, not the container's making: ranked after.
LESSER_PHASES: frozenset[str] = frozenset({"prepare", "run", "cleanup"})
# Categories that are not steps of building a container (PR_SET_NAME, PR_SET_PDEATHSIG...).
SKIPPED_CATEGORIES: frozenset[str] = frozenset({"process", "other"})

# Steps that only ask the kernel what it supports (runc probes seccomp before it uses it): they
# change nothing, so they rank with the bookkeeping.
QUERIES: frozenset[str] = frozenset(
    {"SECCOMP_GET_ACTION_AVAIL", "SECCOMP_GET_NOTIF_SIZES", "PR_CAPBSET_READ", "PR_GET_NO_NEW_PRIVS"}
)
# Calls that are one step done through different syscalls: the family name is the key, the syscall
# itself goes into the variant.
FAMILY: dict[str, str] = {
    "clone": "new namespaces",
    "clone3": "new namespaces",
    "unshare": "new namespaces",
    "mkdir": "mkdir",
    "mkdirat": "mkdir",
    "mknod": "mknod",
    "mknodat": "mknod",
    "symlink": "symlink",
    "symlinkat": "symlink",
    "rmdir": "rmdir",
    "unlinkat": "rmdir",
    "execve": "exec",
    "execveat": "exec",
    "setuid": "set uid",
    "setreuid": "set uid",
    "setresuid": "set uid",
    "setgid": "set gid",
    "setregid": "set gid",
    "setresgid": "set gid",
    "write": "write",
    "writev": "write",
    "pwrite64": "write",
    "pwritev": "write",
    "pwritev2": "write",
}
# Opening a cgroup or id-map file is part of writing it: the write is the step.
OPEN_CALLS: frozenset[str] = frozenset({"open", "openat", "openat2", "creat"})
# cgroup files written once per rule: the value says which step it is (each devices.allow line is
# a rule of its own), where for a limit (pids.max) another value is the same step differently.
RULE_FILES: frozenset[str] = frozenset({"devices.allow", "devices.deny"})
# prctl options whose second argument names the thing acted on (one step per capability).
PRCTL_SUBJECT: dict[str, str] = {
    "PR_CAPBSET_DROP": "cap",
    "PR_CAP_AMBIENT": "cap",
    "PR_CAPBSET_READ": "cap",
}
# Temporary names that differ at every run: (pattern, placeholder).
TEMPORARY: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(runc|crun)\.[A-Za-z0-9]{6,}\b"), r"\1.<tmp>"),
    (re.compile(r"/proc/self/fd/\d+"), "/proc/self/fd/<n>"),
    (re.compile(r"/proc/\d+/"), "/proc/<pid>/"),
    (re.compile(r"/tmp/(tmp|boxtrace-)[A-Za-z0-9_.-]+"), "/tmp/<tmp>"),
    # addresses inside a struct: seccomp's {len=9, filter=0x7ff3...}, bpf's insns=0x5581...
    (re.compile(r"\b(\w+)=0x[0-9a-f]{8,}\b"), r"\1=<ptr>"),
    # fds inside a struct (bpf's target_fd=4</sys/fs/cgroup/...>) and the inodes of pipes and sockets
    (re.compile(r"\b(\w+_fd)=\d+<"), r"\1=<n><"),
    (re.compile(r"\b(pipe|socket):\[\d+\]"), r"\1:[<ino>]"),
)
# Ids of no container of the trace's own, named as engines name them: image layers and storage
# directories (64 hex digits), Docker's and podman's short ids (12: the hostname, the network
# controller's id that Docker's prestart hook gets). Applied after the trace's own ids.
ANY_ID: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![\w-])[0-9a-f]{64}(?![\w-])"), "<hash>"),
    (re.compile(r"(?<![\w-])[0-9a-f]{12}(?![\w-])"), "<id>"),
)
# Options of a runtime's command line that `boxtrace run --without` adds: the marker stands for them.
_WITHOUT_OPTION = "--without"
# The directories of /sys/fs/cgroup that are hierarchies (v1 controllers, hybrid's v2 tree); on a
# pure v2 host a container's cgroup is right under /sys/fs/cgroup.
V1_HIERARCHIES: frozenset[str] = frozenset(
    {"blkio", "cpu", "cpu,cpuacct", "cpuacct", "cpuset", "devices", "freezer", "hugetlb", "memory"}
    | {"misc", "net_cls", "net_cls,net_prio", "net_prio", "perf_event", "pids", "rdma", "systemd", "unified"}
)
_POINTER = re.compile(r"0x[0-9a-f]+")
_FD_TEXT = re.compile(r"^\d+<(.*)>$")
_STATE_DIR = re.compile(r"/run/(boxtrace|runc|crun|youki)/([^/]+)")
_ID_RUNTIMES = frozenset({"runc", "crun", "youki", "boxtrace-runc", "boxtrace-runtime"})


class Normaliser:
    """Rewrites one trace's paths and texts so that two traces can be compared: its container ids,
    rootfs and cgroup directories, and temporary names become placeholders."""

    __slots__ = ("_cgroups", "_ids", "rootfs")

    def __init__(self, rootfs: str | None, ids: Iterable[str], cgroups: Iterable[str]) -> None:
        self.rootfs = rootfs
        # Longest first, so that a directory is replaced before a shorter id inside it.
        self._cgroups = sorted(set(cgroups), key=len, reverse=True)
        patterns = [re.escape(i) for i in sorted({i for i in ids if len(i) >= 3}, key=len, reverse=True)]
        self._ids = re.compile(r"(?<![\w.-])(?:" + "|".join(patterns) + r")(?![\w.-])") if patterns else None

    def text(self, value: str) -> str:
        """A text as compared: ids and temporary names replaced, the rootfs shown as ``<rootfs>``."""
        if self.rootfs:
            if value == self.rootfs or value.startswith(self.rootfs + "/"):
                value = "<rootfs>" + value[len(self.rootfs) :]
            elif self.rootfs in value:
                value = value.replace(self.rootfs, "<rootfs>")
        for directory in self._cgroups:
            if directory in value:
                controller = directory[len("/sys/fs/cgroup/") :].split("/", 1)[0]
                where = f"{controller}/<cgroup>" if controller in V1_HIERARCHIES else "<cgroup>"
                value = value.replace(directory, f"/sys/fs/cgroup/{where}")
        for pattern, placeholder in TEMPORARY:
            value = pattern.sub(placeholder, value)
        if self._ids is not None:
            value = self._ids.sub("<id>", value)
        for pattern, placeholder in ANY_ID:
            value = pattern.sub(placeholder, value)
        return value

    def inside(self, path: str) -> str:
        """A path as the container sees it: the rootfs prefix removed (the key of a mount target)."""
        text = self.text(path)
        if text == "<rootfs>":
            return "/"
        if text.startswith("<rootfs>/"):
            return text[len("<rootfs>") :]
        return text


def _rootfs_of(events: Sequence[Event]) -> str | None:
    """The container's root: the first mount target that later mounts (or directories) are made
    under. boxtrace mounts an overlay there, runc and crun bind the bundle's rootfs onto itself."""
    targets: list[str] = []
    for ev in events:
        if not isinstance(ev, SyscallEvent):
            continue
        d = ev.detail
        if ev.name == "mount" and d.get("operation") in ("new", "bind") and ev.errno is None:
            target = d.get("target")
            if isinstance(target, str) and target not in ("/", ""):
                for earlier in targets:
                    if target.startswith(earlier.rstrip("/") + "/"):
                        return earlier
                targets.append(target)
        elif ev.category_name in ("device", "mount") and isinstance(d.get("path"), str):
            for earlier in targets:
                if d["path"].startswith(earlier.rstrip("/") + "/"):
                    return earlier
    return None


def _ids_and_cgroups(header: TraceHeader | None, events: Sequence[Event]) -> tuple[set[str], set[str]]:
    ids: set[str] = set()
    cgroups: set[str] = set()
    for ev in events:
        if not isinstance(ev, SyscallEvent):
            continue
        d = ev.detail
        path = d.get("path")
        if ev.category_name == "cgroup" and d.get("action") == "create" and isinstance(path, str):
            cgroups.add(path)
            name = path.rsplit("/", 1)[-1]
            ids.add(name)
            if name.startswith("boxtrace-"):
                ids.add(name[len("boxtrace-") :])
        for arg in ev.args:
            for match in _STATE_DIR.finditer(arg.text):
                ids.add(match.group(2))
    if header is not None:
        command = header.command
        for i, word in enumerate(command):
            if word.rsplit("/", 1)[-1] in _ID_RUNTIMES:
                rest = command[i + 1 :]
                if rest and rest[0] in ("run", "create") and rest[-1:] and not rest[-1].startswith("-"):
                    ids.add(rest[-1])
    return ids, cgroups


def normaliser_for(header: TraceHeader | None, events: Sequence[Event]) -> Normaliser:
    ids, cgroups = _ids_and_cgroups(header, events)
    return Normaliser(_rootfs_of(events), ids, cgroups)


class Step:
    """One syscall of a trace as a step of making a container."""

    __slots__ = ("base", "category", "event", "item", "key", "norm", "phase", "title", "variant")

    def __init__(
        self,
        event: SyscallEvent,
        phase: str,
        key: tuple[str, ...],
        variant: tuple[tuple[str, str], ...],
        base: str,
        item: str,
    ) -> None:
        self.event = event
        self.phase = phase
        self.key = key
        self.variant = variant
        self.category = event.category_name
        self.base = base  # "prctl PR_CAPBSET_DROP": what a run of like steps shares
        self.item = item  # "CAP_CHOWN": what tells it from its neighbours ("" if nothing)
        self.title = ""  # the explanation's title, filled for the steps a report shows
        self.norm: Normaliser | None = None  # the trace's, for the title

    @property
    def label(self) -> str:
        return f"{self.base} {self.item}" if self.item else self.base

    @property
    def failed(self) -> bool:
        return self.event.errno is not None

    @property
    def left_out(self) -> str | None:
        """The step of `boxtrace run --without` this marker stands for (None: a call)."""
        return self.item if self.key[0] == LEFT_OUT_KEY else None

    def rank(self) -> tuple[int, int, int, int, int]:
        """Lower is more important: a step that worked, in the making of the container, by concern
        (CONCERNS), then by category."""
        category = CATEGORY_RANK.get(self.category, (len(CATEGORY_RANK), ""))[0]
        query = self.key[-1] in QUERIES or (len(self.key) > 1 and self.key[1] in QUERIES)
        lesser = int(self.phase in LESSER_PHASES)
        return (int(self.failed or query), lesser, concern(self.key), category, self.event.seq)


def _flag_names(ev: SyscallEvent) -> list[str]:
    names: list[str] = []
    for arg in ev.args:
        if arg.flags:
            names.extend(arg.flags)
    return names


def _arg_text(text: str, norm: Normaliser) -> str | None:
    """An argument's text as compared; None for what differs at every run (pointers, fd numbers)."""
    if text == "NULL" or _POINTER.fullmatch(text):
        return None
    fd = _FD_TEXT.match(text)
    if fd:
        text = f"<fd {fd.group(1)}>"
    return norm.text(text)


def _argv(argv: Sequence[object], norm: Normaliser) -> str:
    """A command line as compared, without `--without STEP` (the trace's marker stands for it)."""
    words: list[str] = []
    skip = False
    for word in map(str, argv):
        if skip:
            skip = False
        elif word == _WITHOUT_OPTION:
            skip = True
        elif not word.startswith(_WITHOUT_OPTION + "="):
            words.append(norm.text(word))
    return " ".join(words)


def _step(ev: SyscallEvent, phase: str, norm: Normaliser) -> Step | None:
    name = ev.name
    category = ev.category_name
    left_out = left_out_step(ev)
    if left_out is not None:
        where = LEFT_OUT.get(left_out, (phase, ()))[0]
        step = Step(ev, where, (LEFT_OUT_KEY, left_out), (), LEFT_OUT_KEY + ":", left_out)
        step.category = LEFT_OUT_KEY
        return step
    if category in SKIPPED_CATEGORIES:
        return None
    if name in OPEN_CALLS and category in ("cgroup", "idmap"):
        return None
    d = ev.detail
    family = FAMILY.get(name, name)
    variant: dict[str, Any] = {}
    if name in FAMILY:
        variant["syscall"] = name
    if ev.errno is not None:
        variant["result"] = ev.errno
    key: tuple[str, ...]
    base, item = family, ""
    if category == "namespace" and name in ("clone", "clone3", "unshare"):
        key = (family,)
        variant["namespaces"] = sorted(d.get("namespaces") or ())
        base = f"{name} {'|'.join(f for f in _flag_names(ev) if f.startswith('CLONE_NEW'))}"
    elif name == "setns":
        key = (name,)
        variant["namespaces"] = sorted(d.get("namespaces") or ())
    elif name == "mount":
        target = str(d.get("target") or "")
        op = d.get("operation")
        kind = op if op in ("propagation", "remount") else "mount"
        inside = norm.inside(target)
        key = (name, kind, inside)
        given = ev.arg("target")
        variant["target"] = norm.text(given.text.strip('"')) if given is not None else norm.text(target)
        if op == "propagation":
            variant["propagation"] = d.get("propagation")
        else:
            variant["operation"] = op
            variant["source"] = norm.text(str(d.get("source") or ""))
            if d.get("fstype"):
                variant["fstype"] = d["fstype"]
            if d.get("data"):
                variant["data"] = norm.text(str(d["data"]))
        variant["flags"] = sorted(_flag_names(ev))
        base = f"mount {kind}"
        item = inside
    elif name == "umount2":
        target = norm.inside(str(d.get("target") or (ev.args[0].text.strip('"') if ev.args else "")))
        key = (name, target)
        variant["flags"] = sorted(_flag_names(ev))
        base, item = name, target
    elif name in ("seccomp", "bpf", "fsconfig"):  # before "cgroup": a device program is filed there
        label = summary(ev)
        key = tuple(label.split(" ", 1))
        variant["args"] = [t for t in (_arg_text(a.text, norm) for a in ev.args[1:]) if t is not None]
        base = label
    elif category == "cgroup":
        controller = str(d.get("controller") or f"v{d.get('version', '?')}")
        if family in ("mkdir", "rmdir"):
            action = str(d.get("action") or family)
            key = ("cgroup", action, controller)
            base, item = f"cgroup {action}", controller
        else:
            file = str(d.get("cgroup_file") or "")
            value = str(d.get("value", "")).strip()
            if file == "cgroup.procs":
                value = "<pid>" if value.isdigit() else value
            key = ("cgroup", "write", controller, file) + ((value,) if file in RULE_FILES else ())
            variant["value"] = value
            base, item = f"write {file}", (value if file in RULE_FILES else controller)
    elif category == "idmap":
        file = str(d.get("file") or "")
        key = ("idmap", file)
        variant["value"] = norm.text(str(d.get("value", "")).strip())
        base, item = f"write {file}", ""
    elif category in ("device", "file"):
        path = norm.inside(str(d.get("path") or ""))
        key = (family, path)
        variant["path"] = norm.text(str(d.get("path") or ""))
        for field in ("type", "mode", "major", "minor", "target"):
            if field in d:
                variant[field] = norm.text(str(d[field]))
        base, item = family, path
    elif family == "exec":
        key = (family,)
        argv = d.get("argv") or []
        variant["argv"] = _argv(argv, norm)
        program = ev.arg("pathname") or ev.arg("filename")
        if program is not None:
            variant["path"] = norm.text(program.text.strip('"'))
        base, item = "exec", str(argv[0]) if argv else ""
    elif name == "prctl":
        option = str(d.get("option") or (ev.args[0].text if ev.args else ""))
        subject = PRCTL_SUBJECT.get(option)
        texts = [a.text for a in ev.args[1:]]
        if subject is not None:
            # PR_CAP_AMBIENT's operation (RAISE, LOWER, CLEAR_ALL) and the capability say which step.
            key = (name, option, *texts)
            base, item = f"prctl {option}", " ".join(texts)
        else:
            key = (name, option)
            variant["args"] = [t for t in (_arg_text(x, norm) for x in texts) if t is not None]
            base = f"prctl {option}"
    elif name == "capset":
        key = (name,)
        for field in ("effective", "permitted", "inheritable"):
            variant[field] = sorted(d.get(field) or ())
    else:
        key = (family,)
        if d:  # the decoder's facts (hostname, uids...) rather than the raw arguments (lengths)
            for field, value in d.items():
                variant[field] = norm.text(value if isinstance(value, str) else str(value))
        else:
            variant["args"] = [t for t in (_arg_text(a.text, norm) for a in ev.args) if t is not None]
    return Step(ev, phase, key, tuple((k, _show(v)) for k, v in variant.items()), base, item)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "|".join(str(v) for v in value) if value else "none"
    return "none" if value is None or value == "" else str(value)


def steps_of(header: TraceHeader | None, events: Sequence[Event]) -> list[Step]:
    """The steps of one trace, in trace order, each with its phase."""
    norm = normaliser_for(header, events)
    steps = []
    for event, phase in phases_of(events):
        if isinstance(event, SyscallEvent) and event.result_text is not None:
            step = _step(event, phase, norm)
            if step is not None:
                step.norm = norm
                steps.append(step)
    return steps


# --- alignment ------------------------------------------------------------------------------------

SAME, ONLY_A, ONLY_B, CHANGED = "same", "only_a", "only_b", "changed"
# How a row is marked in text views, as in a unified diff (~ for the same step, other arguments).
MARK: dict[str, str] = {ONLY_A: "-", ONLY_B: "+", CHANGED: "~", SAME: "="}


def change_text(field: str, a: str, b: str) -> str:
    """``flags: -MS_PRIVATE +MS_SLAVE`` for sets, ``value: 16 → 32`` for the rest."""
    if "|" in a or "|" in b:
        sa, sb = a.split("|"), b.split("|")
        removed = [x for x in sa if x not in sb and x != "none"]
        added = [x for x in sb if x not in sa and x != "none"]
        if removed or added:
            return f"{field}: " + " ".join([*(f"-{x}" for x in removed), *(f"+{x}" for x in added)])
    return f"{field}: {a} → {b}"


class Row:
    """One line of the side-by-side view: a step of A, of B, or of both."""

    __slots__ = ("a", "b", "kind", "left_out", "moved")

    def __init__(self, kind: str, a: Step | None, b: Step | None, moved: bool = False) -> None:
        self.kind = kind
        self.a = a
        self.b = b
        self.moved = moved
        self.left_out: str | None = None  # the --without step this difference is the place of

    @property
    def step(self) -> Step:
        """The step that stands for the row (A's when both have it)."""
        found = self.a if self.a is not None else self.b
        assert found is not None
        return found

    def rank(self) -> tuple[int, ...]:
        """Lower is more important; a change of the syscall alone (mkdir/mkdirat) matters least."""
        trivial = self.kind == CHANGED and all(name == "syscall" for name, _, _ in self.changes())
        return (int(trivial), *self.step.rank())

    def changes(self) -> list[tuple[str, str, str]]:
        """What differs between A's and B's step: (field, A's value, B's value)."""
        if self.a is None or self.b is None:
            return []
        va, vb = dict(self.a.variant), dict(self.b.variant)
        return [
            (name, va.get(name, "none"), vb.get(name, "none"))
            for name in dict.fromkeys([*va, *vb])
            if va.get(name, "none") != vb.get(name, "none")
        ]


class PhaseDiff:
    __slots__ = ("phase", "rows")

    def __init__(self, phase: str, rows: list[Row]) -> None:
        self.phase = phase
        self.rows = rows

    def of_kind(self, kind: str) -> list[Row]:
        return [r for r in self.rows if r.kind == kind]


class LeftOut:
    """A step one side left out on purpose (`boxtrace run --without STEP`): its marker's row and
    the differences in its place (the calls the other side makes there, what this side does instead)."""

    __slots__ = ("marker", "phase", "rows")

    def __init__(self, phase: str, marker: Row, rows: list[Row]) -> None:
        self.phase = phase
        self.marker = marker
        self.rows = rows

    @property
    def step(self) -> str:
        return self.marker.step.item

    @property
    def side(self) -> str:
        """Which side left the step out: "a" or "b"."""
        return "a" if self.marker.kind == ONLY_A else "b"

    def missing(self) -> list[Row]:
        """The calls the other side makes and this one does not."""
        return [r for r in self.rows if r.kind == (ONLY_B if self.side == "a" else ONLY_A)]

    def instead(self) -> list[Row]:
        """What this side does in their place (chroot for pivot_root), or does differently."""
        own = ONLY_A if self.side == "a" else ONLY_B
        return [r for r in self.rows if r is not self.marker and r.kind in (own, CHANGED)]


class TraceDiff:
    """Two traces compared phase by phase."""

    __slots__ = ("name_a", "name_b", "phases")

    def __init__(self, name_a: str, name_b: str, phases: list[PhaseDiff]) -> None:
        self.name_a = name_a
        self.name_b = name_b
        self.phases = phases

    def rows(self, kind: str | None = None) -> list[Row]:
        return [r for p in self.phases for r in p.rows if kind is None or r.kind == kind]

    @property
    def identical(self) -> bool:
        return all(r.kind == SAME and not r.moved for r in self.rows())

    def ranked(self, kind: str) -> list[Row]:
        """The rows of ``kind`` that are no left-out step's, the most important first (``CONCERNS``,
        then ``CATEGORY_RANK``)."""
        return sorted((r for r in self.rows(kind) if r.left_out is None), key=lambda r: r.rank())

    def left_out(self) -> list[LeftOut]:
        """The steps one side left out on purpose, in trace order."""
        out = []
        for phase in self.phases:
            for row in phase.rows:
                if row.kind in (ONLY_A, ONLY_B) and row.step.left_out is not None:
                    rows = [r for r in self.rows() if r.left_out == row.step.left_out]
                    out.append(LeftOut(phase.phase, row, rows))
        return out


def _key_match(a: list[Step], b: list[Step]) -> list[tuple[int | None, int | None]]:
    """Pairs of indices aligned on the step key (None on one side: that step has no partner)."""
    out: list[tuple[int | None, int | None]] = []
    matcher = SequenceMatcher(None, [s.key for s in a], [s.key for s in b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(zip(range(i1, i2), range(j1, j2), strict=True))
        else:
            out.extend((i, None) for i in range(i1, i2))
            out.extend((None, j) for j in range(j1, j2))
    return out


def _align(a: list[Step], b: list[Step]) -> list[Row]:
    rows: list[Row] = []
    matcher = SequenceMatcher(
        None, [(s.key, s.variant) for s in a], [(s.key, s.variant) for s in b], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend(Row(SAME, a[i], b[j]) for i, j in zip(range(i1, i2), range(j1, j2), strict=True))
            continue
        for i, j in _key_match(a[i1:i2], b[j1:j2]):
            if i is not None and j is not None:
                rows.append(Row(CHANGED, a[i1 + i], b[j1 + j]))
            elif i is not None:
                rows.append(Row(ONLY_A, a[i1 + i], None))
            elif j is not None:
                rows.append(Row(ONLY_B, None, b[j1 + j]))
    _pair_moved(rows)
    return rows


def _attribute_left_out(diff: TraceDiff) -> None:
    """A left-out step's marker on one side only: the differences whose keys are the step's calls
    (LEFT_OUT), anywhere, and those around the marker up to the nearest steps both sides share, are
    that step's (the calls not made, what was done instead)."""
    for phase in diff.phases:
        rows = phase.rows
        for index, row in enumerate(rows):
            name = row.step.left_out if row.kind in (ONLY_A, ONLY_B) else None
            if name is None:
                continue
            row.left_out = name
            prefixes = LEFT_OUT.get(name, ("", ()))[1]
            for other in diff.rows():
                if other.kind != SAME and other.left_out is None and _starts(other.step.key, prefixes):
                    other.left_out = name
            for around in (range(index - 1, -1, -1), range(index + 1, len(rows))):
                for i in around:
                    neighbour = rows[i]
                    if neighbour.kind == SAME or neighbour.moved or neighbour.step.left_out is not None:
                        break
                    if neighbour.left_out is None:
                        neighbour.left_out = name


def _starts(key: tuple[str, ...], prefixes: tuple[tuple[str, ...], ...]) -> bool:
    return any(key[: len(prefix)] == prefix for prefix in prefixes)


def _pair_moved(rows: list[Row]) -> None:
    """A step on one side only whose twin is on the other side only, elsewhere: moved, not missing.
    The twin's row is dropped and the step's row shows both (its kind says whether they differ)."""
    for exact in (True, False):
        waiting: dict[object, list[Row]] = {}
        for row in rows:
            if row.kind == ONLY_B and row.b is not None:
                waiting.setdefault(_twin_key(row.b, exact), []).append(row)
        if not waiting:
            return
        dropped: set[int] = set()
        for row in rows:
            if row.kind != ONLY_A or row.a is None:
                continue
            twins = waiting.get(_twin_key(row.a, exact))
            if twins:
                twin = twins.pop(0)
                row.b = twin.b
                row.kind = SAME if exact else CHANGED
                row.moved = True
                dropped.add(id(twin))
        rows[:] = [r for r in rows if id(r) not in dropped]


def _twin_key(step: Step, exact: bool) -> object:
    return (step.key, step.variant) if exact else step.key


def diff_steps(a: Sequence[Step], b: Sequence[Step], name_a: str = "A", name_b: str = "B") -> TraceDiff:
    phases = []
    for phase in PHASES:
        pa = [s for s in a if s.phase == phase]
        pb = [s for s in b if s.phase == phase]
        if pa or pb:
            phases.append(PhaseDiff(phase, _align(pa, pb)))
    diff = TraceDiff(name_a, name_b, phases)
    _attribute_left_out(diff)
    for row in diff.rows():
        for step in (row.a, row.b):
            if step is not None and row.kind != SAME:
                title = explain(step.event).title
                # Titles name what a call acts on ("mkdirat <id>"): the same placeholders as the steps.
                step.title = step.norm.text(title) if step.norm is not None else title
    return diff


def diff_traces(
    a: tuple[TraceHeader | None, Sequence[Event]],
    b: tuple[TraceHeader | None, Sequence[Event]],
    names: tuple[str, str] | None = None,
) -> TraceDiff:
    """Compare two traces, each given as (header, events)."""
    if names is None:
        names = side_names(a[0], b[0])
    return diff_steps(steps_of(*a), steps_of(*b), *names)


def side_name(header: TraceHeader | None) -> str:
    """What a trace is called in a report: the runtime it traced (boxtrace, runc, crun...)."""
    if header is None or not header.command:
        return "trace"
    words = [w.rsplit("/", 1)[-1] for w in header.command]
    if "boxtrace.runtime" in header.command or "boxtrace-runtime" in words:
        name = "boxtrace"
    elif words[0].startswith("python") and len(words) > 1:
        name = words[1]
    else:
        name = words[0]
    if "--rootless" in header.command:
        name += " rootless"
    return name


def side_names(a: TraceHeader | None, b: TraceHeader | None) -> tuple[str, str]:
    """Names for the two sides; ``A: runc`` / ``B: runc`` when both traced the same program."""
    na, nb = side_name(a), side_name(b)
    if na == nb:
        return f"{na} (A)", f"{nb} (B)"
    return na, nb

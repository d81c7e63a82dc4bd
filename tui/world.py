"""What the trace has built so far at a given step: processes and their namespaces, the container's
mounts, the cgroups and their limits, the hostname.

Derived from the recorded events alone, so a replay (no root, the processes long gone) shows the same
panes as the live session. :class:`WorldTimeline` answers "the world after event i" for any i,
stepping forward incrementally and backward from checkpoints, so stepping through 100,000 events
never refolds the whole trace.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from boxtrace.tracer.events import Event, ExecEvent, ExitEvent, SpawnEvent, SyscallEvent

CHECKPOINT_EVERY = 500  # a step back refolds at most this many events (~6 ms)
# The calls whose cgroup event carries the value written (detail["value"]).
_WRITE_CALLS = frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2"})


@dataclass(slots=True)
class Proc:
    pid: int
    parent: int | None
    comm: str
    ns: dict[str, int] = field(default_factory=dict)  # namespace type -> id, as far as the trace says
    new_ns: set[str] = field(default_factory=set)  # types this process got anew (clone/unshare/setns)
    inner_pid: int | None = None  # pid inside its own pid namespace, when nested
    argv: list[str] = field(default_factory=list)
    ended: str | None = None  # "exit 0", "SIGKILL", ...


@dataclass(slots=True)
class Mount:
    target: str
    source: str
    fstype: str
    options: str
    readonly: bool
    seq: int
    old_root: bool = False  # the host's root, stacked by pivot_root(".", ".") until umount2 detaches it


@dataclass(slots=True)
class Cgroup:
    key: str  # "pids:/boxtrace-1234" (v1) or "/boxtrace-1234" (v2)
    path: str
    version: int | None
    files: dict[str, str] = field(default_factory=dict)  # file -> last value written
    removed: bool = False


def _under(path: str, root: str) -> bool:
    return path == root or root == "/" or path.startswith(root.rstrip("/") + "/")


def _rebase(path: str, root: str) -> str:
    if path == root:
        return "/"
    if root == "/":
        return path
    return "/" + path[len(root.rstrip("/")) + 1 :]


def _path(ev: SyscallEvent, key: str) -> str | None:
    resolved = ev.detail.get("resolved")
    if isinstance(resolved, dict) and isinstance(resolved.get(key), str):
        return posixpath.normpath(resolved[key])
    value = ev.detail.get(key)
    return posixpath.normpath(value) if isinstance(value, str) else None


class World:
    """The state after some prefix of the trace. ``apply`` one event at a time, in order.

    Copies share their :class:`Proc` objects (a long trace has thousands of processes, and the
    timeline keeps a copy per checkpoint): a world changes a process only after making it its own
    (``_own``), and a copy leaves neither world owning any.
    """

    __slots__ = ("_owned", "cgroups", "hostname", "mounts", "procs", "propagation", "root_pid", "seen")

    def __init__(self) -> None:
        self.procs: dict[int, Proc] = {}
        self.root_pid: int | None = None
        self.mounts: list[Mount] = []
        self.propagation: dict[str, str] = {}  # mount point -> shared/private/slave, as last set
        self.cgroups: dict[str, Cgroup] = {}
        self.hostname: str | None = None
        self.seen = 0  # events applied
        self._owned: set[int] = set()  # pids whose Proc no other world shares

    def copy(self) -> World:
        other = World()
        other.procs = dict(self.procs)
        self._owned = set()  # shared from now on, by both
        other.root_pid = self.root_pid
        other.mounts = [replace(m) for m in self.mounts]
        other.propagation = dict(self.propagation)
        other.cgroups = {k: replace(c, files=dict(c.files)) for k, c in self.cgroups.items()}
        other.hostname = self.hostname
        other.seen = self.seen
        return other

    # ---- folding ----

    def apply(self, ev: Event) -> None:
        self.seen += 1
        proc = self._proc(ev)
        if isinstance(ev, SyscallEvent):
            if ev.result is None or ev.errno:
                return  # not run yet (held at entry) or failed: changed nothing
            cat = ev.category_name
            if ev.ns_changed:
                self._namespaces(ev, proc)
            if cat == "mount":
                self._mount(ev)
            elif cat == "cgroup":
                self._cgroup(ev)
            elif ev.name == "sethostname":
                name = ev.detail.get("hostname")
                self.hostname = str(name) if name is not None else self.hostname
        elif isinstance(ev, SpawnEvent):
            if not ev.thread and ev.child not in self.procs:
                self._add_proc(Proc(ev.child, ev.pid, ev.comm, ns=dict(proc.ns)))
        elif isinstance(ev, ExecEvent):
            proc = self._own(ev.pid)
            proc.comm = ev.comm or posixpath.basename(ev.path)
            proc.argv = list(ev.argv)
        elif isinstance(ev, ExitEvent) and ev.pid == ev.tid:
            self._own(ev.pid).ended = ev.signal or f"exit {ev.status}"

    def _add_proc(self, proc: Proc) -> Proc:
        self.procs[proc.pid] = proc
        self._owned.add(proc.pid)
        return proc

    def _own(self, pid: int) -> Proc:
        """The process ``pid`` (which exists), safe to change: copied first if another world shares it."""
        proc = self.procs[pid]
        if pid not in self._owned:
            proc = self._add_proc(replace(proc, ns=dict(proc.ns), new_ns=set(proc.new_ns)))
        return proc

    def _proc(self, ev: Event) -> Proc:
        """The event's process, to read (``_own`` it to change it)."""
        proc = self.procs.get(ev.pid)
        if proc is None:
            proc = self._add_proc(Proc(ev.pid, None, ev.comm))
            if self.root_pid is None:
                self.root_pid = ev.pid
        if ev.nspid and len(ev.nspid) > 1 and proc.inner_pid != ev.nspid[-1]:
            proc = self._own(ev.pid)
            proc.inner_pid = ev.nspid[-1]
        return proc

    def _namespaces(self, ev: SyscallEvent, proc: Proc) -> None:
        target = proc.pid
        if ev.name in ("clone", "clone3"):
            child = ev.detail.get("child_pid", ev.result)
            if isinstance(child, int) and child > 0:
                if child not in self.procs:
                    self._add_proc(Proc(child, ev.pid, ev.comm, ns=dict(proc.ns)))
                target = child
        # "pid_for_children"/"time_for_children" are the same namespace as "pid"/"time" once a child
        # lives in it: not shown apart.
        changed = [
            (kind, inode) for kind, inode in ev.ns_changed.items() if not kind.endswith("_for_children")
        ]
        if changed:
            owned = self._own(target)
            for kind, inode in changed:
                owned.ns[kind] = inode
                owned.new_ns.add(kind)

    def _mount(self, ev: SyscallEvent) -> None:
        name = ev.name
        d = ev.detail
        if name == "mount":
            target = _path(ev, "target")
            if target is None:
                return
            op = d.get("operation")
            readonly = bool(d.get("readonly"))
            flags = [f for f in d.get("flags") or [] if isinstance(f, str)]
            if op == "propagation":
                self.propagation[target] = str(d.get("propagation", "?"))
            elif op in ("remount", "remount-bind"):
                found = self._latest(target)
                if found is not None:
                    found.readonly = readonly
                    found.options = ",".join(f.removeprefix("MS_").lower() for f in flags)
            elif op == "move":
                source = _path(ev, "source")
                found = self._latest(source) if source else None
                if found is not None:
                    found.target = target
            else:
                source = d.get("source") or "none"
                fstype = d.get("fstype") or ("bind" if op == "bind" else "?")
                options = d.get("data") or ",".join(f.removeprefix("MS_").lower() for f in flags)
                self.mounts.append(Mount(target, str(source), str(fstype), str(options), readonly, ev.seq))
        elif name == "umount2" or name == "umount":
            target = _path(ev, "target")
            if target is not None:
                self._umount(target)
        elif name == "pivot_root":
            new_root = _path(ev, "new_root")
            put_old = _path(ev, "put_old")
            if new_root is not None:
                self._reroot(new_root)
                if put_old is not None:
                    self.mounts.append(
                        Mount(_rebase(put_old, new_root), "the host's old root", "-", "", False, ev.seq, True)
                    )
        elif name == "chroot":
            root = _path(ev, "path")
            if root is not None:
                self._reroot(root)
        elif name == "move_mount":
            target = _path(ev, "to_path") or _path(ev, "target")
            if target is not None:
                self.mounts.append(Mount(target, "fsmount", str(d.get("fstype") or "?"), "", False, ev.seq))

    def _latest(self, target: str) -> Mount | None:
        for m in reversed(self.mounts):
            if m.target == target:
                return m
        return None

    def _umount(self, target: str) -> None:
        top = self._latest(target)
        if top is None:
            return
        if top.old_root:
            self.mounts.remove(top)  # detaching the host's root takes only the host's mounts with it
            return
        index = self.mounts.index(top)
        # A lazy (MNT_DETACH) unmount takes everything mounted below the mount point along.
        self.mounts = self.mounts[:index] + [
            m for m in self.mounts[index + 1 :] if not _under(m.target, target)
        ]

    def _reroot(self, root: str) -> None:
        kept = []
        for m in self.mounts:
            if _under(m.target, root):
                m.target = _rebase(m.target, root)
                kept.append(m)
        self.mounts = kept
        self.propagation = {_rebase(p, root): v for p, v in self.propagation.items() if _under(p, root)}

    def _cgroup(self, ev: SyscallEvent) -> None:
        d: dict[str, Any] = ev.detail
        cgroup = d.get("cgroup")
        if not isinstance(cgroup, str):
            return
        controller = d.get("controller")
        key = f"{controller}:{cgroup}" if controller else cgroup
        group = self.cgroups.get(key)
        if group is None:
            version = d.get("version")
            group = self.cgroups[key] = Cgroup(
                key, str(d.get("path", cgroup)), version if isinstance(version, int) else None
            )
        action = d.get("action")
        if action == "remove":
            group.removed = True
        elif action == "create":
            group.removed = False
        cg_file = d.get("cgroup_file")
        value = d.get("value")
        if ev.name in _WRITE_CALLS and isinstance(cg_file, str) and value is not None:
            group.files[cg_file] = str(value).strip()

    # ---- reading ----

    def children(self, pid: int) -> list[Proc]:
        return [p for p in self.procs.values() if p.parent == pid]

    def new_namespaces(self) -> dict[str, list[int]]:
        """Namespace type -> pids that made or entered a new one of that type."""
        out: dict[str, list[int]] = {}
        for p in self.procs.values():
            for kind in sorted(p.new_ns):
                out.setdefault(kind, []).append(p.pid)
        return out


class WorldTimeline:
    """``at(i)``: the world after events[0..i], over a growing sequence of events.

    Checkpoints come from folding (every ``every`` events) or ready-made from a replay's loader, which
    folds each event once as it reads the file: then no step, however far, refolds more than ``every``
    events, and a replayed file's events are parsed again only for those.
    """

    def __init__(self, events: Sequence[Event], every: int = CHECKPOINT_EVERY) -> None:
        self.events = events
        self.every = every
        self._checkpoints: dict[int, World] = {0: World()}  # events applied -> snapshot
        self._world = World()

    def add_checkpoints(self, checkpoints: dict[int, World]) -> None:
        """Snapshots folded elsewhere (a replay's loader) over the same events; never mutated again."""
        self._checkpoints.update(checkpoints)

    def invalidate_from(self, index: int) -> None:
        """Event ``index`` changed (a held syscall finished): forget any state that folded it."""
        for n in [n for n in self._checkpoints if n > index]:
            del self._checkpoints[n]
        if self._world.seen > index:
            self._world = self._checkpoints[max(self._checkpoints)].copy()

    def at(self, index: int) -> World:
        """The world after applying events 0..index (index -1: nothing yet). Do not mutate it."""
        wanted = min(index + 1, len(self.events))
        world = self._world
        if world.seen != wanted:
            base = max(n for n in self._checkpoints if n <= wanted)
            if world.seen > wanted or base > world.seen:
                world = self._checkpoints[base].copy()
        events = self.events
        every = self.every
        while world.seen < wanted:
            world.apply(events[world.seen])
            if world.seen % every == 0 and world.seen not in self._checkpoints:
                self._checkpoints[world.seen] = world.copy()
        self._world = world
        return world

"""The chapters of a container start: each event of a trace gets one of ``model.PHASES``.

A phase depends on what happened before (the same mount is "prepare" on the host and "filesystem"
inside the new mount namespace; an exit is "run" for the container and "cleanup" for the runtime),
so :class:`PhaseTracker` is fed the events in trace order and remembers, per process:

- whether it lives in namespaces the traced tree created (clone/unshare/setns with CLONE_NEW*,
  inherited by its children): container work happens there, runtime work on the host;
- whether it has just pivoted (pivot_root/chroot): the next propagation change and unmount of the
  old root belong to the pivot;
- whether it is the container's process (a successful exec inside new namespaces) or a descendant:
  everything it does afterwards is "run";
- whether the container has exited: what the runtime does afterwards is "cleanup".

Events that say nothing about the story by themselves (a thread starting, PR_SET_NAME, an exit of a
helper) take the phase the process is in.
"""

from __future__ import annotations

from boxtrace.lessons.model import PHASES
from boxtrace.tracer.events import Event, ExecEvent, ExitEvent, OutputEvent, SpawnEvent, SyscallEvent

TYPE_CHECKING = False  # collections.abc: only type checkers see it (console start-up)
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["PhaseTracker", "phases_of"]

# The phase of a category when nothing about the process changes it (host or container alike).
_CATEGORY_PHASE: dict[str, str] = {
    "cgroup": "cgroups",
    "idmap": "user mapping",
    "namespace": "namespaces",
    "mount": "filesystem",
    "device": "filesystem",
    "identity": "identity and hardening",
    "security": "identity and hardening",
    "exec": "exec",
    "file": "filesystem",
}
# prctl options about naming and process life, not privileges: they keep the process's phase.
_NEUTRAL_PRCTL = frozenset({"PR_SET_NAME", "PR_SET_PDEATHSIG"})
_PIVOT_CALLS = frozenset({"pivot_root", "chroot"})

assert set(_CATEGORY_PHASE.values()) <= set(PHASES)


class PhaseTracker:
    """Assigns phases to the events of one trace, fed in order: ``tracker.phase(event)``."""

    __slots__ = ("_container", "_container_done", "_current", "_in_new_ns", "_last", "_pivoting")

    def __init__(self) -> None:
        self._in_new_ns: set[int] = set()  # pids in namespaces the traced tree created
        self._pivoting: set[int] = set()  # pids between pivot_root and the old root's unmount
        self._container: set[int] = set()  # the container's process and its descendants
        self._container_done = False  # the container's process has exited
        self._last: dict[int, str] = {}  # pid -> its latest phase
        self._current = "prepare"  # the story's latest phase, for processes seen for the first time

    def phase(self, event: Event) -> str:
        """The phase of ``event``; updates what is known about its process."""
        phase = self._classify(event)
        self._last[event.pid] = phase
        if phase != "run" and phase != "cleanup":
            self._current = phase
        return phase

    # --- rules -------------------------------------------------------------------------------------

    def _of_process(self, pid: int) -> str:
        return self._last.get(pid, self._current)

    def _classify(self, event: Event) -> str:
        pid = event.pid
        if isinstance(event, SyscallEvent):
            return self._syscall(event)
        if isinstance(event, ExecEvent):
            return self._exec(pid, ok=True)
        if isinstance(event, SpawnEvent):
            return self._spawn(event)
        if isinstance(event, ExitEvent):
            if pid in self._container:
                if event.tid == pid:
                    self._container.discard(pid)
                    if not self._container:
                        self._container_done = True
                return "run"
            return "cleanup" if self._container_done else self._of_process(pid)
        if isinstance(event, OutputEvent):
            return "run" if self._container or self._container_done else self._of_process(pid)
        return self._of_process(pid)

    def _spawn(self, event: SpawnEvent) -> str:
        parent, child = event.pid, event.child
        if not event.thread:
            if parent in self._in_new_ns or any(f.startswith("CLONE_NEW") for f in event.flags):
                self._in_new_ns.add(child)
            if parent in self._container:
                self._container.add(child)
        if parent in self._container:
            return "run"
        if any(f.startswith("CLONE_NEW") for f in event.flags):
            return "namespaces"
        return "cleanup" if self._container_done else self._of_process(parent)

    def _exec(self, pid: int, ok: bool) -> str:
        if pid in self._container:
            # The exec event and the execve call that caused it both belong to "exec" (the tracer
            # may record them in either order); a later exec is the container running a program.
            return "exec" if self._last.get(pid) == "exec" else "run"
        if pid in self._in_new_ns:
            if ok:
                self._container.add(pid)
            return "exec"
        # The runtime (re)executing itself on the host: runc -> runc init.
        return "cleanup" if self._container_done else "prepare"

    def _syscall(self, ev: SyscallEvent) -> str:
        pid = ev.pid
        name = ev.name
        if name in ("execve", "execveat"):
            return self._exec(pid, ok=ev.errno is None and ev.result is not None)
        if pid in self._container:
            return "run"
        category = ev.category_name
        detail = ev.detail
        if category == "namespace":
            if ev.errno is None:
                if name in ("unshare", "setns"):
                    self._in_new_ns.add(pid)
                elif ev.result is not None and ev.result > 0:
                    self._in_new_ns.add(ev.result)
            return "namespaces"
        if category == "cgroup":
            if detail.get("action") == "remove":
                return "cleanup"
            return "cgroups"
        if name in _PIVOT_CALLS:
            self._pivoting.add(pid)
            return "pivot"
        if pid in self._pivoting:
            # The old root: made slave/private so the unmount does not propagate, then detached.
            if name == "umount2":
                self._pivoting.discard(pid)
                return "pivot"
            if name == "mount" and detail.get("operation") == "propagation":
                return "pivot"
            self._pivoting.discard(pid)
        if category == "process" or (name == "prctl" and detail.get("option") in _NEUTRAL_PRCTL):
            return "cleanup" if self._container_done else self._of_process(pid)
        if self._container_done and pid not in self._in_new_ns:
            return "cleanup"
        if pid not in self._in_new_ns and category in ("mount", "security", "identity", "device"):
            # On the host, before any namespace: the runtime preparing itself (runc's probes of
            # seccomp features, its read-only copy of its own binary, PR_SET_CHILD_SUBREAPER).
            return "prepare"
        return _CATEGORY_PHASE.get(category, self._of_process(pid))


def phases_of(events: Iterable[Event]) -> Iterator[tuple[Event, str]]:
    """Each event of a trace with its phase, in trace order."""
    tracker = PhaseTracker()
    for event in events:
        yield event, tracker.phase(event)

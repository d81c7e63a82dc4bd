"""Which chapter of the container story (``lessons.model.PHASES``) each event belongs to.

The lessons package's classifier (``boxtrace.lessons.phases.PhaseTracker``) decides, so the TUI's
headings match the exports' chapters; the small rule set here only answers for an event it leaves
unclassified (or if that module is missing). Classifying is stateful because the same call means
different things at different times: an ``execve`` before the container exists starts the runtime
(prepare), one in a new pid namespace starts the container (exec); a cgroup ``rmdir`` after that is cleanup.
"""

from __future__ import annotations

from collections.abc import Callable

from boxtrace.lessons.model import PHASES
from boxtrace.tracer.events import Event, ExecEvent, ExitEvent, OutputEvent, SyscallEvent

PhaseFn = Callable[[Event], str | None]

_BY_CATEGORY: dict[str, str] = {
    "cgroup": "cgroups",
    "namespace": "namespaces",
    "idmap": "user mapping",
    "mount": "filesystem",
    "device": "filesystem",
    "identity": "identity and hardening",
    "security": "identity and hardening",
}
_PIVOT_CALLS = frozenset({"pivot_root", "chroot"})


def _catalogue_classifier() -> PhaseFn | None:
    """A fresh ``lessons.phases.PhaseTracker`` (stateful, one per trace); None if not installed."""
    try:
        from boxtrace.lessons.phases import PhaseTracker
    except ImportError:
        return None
    return PhaseTracker().phase


class PhaseClassifier:
    """Feed events in trace order; ``phase(event)`` names the chapter each one belongs to."""

    def __init__(self, use_catalogue: bool = True) -> None:
        self._external = _catalogue_classifier() if use_catalogue else None
        self.current = PHASES[0]
        self._pivoted = False
        self._container_pids: set[int] = set()
        self._container_ran = False
        self._container_exited = False

    def phase(self, event: Event) -> str:
        if self._external is not None:
            found = self._external(event)
            if found in PHASES:
                self.current = found
                return found
        self.current = self._rule(event)
        return self.current

    def _in_container(self, event: Event) -> bool:
        # NSpid has one entry per pid namespace: more than one means inside a new pid namespace.
        return event.pid in self._container_pids or bool(event.nspid and len(event.nspid) > 1)

    def _rule(self, event: Event) -> str:
        if isinstance(event, SyscallEvent):
            if self._container_exited and event.category_name in ("cgroup", "mount"):
                return "cleanup"
            if event.name in ("execve", "execveat"):
                if self._in_container(event):
                    self._container_pids.add(event.pid)
                    self._container_ran = True
                    return "exec"
                return "prepare" if not self._container_ran else self.current
            if event.name in _PIVOT_CALLS or (self._pivoted and event.name == "umount2"):
                self._pivoted = True
                return "pivot"
            if self._container_ran and self._in_container(event):
                return "run"
            found = _BY_CATEGORY.get(event.category_name)
            if found is not None:
                if self._pivoted and found == "filesystem" and self.current == "pivot":
                    return "pivot"  # runc's MS_SLAVE remount and umount of the old root belong to pivot
                return found
            return self.current
        if isinstance(event, ExecEvent) and self._in_container(event):
            self._container_pids.add(event.pid)
            self._container_ran = True
            return "exec"
        if isinstance(event, OutputEvent) and self._container_ran:
            return "run"
        if isinstance(event, ExitEvent) and event.pid in self._container_pids:
            self._container_exited = True
            return "run"
        return self.current

"""Messages a trace session hands its consumers (console printer, TUI, tests), in order.

A consumer never calls ptrace: it receives these, in batches, on the session's delivery thread, and
steers the trace through :class:`boxtrace.tracer.session.TraceSession` methods.
"""

from __future__ import annotations

from dataclasses import dataclass

from boxtrace.tracer.events import Event, SyscallEvent, TraceHeader


@dataclass(slots=True)
class Started:
    """The command runs under the tracer; ``pid`` is its host pid."""

    header: TraceHeader
    pid: int


@dataclass(slots=True)
class SyscallEntered:
    """A traced call was decoded at entry and has not run yet (``event.result`` is None).

    The same ``event`` object comes back in :class:`SyscallFinished` once completed; by the time a
    consumer sees this message outside step mode the call may already have finished.
    """

    event: SyscallEvent


@dataclass(slots=True)
class SyscallFinished:
    """A traced call returned (``event.finished``), or its process died inside it (result None)."""

    event: SyscallEvent


@dataclass(slots=True)
class ProcessEvent:
    """A spawn, exec, exit or output event (see ``boxtrace.tracer.events``)."""

    event: Event


@dataclass(slots=True)
class Held:
    """The tracee is held at the entry of ``event`` (step, pause or a breakpoint); it has not run."""

    event: SyscallEvent
    reason: str  # step | pause | breakpoint


@dataclass(slots=True)
class Resumed:
    """The held tracee was let go."""


@dataclass(slots=True)
class Notice:
    """Something the user should know (fallback mode, stopping, ...)."""

    text: str
    level: str = "info"  # info | warning | error


@dataclass(slots=True)
class TraceResult:
    """How the trace ended. ``exit_code`` is the shell convention: status, or 128+N if killed by N."""

    exit_status: int | None
    signal: str | None
    exit_code: int
    mode: str
    events: int
    stops: int
    error: str | None = None
    stopped_by_user: bool = False
    detached: bool = False  # the root was let go, still running (attached with --pid, or recorded)

    def outcome(self) -> str:
        """How the root process ended, for a status line: 'exit status 0', 'killed by SIGKILL'..."""
        if self.detached:
            return "detached, still running"
        return f"killed by {self.signal}" if self.signal else f"exit status {self.exit_status}"


@dataclass(slots=True)
class Ended:
    """The last message: every tracee is gone."""

    result: TraceResult


Message = Started | SyscallEntered | SyscallFinished | ProcessEvent | Held | Resumed | Notice | Ended

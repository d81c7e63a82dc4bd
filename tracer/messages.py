"""Messages a trace session hands its consumers (console printer, TUI, tests), in order.

A consumer never calls ptrace: it receives these, in batches, on the session's delivery thread, and
steers the trace through :class:`boxtrace.tracer.session.TraceSession` methods.
"""

from __future__ import annotations

from boxtrace.tracer.plain import Plain

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from boxtrace.tracer.events import Event, SyscallEvent, TraceHeader


class Started(Plain):
    """The command runs under the tracer; ``pid`` is its host pid."""

    __slots__ = ("header", "pid")

    def __init__(self, header: TraceHeader, pid: int) -> None:
        self.header = header
        self.pid = pid


class SyscallEntered(Plain):
    """A traced call was decoded at entry and has not run yet (``event.result`` is None).

    The same ``event`` object comes back in :class:`SyscallFinished` once completed; by the time a
    consumer sees this message outside step mode the call may already have finished.
    """

    __slots__ = ("event",)

    def __init__(self, event: SyscallEvent) -> None:
        self.event = event


class SyscallFinished(Plain):
    """A traced call returned (``event.finished``), or its process died inside it (result None)."""

    __slots__ = ("event",)

    def __init__(self, event: SyscallEvent) -> None:
        self.event = event


class ProcessEvent(Plain):
    """A spawn, exec, exit or output event (see ``boxtrace.tracer.events``)."""

    __slots__ = ("event",)

    def __init__(self, event: Event) -> None:
        self.event = event


class Held(Plain):
    """The tracee is held at the entry of ``event`` (step, pause or a breakpoint); it has not run."""

    __slots__ = ("event", "reason")

    def __init__(self, event: SyscallEvent, reason: str) -> None:
        self.event = event
        self.reason = reason  # step | pause | breakpoint


class Resumed(Plain):
    """The held tracee was let go."""

    __slots__ = ()


class Notice(Plain):
    """Something the user should know (fallback mode, stopping, ...)."""

    __slots__ = ("level", "text")

    def __init__(self, text: str, level: str = "info") -> None:
        self.text = text
        self.level = level  # info | warning | error


class TraceResult(Plain):
    """How the trace ended. ``exit_code`` is the shell convention: status, or 128+N if killed by N."""

    __slots__ = (
        "detached",
        "error",
        "events",
        "exit_code",
        "exit_status",
        "mode",
        "signal",
        "stopped_by_user",
        "stops",
    )

    def __init__(
        self,
        exit_status: int | None,
        signal: str | None,
        exit_code: int,
        mode: str,
        events: int,
        stops: int,
        error: str | None = None,
        stopped_by_user: bool = False,
        detached: bool = False,
    ) -> None:
        self.exit_status = exit_status
        self.signal = signal
        self.exit_code = exit_code
        self.mode = mode
        self.events = events
        self.stops = stops
        self.error = error
        self.stopped_by_user = stopped_by_user
        self.detached = detached  # the root was let go, still running (attached with --pid, or recorded)

    def outcome(self) -> str:
        """How the root process ended, for a status line: 'exit status 0', 'killed by SIGKILL'..."""
        if self.detached:
            return "detached, still running"
        return f"killed by {self.signal}" if self.signal else f"exit status {self.exit_status}"


class Ended(Plain):
    """The last message: every tracee is gone."""

    __slots__ = ("result",)

    def __init__(self, result: TraceResult) -> None:
        self.result = result


Message = Started | SyscallEntered | SyscallFinished | ProcessEvent | Held | Resumed | Notice | Ended

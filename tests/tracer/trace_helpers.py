"""Helpers for the engine, robustness and differential tests: run a trace in-process and collect."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from boxtrace.tracer.events import Event, ExecEvent, ExitEvent, SpawnEvent, SyscallEvent
from boxtrace.tracer.messages import Held, Message, ProcessEvent, SyscallFinished, TraceResult
from boxtrace.tracer.session import TraceConfig, TraceSession
from tests.conftest import SLOWDOWN


@dataclass
class Collected:
    result: TraceResult
    messages: list[Message] = field(default_factory=list)

    @property
    def events(self) -> list[Event]:
        return [m.event for m in self.messages if isinstance(m, SyscallFinished | ProcessEvent)]

    def syscalls(self, name: str | None = None) -> list[SyscallEvent]:
        return [e for e in self.events if isinstance(e, SyscallEvent) and (name is None or e.name == name)]

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def spawns(self) -> list[SpawnEvent]:
        return self.of(SpawnEvent)

    @property
    def execs(self) -> list[ExecEvent]:
        return self.of(ExecEvent)

    @property
    def exits(self) -> list[ExitEvent]:
        return self.of(ExitEvent)

    @property
    def held(self) -> list[Held]:
        return [m for m in self.messages if isinstance(m, Held)]


def trace(command: list[str], timeout: float = 60 * SLOWDOWN, **config: object) -> Collected:
    """Trace ``command`` to the end and return every message."""
    messages: list[Message] = []
    lock = threading.Lock()

    def consume(batch: list[Message]) -> None:
        with lock:
            messages.extend(batch)

    session = TraceSession(TraceConfig(command=command, **config), consume)  # type: ignore[arg-type]
    session.start()
    result = session.wait(timeout)
    if result is None:
        session.stop(force=True)
        session.wait(15)
        raise AssertionError(f"trace of {command} did not end within {timeout} s")
    return Collected(result, messages)


def flag_names(event: SyscallEvent) -> set[str]:
    names: set[str] = set()
    for arg in event.args:
        if arg.flags:
            names.update(arg.flags)
    return names


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def is_root() -> bool:
    return os.geteuid() == 0

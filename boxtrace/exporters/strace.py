"""strace-style text: ``PID name(args) = ret``, as ``strace -f`` prints it, so traces can be diffed.

Arguments are the decoders' strace-style texts; calls that never returned end in ``= ?`` (like
strace's exit_group); process exits read ``PID +++ exited with N +++`` / ``+++ killed by SIG +++``.
Spawn, exec and output events have no strace line of their own (the clone and execve calls do).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from boxtrace.tracer.events import Event, ExitEvent, SyscallEvent, TraceHeader

DESCRIPTION = "strace -f style lines (PID name(args) = ret), to diff with strace's output"


def syscall_line(ev: SyscallEvent) -> str:
    args = ", ".join(a.text for a in ev.args)
    ret = "?" if ev.result_text is None else ev.result_text
    return f"{ev.pid if ev.tid == ev.pid else ev.tid} {ev.name}({args}) = {ret}"


def exit_line(ev: ExitEvent) -> str:
    if ev.signal:
        return f"{ev.tid} +++ killed by {ev.signal} +++"
    return f"{ev.tid} +++ exited with {ev.status} +++"


def export(header: TraceHeader, events: Iterable[Event], out: TextIO) -> None:
    # The file lists syscalls by completion; strace -f prints a call once it returns too, so keep that
    # order, which is also what makes the file's order causal for exits.
    for ev in events:
        if isinstance(ev, SyscallEvent):
            out.write(syscall_line(ev) + "\n")
        elif isinstance(ev, ExitEvent):
            out.write(exit_line(ev) + "\n")

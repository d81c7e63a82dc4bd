"""Run a command under the tracer with the plain console printer: shared by `boxtrace trace` and
`boxtrace run`. Returns the command's exit status; usage problems raise UsageError."""

from __future__ import annotations

import os
import sys

from boxtrace.usage import UsageError


def check_output_path(path: str, prog: str) -> None:
    """-o FILE must be writable before anything starts: nothing half-done on a typo."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"-o {path}: is a directory", prog)
    if not os.path.isdir(parent):
        raise UsageError(f"-o {path}: no such directory {parent}", prog)
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"-o {path}: not writable", prog)


def trace_plain(
    command: list[str], prog: str, *, all_syscalls: bool, output: str | None, grace: float
) -> int:
    from boxtrace.console import PlainPrinter
    from boxtrace.tracer.session import CommandNotFound, TraceConfig, TraceSession

    config = TraceConfig(command=command, all_syscalls=all_syscalls, output=output, grace=grace)
    try:
        session = TraceSession(config, PlainPrinter())
    except CommandNotFound as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 127
    try:
        result = session.run()
    except OSError as exc:
        print(f"{prog}: cannot start {command[0]}: {exc}", file=sys.stderr)
        return 126
    if session.consumer_error is not None and isinstance(session.consumer_error, BrokenPipeError):
        # stdout went away (e.g. `| head`): the trace was stopped; say nothing more on a dead pipe.
        _silence_stdout()
    if result.error:
        print(f"{prog}: tracer error: {result.error}", file=sys.stderr)
        return 1
    return result.exit_code


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)

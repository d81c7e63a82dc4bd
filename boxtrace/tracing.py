"""Run a command under the tracer, with the plain console printer or the TUI: shared by `boxtrace
trace` and `boxtrace run`. Returns the command's exit status; usage problems raise UsageError."""

from __future__ import annotations

import os
import sys

from boxtrace.runtime.usage import collect_from_here
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


def use_tui(plain: bool) -> bool:
    """The TUI when both ends are a terminal and --plain was not given; plain lines otherwise."""
    return not plain and sys.stdout.isatty() and sys.stdin.isatty()


def tui_export_options() -> tuple[tuple[str, ...], object]:
    """The CLI's exporters, handed to the TUI (which must not import the CLI layer itself)."""
    from boxtrace.exporters import FORMATS, get_exporter

    def export(fmt: str, header: object, events: list[object], path: str) -> None:
        tmp = f"{path}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                get_exporter(fmt).export(header, events, out)  # type: ignore[arg-type]
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    return tuple(sorted(FORMATS)), export


def guard_containers(attach_pid: int | None) -> None:
    """Start the cleanup guard of the containers the traced command will make (runtime/guard.py):
    started here, before the command, it is no tracee and outlives a tracer killed by SIGKILL.
    Not for --pid: that trace detaches, and the process goes on cleaning up after itself."""
    if attach_pid is None:
        from boxtrace.runtime.guard import guard_tracees

        guard_tracees()


def trace_tui(
    command: list[str],
    prog: str,
    *,
    all_syscalls: bool,
    output: str | None,
    grace: float,
    step: bool = False,
    present: bool = False,
    pace: float = 3.0,
    title: str | None = None,
    attach_pid: int | None = None,
) -> int:
    """Trace with the Textual TUI on this terminal (imported only here: it costs ~170 ms)."""
    from boxtrace.tracer.session import AttachError, CommandNotFound, TraceConfig
    from boxtrace.tui.launch import load_keymap, run_live
    from boxtrace.tui.options import TuiOptions

    formats, exporter = tui_export_options()
    options = TuiOptions(
        title=title or prog,
        step=step,
        present=present,
        pace=pace,
        grace=grace,
        keymap=load_keymap(),
        export_formats=formats,
        exporter=exporter,  # type: ignore[arg-type]
    )
    config = TraceConfig(
        command=command, all_syscalls=all_syscalls, output=output, grace=grace, attach_pid=attach_pid
    )
    collect_from_here()
    guard_containers(attach_pid)  # last before the command: see trace_plain
    try:
        outcome = run_live(config, options)
    except CommandNotFound as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 127
    except AttachError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    if outcome.error:
        print(f"{prog}: {outcome.error}", file=sys.stderr)
        return 1 if outcome.result is not None else outcome.exit_code
    return outcome.exit_code


def trace_plain(
    command: list[str],
    prog: str,
    *,
    all_syscalls: bool,
    output: str | None,
    grace: float,
    attach_pid: int | None = None,
    quiet: bool = False,
) -> int:
    """Trace with plain lines on stdout; ``quiet``: record only, the command's output untouched."""
    from boxtrace.console import NoticePrinter, PlainPrinter
    from boxtrace.tracer.session import AttachError, CommandNotFound, TraceConfig, TraceSession

    config = TraceConfig(
        command=command,
        all_syscalls=all_syscalls,
        output=output,
        grace=grace,
        attach_pid=attach_pid,
        capture_output=not quiet,
        # --all: decoding, the trace file and the console lines in a second process, on the other
        # CPU (tracer/writer_process.py); BOXTRACE_WRITER_PROCESS=0 keeps them in this one.
        writer_process=os.environ.get("BOXTRACE_WRITER_PROCESS", "1") != "0",
    )
    try:
        session = TraceSession(config, NoticePrinter() if quiet else PlainPrinter())
    except (CommandNotFound, AttachError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 127 if isinstance(exc, CommandNotFound) else 1
    collect_from_here()
    # The guard's fork comes last before the command's, with what is loaded frozen: the pages this
    # process writes between two forks are copied twice, and the guard's collector, started on
    # everything loaded, would copy most of the rest (-430 page faults, ~3 ms of CPU a start).
    guard_containers(attach_pid)
    try:
        result = session.run()
    except AttachError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{prog}: cannot start {command[0]}: {exc}", file=sys.stderr)
        return 126
    if session.consumer_error is not None and isinstance(session.consumer_error, BrokenPipeError):
        # stdout went away (e.g. `| head`): the trace was stopped; say nothing more on a dead pipe.
        _silence_stdout()
    elif session.consumer_error is not None and type(session.consumer_error).__name__ == "WriterGone":
        # --all's writer process failed (tracer/writer_process.py): the trace file may lack events.
        print(f"{prog}: {session.consumer_error}", file=sys.stderr)
        return 1
    if result.error:
        print(f"{prog}: tracer error: {result.error}", file=sys.stderr)
        return 1
    return result.exit_code


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)

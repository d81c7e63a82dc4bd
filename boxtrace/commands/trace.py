"""`boxtrace trace`: trace any command and print (and record) its container syscalls."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from boxtrace.usage import UsageError

DESCRIPTION = """\
Run CMD under boxtrace's tracer and show every namespace, mount, cgroup, identity and security
system call it and its children make, one line per event, grouped by process. The command's own
output is shown apart, prefixed with the stream it came from.

By default a seccomp filter makes the kernel stop the command only on those calls (like
strace --seccomp-bpf); --all stops on and reports every system call.
The exit status is the command's (128+N when it was killed by signal N).

examples:
  boxtrace trace -- unshare --fork --pid --mount-proc true
  boxtrace trace -o start.jsonl -- runc run -b ./bundle demo
  boxtrace trace --all -- sh -c 'echo hi'
"""


def add_parser(sub: Any) -> str:
    parser = sub.add_parser(
        "trace",
        help="trace any command (runc, crun, unshare, ...)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="boxtrace trace [--all] [--plain] [-o FILE] -- CMD [ARG...]",
    )
    parser.add_argument(
        "--all", action="store_true", help="trace every system call, not only the container set"
    )
    parser.add_argument("--plain", action="store_true", help="plain line output (the default for now)")
    parser.add_argument("-o", "--output", metavar="FILE", help="record the trace to FILE (JSON Lines)")
    parser.add_argument(
        "--grace",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="on Ctrl-C, how long the command may clean up before every traced process is killed (default 5)",
    )
    parser.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD", help="the command to trace, after --")
    return "trace"


def main(args: argparse.Namespace) -> int:
    # boxtrace.cli hands over what follows "--" as command_argv; without "--" the command is the
    # first positional argument and everything after it.
    command = list(getattr(args, "command_argv", None) or args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError(
            "no command to trace (usage: boxtrace trace [options] -- CMD [ARG...])", "boxtrace trace"
        )
    if args.grace < 0:
        raise UsageError("--grace must not be negative", "boxtrace trace")
    if args.output is not None:
        _check_writable(args.output)

    from boxtrace.console import PlainPrinter
    from boxtrace.tracer.session import CommandNotFound, TraceConfig, TraceSession

    config = TraceConfig(command=command, all_syscalls=args.all, output=args.output, grace=args.grace)
    try:
        session = TraceSession(config, PlainPrinter())
    except CommandNotFound as exc:
        print(f"boxtrace trace: {exc}", file=sys.stderr)
        return 127
    try:
        result = session.run()
    except OSError as exc:
        print(f"boxtrace trace: cannot start {command[0]}: {exc}", file=sys.stderr)
        return 126
    if session.consumer_error is not None and isinstance(session.consumer_error, BrokenPipeError):
        # stdout went away (e.g. `| head`): the trace was stopped; say nothing more on a dead pipe.
        _silence_stdout()
    if result.error:
        print(f"boxtrace trace: tracer error: {result.error}", file=sys.stderr)
        return 1
    return result.exit_code


def _check_writable(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"-o {path}: is a directory", "boxtrace trace")
    if not os.path.isdir(parent):
        raise UsageError(f"-o {path}: no such directory {parent}", "boxtrace trace")
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"-o {path}: not writable", "boxtrace trace")


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)

"""`boxtrace trace`: trace any command and print (and record) its container syscalls."""

from __future__ import annotations

import argparse

from boxtrace.tui_args import add_trace_arguments, check_tui_arguments
from boxtrace.usage import UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of every start
if TYPE_CHECKING:
    from typing import Any

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
        usage="boxtrace trace [--all] [--plain | --step | --present] [-o FILE] -- CMD [ARG...]",
    )
    add_trace_arguments(parser)
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
    from boxtrace.tracing import check_output_path, trace_plain, trace_tui, use_tui

    if args.output is not None:
        check_output_path(args.output, "boxtrace trace")
    if check_tui_arguments(args, use_tui(args.plain), "boxtrace trace"):
        return trace_tui(
            command,
            "boxtrace trace",
            all_syscalls=args.all,
            output=args.output,
            grace=args.grace,
            step=args.step,
            present=args.present,
            pace=args.pace,
        )
    return trace_plain(command, "boxtrace trace", all_syscalls=args.all, output=args.output, grace=args.grace)

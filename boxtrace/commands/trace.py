"""`boxtrace trace`: trace any command and print (and record) its container syscalls."""

from __future__ import annotations

import os

from boxtrace.tui_args import add_trace_arguments, check_tui_arguments
from boxtrace.usage import UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of every start
if TYPE_CHECKING:
    import argparse  # main() also takes boxtrace.quick_args' namespace, which needs no argparse
    from typing import Any

DESCRIPTION = """\
Run CMD under boxtrace's tracer and show every namespace, mount, cgroup, identity and security
system call it and its children make, one line per event, grouped by process. The command's own
output is shown apart, prefixed with the stream it came from.

By default a seccomp filter makes the kernel stop the command only on those calls (like
strace --seccomp-bpf); --all stops on and reports every system call.
The exit status is the command's (128+N when it was killed by signal N).

--pid PID attaches to a running process instead (like strace -p PID -f): its threads and the
children it starts from then on are traced, with no seccomp filter (a filter cannot be put into a
running process), so every system call stops it. Ctrl-C detaches and leaves it running.

examples:
  boxtrace trace -- unshare --fork --pid --mount-proc true
  boxtrace trace -o start.jsonl -- runc run -b ./bundle demo
  boxtrace trace -q -o start.jsonl -- runc run -b ./bundle demo   # record only, like strace -o
  boxtrace trace --all -- sh -c 'echo hi'
  boxtrace trace --pid "$(pidof containerd)" -o containerd.jsonl
"""


def add_parser(sub: Any) -> str:
    import argparse

    parser = sub.add_parser(
        "trace",
        help="trace any command (runc, crun, unshare, ...)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage=(
            "boxtrace trace [--all] [--plain | --step | --present | -q] [-o FILE] "
            "(--pid PID | -- CMD [ARG...])"
        ),
    )
    add_trace_arguments(parser)
    parser.add_argument(
        "-p",
        "--pid",
        type=int,
        metavar="PID",
        help="attach to this running process and the children it starts (Ctrl-C detaches)",
    )
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
    if args.pid is not None:
        if command:
            raise UsageError("give either --pid PID or a command to run, not both", "boxtrace trace")
        command = _attach_target(args.pid)
    elif not command:
        raise UsageError(
            "no command to trace (usage: boxtrace trace [options] -- CMD [ARG...], or --pid PID)",
            "boxtrace trace",
        )
    if args.grace < 0:
        raise UsageError("--grace must not be negative", "boxtrace trace")
    from boxtrace.tracing import check_output_path, trace_plain, trace_tui, use_tui

    if args.output is not None:
        check_output_path(args.output, "boxtrace trace")
    prog = "boxtrace trace"
    how = {"all_syscalls": args.all, "output": args.output, "grace": args.grace, "attach_pid": args.pid}
    if check_tui_arguments(args, use_tui(args.plain), prog):
        return trace_tui(command, prog, step=args.step, present=args.present, pace=args.pace, **how)
    return trace_plain(command, prog, quiet=args.quiet, **how)


def _attach_target(pid: int) -> list[str]:
    """The command line of the process to attach to; a usage error if there is none to trace."""
    if pid <= 0:
        raise UsageError(f"--pid {pid}: not a process id", "boxtrace trace")
    if pid == os.getpid():
        raise UsageError("--pid: boxtrace cannot trace itself", "boxtrace trace")
    from boxtrace.tracer.session import AttachError, process_command

    try:
        return process_command(pid)
    except AttachError as exc:
        raise UsageError(f"--pid {pid}: {exc}", "boxtrace trace") from None

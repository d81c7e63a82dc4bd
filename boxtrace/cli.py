"""The ``boxtrace`` command: argparse subcommands, one module each under ``boxtrace.commands``.

Wiring only. Each command module has ``add_parser(subparsers)`` and ``main(args) -> int``; they keep
their heavy imports (rich, textual, the tracer) inside ``main`` so that ``boxtrace run --no-trace``
starts as fast as the runtime itself.
"""

from __future__ import annotations

import os
import sys

from boxtrace import loaded
from boxtrace.commands import COMMANDS
from boxtrace.quick_args import quick_run_args, quick_trace_args
from boxtrace.runtime.usage import collect_from_here, exit_at_once, split_command
from boxtrace.usage import UsageError, fail_usage

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from types import ModuleType, SimpleNamespace

# Commands after which the interpreter's teardown (freeing every module and object, ~25 M
# instructions after a trace: 7% of `boxtrace trace -- /bin/true`) is skipped when boxtrace runs as
# a program: their work is done and written when main() returns.
_EXIT_AT_ONCE = frozenset({"trace", "run"})
# Commands that trace or run a container: they need this machine's syscall tables (the tracer's
# tracer/arch and the runtime's runtime/machine.py list the same architectures). Replaying, exporting
# and explaining a recorded trace work anywhere.
_NEEDS_MACHINE = frozenset({"trace", "run"})
# Commands whose main() loads the tracer or the runtime first, then calls collect_from_here itself
# (runtime/usage.py; `run --no-trace`: the runtime, once it waits for its container): every other
# command collects garbage from the start of its main().
_LOAD_FIRST = frozenset({"trace", "run"})


def main(argv: Sequence[str] | None = None) -> int:
    loaded()
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        status = _main(args_list)
    except KeyboardInterrupt:  # a Ctrl-C while a command's modules load, before its own handling
        print("boxtrace: interrupted", file=sys.stderr)
        return 130
    if argv is None and args_list[:1] and args_list[0] in _EXIT_AT_ONCE:
        exit_at_once(status)
    return status


def _main(args_list: list[str]) -> int:
    if args_list[:1] == ["runtime"]:
        # Handed over whole: argparse would take the runtime's own options (--root...) as ours.
        from boxtrace.commands.runtime import run

        collect_from_here()
        return run(args_list[1:])
    # A container's (or traced program's) command follows "--" and is never parsed as our options.
    own, command_argv = split_command(args_list)
    try:
        # `boxtrace trace`'s and `run`'s usual command lines skip argparse (boxtrace/quick_args.py:
        # ~30 M of the ~130 M instructions of `trace -q -o F -- /bin/true`); every other one is
        # read by argparse.
        args: argparse.Namespace | SimpleNamespace | None = quick_trace_args(own, command_argv)
        if args is None:
            args = quick_run_args(own, command_argv)
        module: ModuleType
        if args is not None:
            module = _quick_command(args.command)
        else:
            parsed = _parse(own, command_argv)
            if parsed is None:
                return 2
            args, module = parsed
        problem = _unsupported_machine(args.command)
        if problem is not None:
            raise UsageError(problem, f"boxtrace {args.command}")
        if args.command not in _LOAD_FIRST:
            collect_from_here()
        return int(module.main(args))
    except UsageError as exc:
        return fail_usage(exc.prog, str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`boxtrace export ... | head`): stop quietly, as a
        # program killed by SIGPIPE does, and keep Python's exit from failing to flush stdout again.
        import signal

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + signal.SIGPIPE


def _quick_command(name: str) -> ModuleType:
    """The module of a command read without argparse (not importlib.import_module: ~1.6 M)."""
    if name == "trace":
        from boxtrace.commands import trace

        return trace
    from boxtrace.commands import run

    return run


def _unsupported_machine(command: str) -> str | None:
    """Why this machine cannot run ``command`` (no syscall tables for it), None if it can. `trace`
    asks the tracer's tables, which it loads anyway; `run` the runtime's."""
    if command == "trace":
        from boxtrace.tracer.arch import unsupported

        return unsupported()
    if command in _NEEDS_MACHINE:
        from boxtrace.runtime.machine import unsupported as runtime_unsupported

        return runtime_unsupported()
    return None


def _parse(own: list[str], command_argv: list[str]) -> tuple[argparse.Namespace, ModuleType] | None:
    """argparse's reading of the command line and the command's module; None after printing the
    help when no command was given. Usage errors raise UsageError."""
    import importlib

    from boxtrace import __version__
    from boxtrace.runtime.parser import build_parser

    parser = build_parser(
        "boxtrace",
        description=(
            "See how containers really work: boxtrace runs a container (or any command), records every\n"
            "namespace, mount and cgroup system call it makes, and explains each one."
        ),
        epilog="Run 'boxtrace COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"boxtrace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Only the named command's parser is built; all of them for --help or a mistyped command.
    wanted = [own[0]] if own and own[0] in COMMANDS else list(COMMANDS)
    modules = {}
    for name in wanted:
        module = importlib.import_module(f"boxtrace.commands.{name}")
        modules[module.add_parser(sub)] = module
    args = parser.parse_args(own)
    args.command_argv = command_argv
    if args.command is None:
        parser.print_help()
        return None
    return args, modules[args.command]


if __name__ == "__main__":
    sys.exit(main())

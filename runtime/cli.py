"""`boxtrace-runtime`: the built-in runtime on its own, without the tracer (what `boxtrace run`
starts under ptrace). Imports stdlib only, so that it starts as fast as possible."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from boxtrace.runtime.errors import RuntimeUsageError
from boxtrace.runtime.options import add_run_arguments, options_from_args
from boxtrace.runtime.usage import UsageError, build_parser, fail_usage


def split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """Options before the first "--", the container's command after it."""
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser("boxtrace-runtime", description="boxtrace's built-in container runtime, untraced.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run_parser = sub.add_parser("run", help="run a container and wait for it")
    add_run_arguments(run_parser)
    own, command = split_command(args_list)
    try:
        args = parser.parse_args(own)
        if args.command is None:
            parser.print_help()
            return 2
        opts = options_from_args(args, command)
    except UsageError as exc:
        return fail_usage(exc.prog, str(exc))
    except RuntimeUsageError as exc:
        return fail_usage("boxtrace-runtime run", str(exc))
    from boxtrace.runtime.launch import run_with_options

    return run_with_options(opts)


if __name__ == "__main__":
    sys.exit(main())

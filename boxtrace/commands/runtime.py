"""`boxtrace runtime ...`: the built-in runtime's own command line, as `boxtrace-runtime ...`
(runc's commands create, start, state, kill, delete, run, spec, ...; docs/runtime.md)."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # typing costs ~5 ms of every boxtrace start
if TYPE_CHECKING:
    from typing import Any

DESCRIPTION = """\
The built-in container runtime without the tracer, with runc's command line: the same program as
boxtrace-runtime. Everything after 'runtime' is its arguments.

examples:
  boxtrace runtime spec --bundle ./bundle
  boxtrace runtime create --bundle ./bundle demo && boxtrace runtime start demo
  boxtrace runtime state demo
"""


def add_parser(sub: Any) -> str:
    parser = sub.add_parser(
        "runtime",
        help="the built-in runtime's runc-style commands (as boxtrace-runtime)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="boxtrace-runtime's arguments")
    return "runtime"


def main(args: argparse.Namespace) -> int:
    return run(list(args.arguments) + (["--", *args.command_argv] if args.command_argv else []))


def run(arguments: list[str]) -> int:
    from boxtrace.runtime.cli import main as runtime_main

    return runtime_main(arguments)

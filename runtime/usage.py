"""Argument parsing shared by `boxtrace` and `boxtrace-runtime`: one-line usage errors, exit code 2.

It lives in the runtime package because the runtime may import no other boxtrace package.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """Options before the first "--", the container's command (or ps's options) after it."""
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, []


class UsageError(Exception):
    """A mistake in how the user called a command: reported in one line, exit code 2."""

    def __init__(self, message: str, prog: str = "boxtrace") -> None:
        super().__init__(message)
        self.prog = prog


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line naming what was wrong and where to look."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')", prog=self.prog)


def build_parser(prog: str, description: str, epilog: str | None = None) -> OneLineParser:
    return OneLineParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def fail_usage(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2

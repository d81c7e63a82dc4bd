"""The argparse parser of `boxtrace` and `boxtrace-runtime`, whose errors are one line, exit code 2."""

from __future__ import annotations

import argparse

from boxtrace.runtime.usage import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


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

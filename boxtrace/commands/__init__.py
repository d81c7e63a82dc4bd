"""The subcommands of ``boxtrace``, one module each, in the order ``boxtrace --help`` lists them.

Modules are imported by name when needed: a command line naming one command builds (and imports)
only that command's parser; building all of them costs ~10 ms of argparse work at every start.
"""

from __future__ import annotations

COMMANDS: tuple[str, ...] = (
    "run",
    "trace",
    "replay",
    "traces",
    "merge",
    "diff",
    "serve",
    "export",
    "lessons",
    "explain",
    "pull",
    "images",
    "rmi",
    "cleanup",
    "runtime",
)

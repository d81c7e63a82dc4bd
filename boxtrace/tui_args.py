"""Tracing and TUI options shared by `boxtrace run`, `trace` and `replay` (argparse only: no textual)."""

from __future__ import annotations

from boxtrace.usage import UsageError

TYPE_CHECKING = False  # argparse only for the annotations: `boxtrace trace`'s quick path has none
if TYPE_CHECKING:
    import argparse
    from types import SimpleNamespace


def add_trace_arguments(group: argparse._ActionsContainer) -> None:
    """What `boxtrace run` and `boxtrace trace` share: recording, --all, plain or TUI output."""
    group.add_argument("-o", "--output", metavar="FILE", help="record the trace to FILE (JSON Lines)")
    group.add_argument(
        "--all", action="store_true", help="trace every system call, not only the container set"
    )
    group.add_argument(
        "--plain",
        action="store_true",
        help="plain line output, not the TUI (the default when stdout is not a terminal)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="only record (needs -o): no event lines, the command's own output goes straight "
        "through (as with strace -o FILE); warnings and errors are still shown",
    )
    add_tui_arguments(group)


def add_tui_arguments(group: argparse._ActionsContainer, *, live: bool = True) -> None:
    if live:
        group.add_argument(
            "--step", action="store_true", help="TUI: start held before the first traced system call"
        )
    group.add_argument(
        "--present",
        action="store_true",
        help="TUI presenter mode for classrooms: larger, calmer, auto-advancing",
    )
    group.add_argument(
        "--pace",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="presenter mode: seconds per step when auto-advancing (default 3)",
    )


def check_tui_arguments(args: argparse.Namespace | SimpleNamespace, tui: bool, prog: str) -> bool:
    """Whether to open the TUI; --step/--present without one (no terminal, --plain) is a usage error."""
    if args.pace <= 0:
        raise UsageError("--pace must be positive", prog)
    if getattr(args, "quiet", False):
        if args.output is None:
            raise UsageError("--quiet needs -o FILE: the trace would be neither shown nor kept", prog)
        if getattr(args, "step", False) or args.present:
            raise UsageError("--quiet shows no TUI: drop --step and --present", prog)
        return False
    if not tui and (getattr(args, "step", False) or args.present):
        raise UsageError("--step and --present need the TUI: a terminal, and no --plain", prog)
    return tui

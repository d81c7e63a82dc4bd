"""Tracing and TUI options shared by `boxtrace run`, `trace` and `replay` (argparse only: no textual)."""

from __future__ import annotations

import argparse

from boxtrace.usage import UsageError


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


def check_tui_arguments(args: argparse.Namespace, tui: bool, prog: str) -> bool:
    """Whether to open the TUI; --step/--present without one (no terminal, --plain) is a usage error."""
    if args.pace <= 0:
        raise UsageError("--pace must be positive", prog)
    if not tui and (getattr(args, "step", False) or args.present):
        raise UsageError("--step and --present need the TUI: a terminal, and no --plain", prog)
    return tui

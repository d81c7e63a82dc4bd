"""`boxtrace diff A B`: two container starts side by side, phase by phase: what differs."""

from __future__ import annotations

import argparse
import os
import sys

from boxtrace.usage import UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of every boxtrace start
if TYPE_CHECKING:
    from typing import Any

PROG = "boxtrace diff"
FORMATS = ("text", "md", "html", "json")

DESCRIPTION = """\
Compare two recorded traces phase by phase: the steps both make, the steps only one makes, and the
same step made with other arguments (MS_PRIVATE vs MS_SLAVE, clone vs unshare, another capability
set, a limit with another value). Steps are matched by what they do, not by pid or time: container
ids, rootfs paths, cgroup directories and temporary names are replaced by placeholders. A summary
first names the differences that matter most (security and isolation before bookkeeping).

On a terminal the two traces open side by side in the TUI; piped (or with --plain) the report is
text. No privileges needed.

examples:
  boxtrace diff boxtrace.jsonl runc.jsonl
  boxtrace diff rootful.jsonl rootless.jsonl --plain
  boxtrace diff a.jsonl b.jsonl --format md -o diff.md
"""


def add_parser(sub: Any) -> str:
    parser = sub.add_parser(
        "diff",
        help="compare two traces step by step (boxtrace vs runc, rootful vs rootless...)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("trace_a", metavar="A", help="a trace file (JSON Lines)")
    parser.add_argument("trace_b", metavar="B", help="the trace to compare it with")
    parser.add_argument(
        "--format", "-f", choices=FORMATS, default="text", help="report format (default text)"
    )
    parser.add_argument("-o", "--output", metavar="OUT", help="write the report to OUT")
    parser.add_argument("--names", metavar="A,B", help="what to call the two sides (default: the runtimes)")
    view = parser.add_mutually_exclusive_group()
    view.add_argument(
        "--tui", action="store_true", help="open the side-by-side view (the default on a terminal)"
    )
    view.add_argument("--plain", action="store_true", help="print the text report, not the TUI")
    return "diff"


def _read(path: str) -> Any:
    from boxtrace.tracer.tracefile import TraceFormatError, TraceReader, gc_paused

    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory, not a trace file", PROG)
    try:
        with gc_paused(), TraceReader(path) as reader:
            events = list(reader)
            cut_off = reader.cut_off
            header = reader.header
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", PROG) from None
    except PermissionError:
        raise UsageError(f"{path}: permission denied", PROG) from None
    except TraceFormatError as exc:
        raise UsageError(
            f"{exc} (give two files recorded with 'boxtrace trace -o' or 'run -o')", PROG
        ) from None
    if cut_off is not None:
        print(f"{PROG}: {cut_off.warning()}", file=sys.stderr)
    return header, events


def main(args: argparse.Namespace) -> int:
    names: tuple[str, str] | None = None
    if args.names is not None:
        parts = args.names.split(",")
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise UsageError(
                f"--names {args.names}: give two names separated by a comma, e.g. runc,crun", PROG
            )
        names = (parts[0].strip(), parts[1].strip())
    if args.tui and (args.output is not None or args.format != "text"):
        raise UsageError("--tui shows the view on the terminal: drop -o and --format", PROG)
    if args.output is not None:
        from boxtrace.tracing import check_output_path

        check_output_path(args.output, PROG)
    a = _read(args.trace_a)
    b = _read(args.trace_b)
    from boxtrace.lessons.diff import diff_traces

    diff = diff_traces(a, b, names)
    sources = (args.trace_a, args.trace_b)
    from boxtrace.tracing import use_tui

    if args.tui or (args.output is None and args.format == "text" and use_tui(args.plain)):
        from boxtrace.tui.diff_screen import run_diff

        run_diff(diff, sources)
        return 0
    from boxtrace import diff_report

    if args.format == "text":
        styler: diff_report.Styler = diff_report._plain
        if args.output is None and sys.stdout.isatty():
            from boxtrace.console import rich_styler

            styler = rich_styler()
        text = diff_report.render_text(diff, sources, styler)
    else:
        text = diff_report.RENDERERS[args.format](diff, sources)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    tmp = f"{args.output}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8", errors="backslashreplace") as out:
            out.write(text)
        os.replace(tmp, args.output)
    except OSError as exc:
        raise UsageError(f"-o {args.output}: {exc.strerror}", PROG) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return 0

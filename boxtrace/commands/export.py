"""`boxtrace export`: turn a recorded trace into another format (strace text for now)."""

from __future__ import annotations

import argparse
import io
import os
import sys

from boxtrace.usage import UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of every boxtrace start
if TYPE_CHECKING:
    from typing import Any

# Traced strings keep undecodable bytes as surrogate escapes (a path that is not UTF-8); the md and
# html exports write them as \udcXX, like trace files and the json export do, instead of failing.
UNDECODABLE = "backslashreplace"

DESCRIPTION = """\
Convert a trace recorded with 'boxtrace trace -o FILE' (or 'boxtrace run -o FILE') to another
format. No privileges needed.

examples:
  boxtrace export start.jsonl --format strace
  boxtrace export start.jsonl --format strace -o start.strace
"""


def add_parser(sub: Any) -> str:
    from boxtrace.exporters import FORMATS

    parser = sub.add_parser(
        "export",
        help="convert a recorded trace (strace text, ...)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE", help="a trace file (JSON Lines)")
    parser.add_argument("--format", "-f", required=True, choices=sorted(FORMATS), help="output format")
    parser.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of standard output")
    return "export"


def main(args: argparse.Namespace) -> int:
    from boxtrace.exporters import get_exporter
    from boxtrace.tracer.tracefile import TraceFormatError, TraceReader, gc_paused

    exporter = get_exporter(args.format)
    try:
        reader = TraceReader(args.file)
    except FileNotFoundError:
        raise UsageError(f"{args.file}: no such file", "boxtrace export") from None
    except IsADirectoryError:
        raise UsageError(f"{args.file}: is a directory", "boxtrace export") from None
    except TraceFormatError as exc:
        print(f"boxtrace export: {exc}", file=sys.stderr)
        return 1
    try:
        with reader, gc_paused():
            if args.output is None:
                if isinstance(sys.stdout, io.TextIOWrapper):
                    sys.stdout.reconfigure(errors=UNDECODABLE)
                _export(exporter, reader, sys.stdout, None)
            else:
                # Written aside and renamed, so a bad line never leaves a half-written OUT behind.
                tmp = f"{args.output}.tmp"
                try:
                    with open(tmp, "w", encoding="utf-8", errors=UNDECODABLE) as out:
                        # A half written aside waits beside OUT, on the disk OUT goes to.
                        _export(exporter, reader, out, os.path.dirname(os.path.abspath(tmp)))
                    os.replace(tmp, args.output)
                except OSError as exc:
                    raise UsageError(f"-o {args.output}: {exc.strerror}", "boxtrace export") from None
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
    except TraceFormatError as exc:
        print(f"boxtrace export: {exc}", file=sys.stderr)
        return 1
    if reader.cut_off is not None:
        print(f"boxtrace export: {reader.cut_off.warning()}", file=sys.stderr)
    return 0


def _export(exporter: Any, reader: Any, out: Any, spool: str | None) -> None:
    """A large trace in two processes where the format allows it (``boxtrace.exporters.split``)."""
    make_halves = getattr(exporter, "Halves", None)
    if make_halves is not None:  # the split module loads the lessons: not for the strace format
        from boxtrace.exporters.split import export_in_halves, worth_splitting

        halves = make_halves()
        if worth_splitting(reader, halves):
            export_in_halves(halves, reader, out, spool)
            return
    exporter.export(reader.header, reader, out)

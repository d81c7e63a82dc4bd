"""`boxtrace merge`: several traces into one timeline (the create, start and delete of one container)."""

from __future__ import annotations

import argparse
import os
import sys

from boxtrace.usage import UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of every boxtrace start
if TYPE_CHECKING:
    from typing import Any

DESCRIPTION = """\
Merge traces into one, in the order their events happened, numbered again from 1 and timed from the
earliest start. Made for what boxtrace-runc records for one 'docker run' or 'podman run': runc
create, start and delete are recorded as separate traces; merged, they replay as one story.

examples:
  boxtrace merge --container 4f2a9c -o story.jsonl     # every trace of that container in the spool
  boxtrace merge create.jsonl start.jsonl delete.jsonl -o story.jsonl
  boxtrace replay story.jsonl
"""


def add_parser(sub: Any) -> str:
    parser = sub.add_parser(
        "merge",
        help="merge traces into one timeline (one container's create, start, delete)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("traces", nargs="*", metavar="TRACE", help="trace files (JSON Lines), two or more")
    parser.add_argument(
        "--container",
        metavar="ID",
        help="merge the spool's traces of this container (its id or the start of it), with any TRACE given",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", required=True, help="write the merged trace to FILE"
    )
    return "merge"


def main(args: argparse.Namespace) -> int:
    from boxtrace.tracer.merge import merge_traces
    from boxtrace.tracer.tracefile import TraceFormatError
    from boxtrace.tracing import check_output_path

    prog = "boxtrace merge"
    if args.container is not None:
        from boxtrace.commands.traces import traces_of_container

        found = traces_of_container(args.container)
        if not found:
            raise UsageError(
                f"--container {args.container}: no finished trace of it in the spool (see 'boxtrace traces')",
                prog,
            )
        args.traces = [*args.traces, *found]
    if len(args.traces) < 2:
        raise UsageError("give two traces or more to merge", prog)
    for path in args.traces:
        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such file", prog)
    if any(os.path.abspath(p) == os.path.abspath(args.output) for p in args.traces):
        raise UsageError(f"-o {args.output}: is one of the traces to merge; name another file", prog)
    check_output_path(args.output, prog)
    try:
        header, count = merge_traces(
            args.traces, args.output, lambda cut: print(f"{prog}: {cut.warning()}", file=sys.stderr)
        )
    except TraceFormatError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        raise UsageError(str(exc), prog) from None
    summary = f"{args.output}: {count} events from {len(args.traces)} traces (mode {header.mode})"
    print(summary, file=sys.stderr)
    return 0

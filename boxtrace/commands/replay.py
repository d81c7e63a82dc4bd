"""`boxtrace replay FILE`: step through a recorded trace in the TUI (no privileges needed)."""

from __future__ import annotations

import argparse
import os
import sys

from boxtrace.tui_args import add_tui_arguments
from boxtrace.usage import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DESCRIPTION = """\
Open a trace recorded with 'boxtrace run -o FILE' (or 'boxtrace trace -o FILE') in the TUI and
step through it, forward and backward, with the same panes and keys as a live trace. Nothing is
run and no privileges are needed.

examples:
  boxtrace replay start.jsonl
  boxtrace replay start.jsonl --present --pace 5
  boxtrace replay --latest           # the last trace boxtrace-runc recorded
  boxtrace replay --container 4f2a9c # one container's create, start and delete, merged
"""


def add_parser(sub: Any) -> str:
    parser = sub.add_parser(
        "replay",
        help="step through a recorded trace in the TUI",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE", nargs="?", help="a trace file (JSON Lines)")
    parser.add_argument(
        "--latest",
        action="store_true",
        help="the trace recorded last in the spool (see 'boxtrace traces') instead of FILE",
    )
    parser.add_argument(
        "--container",
        metavar="ID",
        help="the spool's traces of this container (its id or the start of it), merged into one story",
    )
    add_tui_arguments(parser, live=False)
    parser.add_argument(
        "--break",
        dest="breaks",
        action="append",
        default=[],
        metavar="SYSCALL|CATEGORY/",
        help="breakpoint on a syscall name, or on a category with a trailing slash (mount/); repeatable",
    )
    return "replay"


def replay_options(args: argparse.Namespace, title: str) -> Any:
    """TuiOptions for a replay: the user's keys, the CLI's exporters, the breakpoints asked for."""
    from boxtrace.tracing import tui_export_options
    from boxtrace.tui.launch import load_keymap
    from boxtrace.tui.options import TuiOptions

    formats, exporter = tui_export_options()
    names = frozenset(b for b in args.breaks if not b.endswith("/"))
    categories = frozenset(b.rstrip("/") for b in args.breaks if b.endswith("/"))
    return TuiOptions(
        title=title,
        present=args.present,
        pace=args.pace,
        break_names=names,
        break_categories=categories,
        keymap=load_keymap(),
        export_formats=formats,
        exporter=exporter,  # type: ignore[arg-type]
    )


def main(args: argparse.Namespace) -> int:
    if args.container is not None:
        if args.file is not None or args.latest:
            raise UsageError("give one of FILE, --latest or --container", "boxtrace replay")
        return _replay_container(args)
    if args.latest:
        if args.file is not None:
            raise UsageError("give either FILE or --latest, not both", "boxtrace replay")
        from boxtrace.tracer.spool import latest_trace, spool_dir

        latest = latest_trace()
        if latest is None:
            where = spool_dir()
            print(f"boxtrace replay: no traces in {where} yet (see 'boxtrace traces')", file=sys.stderr)
            return 1
        args.file = latest.path
        _hint_at_the_container_story(latest.name)
    elif args.file is None:
        raise UsageError("a trace FILE to replay, or --latest", "boxtrace replay")
    if not os.path.isfile(args.file):
        raise UsageError(f"{args.file}: no such file", "boxtrace replay")
    if args.pace <= 0:
        raise UsageError("--pace must be positive", "boxtrace replay")
    from boxtrace.tracer.tracefile import TraceFormatError, TraceReader

    try:  # a bad header is reported here, before the screen switches to the app
        with TraceReader(args.file) as reader:
            if reader.cut_off is not None:  # said here too: it stays on the terminal after the app
                print(f"boxtrace replay: {reader.cut_off.warning()}", file=sys.stderr)
    except (OSError, TraceFormatError) as exc:
        print(f"boxtrace replay: {exc}", file=sys.stderr)
        return 1
    from boxtrace.tui.launch import run_replay

    return run_replay(args.file, replay_options(args, f"boxtrace replay {os.path.basename(args.file)}"))


def _replay_container(args: argparse.Namespace) -> int:
    """Replay one container's recordings as one story, merged into a file that lives as long as
    the replay (the TUI reads a trace from its file as it goes)."""
    from boxtrace.commands.traces import traces_of_container

    found = traces_of_container(args.container)
    if not found:
        print(
            f"boxtrace replay: no finished trace of container {args.container} in the spool "
            "(see 'boxtrace traces')",
            file=sys.stderr,
        )
        return 1
    if len(found) == 1:
        args.file = found[0]
        return main(args)
    import tempfile

    from boxtrace.tracer.merge import merge_traces
    from boxtrace.tracer.tracefile import TraceFormatError

    with tempfile.TemporaryDirectory(prefix="boxtrace-story-") as tmp:
        story = os.path.join(tmp, f"{args.container}.jsonl")
        try:
            merge_traces(
                found, story, lambda cut: print(f"boxtrace replay: {cut.warning()}", file=sys.stderr)
            )
        except (TraceFormatError, ValueError) as exc:
            print(f"boxtrace replay: {exc}", file=sys.stderr)
            return 1
        from boxtrace.tui.launch import run_replay

        title = f"boxtrace replay: container {args.container} ({len(found)} traces)"
        return run_replay(story, replay_options(args, title))


def _hint_at_the_container_story(name: str) -> None:
    """After a `docker run` the newest recording is a `runc delete`: say where the rest of it is."""
    from boxtrace.tracer.spool import label_parts

    parts = label_parts(name)
    if parts is None or parts[1] == "create" or not parts[2]:
        return
    runtime, sub, container = parts
    print(
        f"boxtrace replay: the newest trace is '{runtime} {sub}' of container {container[:12]}; "
        f"'boxtrace replay --container {container[:12]}' shows its create, start and delete as one "
        "story",
        file=sys.stderr,
    )

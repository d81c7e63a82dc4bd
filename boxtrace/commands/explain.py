"""`boxtrace explain`: what a system call, flag or value does, from the explanation catalogue; and
``--coverage TRACE``: how many events of a recorded trace the catalogue explains specifically."""

from __future__ import annotations

import argparse
import sys

from boxtrace.usage import UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of every boxtrace start
if TYPE_CHECKING:
    from typing import Any

PROG = "boxtrace explain"

DESCRIPTION = """\
Explain a system call and its flags or values the way boxtrace explains traced events: what it
does, why a container runtime does it, what would go wrong without it, the man pages, and what
runc, crun and Docker do at that point. NAME may also be a catalogue id (cgroup.pids.max, fs.overlay).

examples:
  boxtrace explain mount MS_REC MS_PRIVATE
  boxtrace explain clone3 CLONE_NEWPID CLONE_INTO_CGROUP
  boxtrace explain pivot_root EINVAL
  boxtrace explain prctl PR_SET_NO_NEW_PRIVS
  boxtrace explain cgroup.pids.max
  boxtrace explain --coverage start.jsonl
"""


def add_parser(sub: Any) -> str:
    parser = sub.add_parser(
        "explain",
        help="explain a system call, flag or value; or the catalogue's coverage of a trace",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="SYSCALL [FLAG|VALUE...], or a catalogue id")
    parser.add_argument(
        "--coverage",
        metavar="TRACE",
        help="list the events of TRACE that fall back to generic text, and the share explained specifically",
    )
    return "explain"


def main(args: argparse.Namespace) -> int:
    if args.coverage is not None:
        if args.names:
            raise UsageError("give either NAMEs or --coverage TRACE, not both", PROG)
        return _coverage(args.coverage)
    if not args.names:
        raise UsageError(
            "give a SYSCALL [FLAG|VALUE...] or --coverage TRACE (see 'boxtrace explain --help')", PROG
        )
    from boxtrace.lessons.catalogue import CatalogueError
    from boxtrace.lessons.explain import explain_names

    first, *rest = args.names
    try:
        explanation = explain_names(first, rest)
    except KeyError as exc:
        from boxtrace.runtime.usage import one_line

        print(one_line(f"no entry for {exc.args[0]}"), file=sys.stderr)
        return 1
    except CatalogueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    _show(explanation)
    return 0


def _show(explanation: Any) -> None:
    # rich only here: `boxtrace run --no-trace` must not pay for importing it.
    from rich.console import Console
    from rich.markdown import Markdown

    lines = [f"# {explanation.title}", "", explanation.what, ""]
    lines += [f"**Why a runtime does it.** {explanation.why}", ""]
    lines += [f"**Without it.** {explanation.without}", ""]
    if explanation.runtimes:
        lines += [f"**runc, crun, Docker.** {explanation.runtimes}", ""]
    if explanation.result:
        lines += [f"**Result.** {explanation.result}", ""]
    for note in explanation.flags:
        lines.append(f"- **{note.name}**: {note.meaning}")
    if explanation.flags:
        lines.append("")
    lines.append(f"**Man pages:** {', '.join(explanation.man)}  ")
    lines.append(f"**Catalogue:** {', '.join(explanation.entries)}")
    Console(highlight=False).print(Markdown("\n".join(lines)))


def _coverage(path: str) -> int:
    from boxtrace.lessons.explain import explain
    from boxtrace.tracer.events import SyscallEvent
    from boxtrace.tracer.tracefile import TraceFormatError, TraceReader

    try:
        reader = TraceReader(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", PROG) from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory", PROG) from None
    except TraceFormatError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    total = specific = 0
    missing: dict[str, int] = {}
    out = sys.stdout
    try:
        with reader:
            for event in reader:
                total += 1
                explanation = explain(event)
                for entry_id in explanation.missing:
                    missing[entry_id] = missing.get(entry_id, 0) + 1
                if not explanation.fallback:
                    specific += 1
                    continue
                what = event.name if isinstance(event, SyscallEvent) else event.kind
                lacking = f" (no {', '.join(explanation.missing)})" if explanation.missing else ""
                out.write(f"fallback: seq {event.seq} pid {event.pid} {what}{lacking}\n")
    except TraceFormatError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    if reader.cut_off is not None:
        print(f"{PROG}: {reader.cut_off.warning()}", file=sys.stderr)
    for entry_id, count in sorted(missing.items()):
        out.write(f"missing entry: {entry_id} ({count} event{'s' if count != 1 else ''})\n")
    out.write(f"coverage: {specific}/{total} events explained specifically\n")
    return 0

"""`boxtrace traces`: the traces recorded in the background (boxtrace-runc, boxtrace-runtime)."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # typing costs ~5 ms of every boxtrace start
if TYPE_CHECKING:
    from typing import Any

DESCRIPTION = """\
List the traces in the spool, oldest first, newest last, one a line: when it started (UTC), its
size, 'recording' while the traced processes still run, and its path last, ready for
'boxtrace replay PATH' or 'boxtrace export PATH'. 'boxtrace replay --latest' opens the last one.

Traces land in the spool when podman or Docker run containers with boxtrace-runc (runc under the
tracer) or with boxtrace-runtime and BOXTRACE_RECORD=1. The spool is /var/lib/boxtrace/traces
for root, ~/.local/state/boxtrace/traces otherwise; BOXTRACE_SPOOL names another one.

examples:
  boxtrace traces
  boxtrace traces --container 4f2a9c         # the create, start and delete of one container
  boxtrace replay "$(boxtrace traces --last --paths)"
"""


def add_parser(sub: Any) -> str:
    parser = sub.add_parser(
        "traces",
        help="list the traces recorded in the background (boxtrace-runc)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--paths", action="store_true", help="print only the paths")
    parser.add_argument("--last", type=int, nargs="?", const=1, metavar="N", help="only the newest N (1)")
    parser.add_argument(
        "--container",
        metavar="ID",
        help="only the traces of this container (its id, or the start of it: Docker's short id)",
    )
    return "traces"


def main(args: argparse.Namespace) -> int:
    import time

    from boxtrace.commands.images import human_size
    from boxtrace.tracer.spool import list_traces

    entries = list_traces()
    if args.container is not None:
        entries = [e for e in entries if _of_container(e.name, args.container)]
    if args.last is not None:
        entries = entries[-args.last :] if args.last > 0 else []
    for entry in entries:
        if args.paths:
            print(entry.path)
            continue
        started = _started(entry.name) or time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry.mtime))
        state = "recording" if entry.in_progress else "done"
        print(f"{started}  {human_size(entry.size):>8}  {state:<9}  {entry.path}")
    return 0


def traces_of_container(container: str) -> list[str]:
    """The paths of the spool's finished traces of one container, oldest first."""
    from boxtrace.tracer.spool import list_traces

    return [e.path for e in list_traces() if not e.in_progress and _of_container(e.name, container)]


def _of_container(name: str, container: str) -> bool:
    """'20261128-065558.411415-runc-create-df4a821a...-1330.jsonl' is of container 'df4a82'."""
    from boxtrace.tracer.spool import label_parts

    parts = label_parts(name)
    return parts is not None and bool(container) and parts[2].startswith(container)


def _started(name: str) -> str | None:
    """'20261128-063653.735880-...' → '2026-11-28 06:36:53'."""
    stamp = name[:15]
    if len(stamp) != 15 or stamp[8] != "-" or not (stamp[:8] + stamp[9:]).isdigit():
        return None
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}"

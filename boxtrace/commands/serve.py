"""`boxtrace serve FILE`: serve a recorded trace's replay in a browser (textual-serve).

Each browser connection gets its own `boxtrace replay FILE` process, which ends when its tab goes
and when the server stops (see boxtrace.tui.serving). Only replays are served: never a live trace,
which would need root and would hand a root tracer to whoever connects.
"""

from __future__ import annotations

import argparse
import os
import sys

from boxtrace.usage import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DESCRIPTION = """\
Serve the replay of a recorded trace to web browsers, for students without a terminal. Every
browser tab gets its own replay (same keys as 'boxtrace replay'). Nothing is traced or run as root.

It listens on localhost only. To let a classroom connect, bind to all interfaces with
--host 0.0.0.0 (and open the port in your firewall): there is no authentication, anyone who can
reach the port can view the trace. Behind a proxy, pass the address students use as --public-url.

examples:
  boxtrace serve start.jsonl                       http://localhost:8000
  boxtrace serve start.jsonl --host 0.0.0.0 --port 8080
"""


def add_parser(sub: Any) -> str:
    parser = sub.add_parser(
        "serve",
        help="serve a recorded trace's replay in a browser",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE", help="a trace file (JSON Lines)")
    parser.add_argument("--host", default="localhost", help="address to listen on (default localhost)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--public-url", metavar="URL", help="the URL browsers use, if not http://HOST:PORT")
    parser.add_argument("--present", action="store_true", help="serve the presenter mode")
    return "serve"


def replay_command(path: str, present: bool) -> list[str]:
    """What runs per browser tab (exec'd, no shell): this interpreter, a replay, no tracing."""
    argv = [sys.executable, "-m", "boxtrace", "replay", os.path.abspath(path)]
    if present:
        argv.append("--present")
    return argv


def main(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.file):
        raise UsageError(f"{args.file}: no such file", "boxtrace serve")
    if not 0 < args.port < 65536:
        raise UsageError("--port must be between 1 and 65535", "boxtrace serve")
    from boxtrace.tracer.tracefile import TraceFormatError, TraceReader

    try:
        TraceReader(args.file).close()
    except (OSError, TraceFormatError) as exc:
        print(f"boxtrace serve: {exc}", file=sys.stderr)
        return 1
    from boxtrace.tui.launch import serve_replay

    if args.host not in ("localhost", "127.0.0.1", "::1"):
        print(
            f"boxtrace serve: listening on {args.host}: anyone who can reach port {args.port} "
            "can view this trace (no authentication)",
            file=sys.stderr,
        )
    serve_replay(
        replay_command(args.file, args.present),
        host=args.host,
        port=args.port,
        title=f"boxtrace: {os.path.basename(args.file)}",
        public_url=args.public_url,
    )
    return 0

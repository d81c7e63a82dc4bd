"""Usage errors shared by `boxtrace` and `boxtrace-runtime`: one line, exit code 2.

It lives in the runtime package because the runtime may import no other boxtrace package. No
argparse here: `boxtrace trace`'s quick parser (boxtrace/quick_args.py) raises these errors without
it; the argparse parser with one-line errors is in runtime/parser.py.
"""

from __future__ import annotations

import os
import sys


def split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """Options before the first "--", the container's command (or ps's options) after it."""
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, []


def exit_at_once(status: int) -> None:
    """Leave now, without the interpreter's teardown (freeing every module and object: ~13 M
    instructions for the runtime, ~25 M after a trace), once a command's work is done and written.

    Flushes the standard streams and runs the atexit handlers first; does nothing (returns) while
    another thread that is not a daemon still runs, as it would be cut off.
    """
    import atexit

    # Only if something loaded threading (~10 M instructions to import): its threads are the only
    # ones it lists. The tracer's own threads (tracer/lean.py) are joined before we get here.
    threading = sys.modules.get("threading")
    if threading is not None:
        current = threading.current_thread()
        if any(t is not current and not t.daemon and t.is_alive() for t in threading.enumerate()):
            return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone: nothing more to say there
            continue
    os._exit(status)


def collect_from_here() -> None:
    """The command's modules are loaded: collect garbage from here on, and leave what is loaded now
    out of every later collection (gc.freeze). Our scripts (bin/) start with the collector off: a
    start makes tens of thousands of objects that live until exit, and collecting among them was
    eleven collections, ~2.5 M instructions (~1.3 ms), of `boxtrace trace -q -o F -- /bin/true`, and
    sixteen (~2 ms) of `boxtrace-runtime run`. Does nothing where the collector is on (boxtrace
    imported by other code, the tests)."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def print_warning(message: str) -> None:
    """Where a container's warnings go by default (the OCI CLI gives them to --log instead: the
    stderr of `create` becomes the container's stderr, which podman and Docker show as its output).
    Here, not in container.py, so that `start` and `delete` need not import the container's steps."""
    print(f"boxtrace: {message}", file=sys.stderr, flush=True)


class UsageError(Exception):
    """A mistake in how the user called a command: reported in one line, exit code 2."""

    def __init__(self, message: str, prog: str = "boxtrace") -> None:
        super().__init__(message)
        self.prog = prog


# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators, as escapes: an
# argument (or a registry's message) holding "\n", "\r" or an ESC sequence must neither break the
# one-line error in two nor drive the terminal.
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def one_line(text: str) -> str:
    """``text`` with its control characters escaped: one line on a terminal, whatever it held."""
    return text.translate(_ESCAPES)


def fail_usage(prog: str, message: str) -> int:
    print(f"{prog}: error: {one_line(message)}", file=sys.stderr)
    return 2

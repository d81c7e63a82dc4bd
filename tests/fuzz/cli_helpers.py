"""Running ``boxtrace`` in-process on fuzzed input: the exit status and what it wrote to stderr."""

from __future__ import annotations

import contextlib
import gc
import io

from boxtrace.cli import main


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``boxtrace ARGV`` in this process; an exception other than SystemExit fails the test (a
    traceback is what the user would have seen)."""
    # Garbage of earlier examples (generators of readers left open by a failed command) is
    # collected now, not during the next command, where a finaliser that runs inside json's
    # deepest recursion would report a RecursionError of its own (a boxtrace process runs one
    # command and has no such garbage).
    gc.collect()
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse's --help and --version
            status = exc.code if isinstance(exc.code, int) else 1
    return status, err.getvalue()


def assert_clean(status: int, stderr: str, allowed: tuple[int, ...] = (0, 1, 2)) -> None:
    """The CLI's contract for bad input: a documented status, and an error in one line (after any
    one-line warnings, e.g. a cut-off last line in an earlier file of a merge)."""
    assert status in allowed, (status, stderr)
    assert "Traceback" not in stderr, stderr
    if status != 0:
        lines = [line for line in stderr.strip().splitlines() if ": warning: " not in line]
        assert len(lines) == 1, stderr

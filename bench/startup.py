"""Where `boxtrace trace`'s fixed start-up cost goes, in instructions (valgrind's callgrind).

Wall-clock times of a ~150 ms start-up swing by tens of milliseconds on a shared machine;
instruction counts do not (the same binary and inputs give the same count within a fraction of a
percent), so this benchmark measures each layer as the instructions it adds:

* the interpreter alone (``python -c pass``);
* the standard library modules the trace path imports (argparse pulls in re and shutil);
* boxtrace's own modules on the trace path (the CLI, the tracer, the plain printer, the annotator);
* a whole ``boxtrace trace -q -o FILE -- /bin/true`` (fork, seccomp filter, exec, three events
  recorded, exit): the start-up the target is judged on (2x the bare interpreter);
* the annotator and the explanation catalogue (from its warm cache), on top of the modules;
* a whole ``boxtrace trace -- /bin/true`` (the explained lines: the catalogue, the annotator).

Each row is measured in a fresh process, as a user installs boxtrace (bench.common.regular_install).
Results go to docs/benchmarks.md, section "## Start-up".

    .venv/bin/python -m bench.startup [--no-write]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import machine_line, regular_install, tool_version, write_section

SECTION = "## Start-up"

STDLIB = "import argparse, contextlib, ctypes, functools, gc, json, re, shutil, signal, struct, threading"
BOXTRACE = (
    "import boxtrace.cli, boxtrace.commands.trace, boxtrace.tracing, boxtrace.console, "
    "boxtrace.tracer.session"
)
# What explained lines add (never under -q): the annotator, the lessons package, the catalogue.
EXPLAIN = "import boxtrace.annotate; from boxtrace.lessons.catalogue import catalogue; catalogue()"
CATALOGUE = "from boxtrace.lessons.catalogue import catalogue; catalogue()"


def instructions(argv: list[str]) -> int:
    """Instructions callgrind counts for one run of ``argv`` (its children are not followed)."""
    with tempfile.TemporaryDirectory(prefix="boxtrace-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
            capture_output=True,
            text=True,
            check=False,
            cwd=tempfile.gettempdir(),  # not the checkout: its boxtrace/ would shadow the install
        )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"callgrind failed on {argv}: {proc.stderr[-500:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/ alone")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("bench.startup needs valgrind (Debian package valgrind)")
    installed = regular_install()
    python = str(installed / "python")
    boxtrace = str(installed / "boxtrace")
    # The catalogue cache is warm in normal use: one load first so the measured one reads it.
    subprocess.run([python, "-c", CATALOGUE], check=True, cwd=tempfile.gettempdir())

    # Each layer leaves with os._exit, as `boxtrace trace` does once its work is written: the
    # interpreter's teardown would otherwise count in every row but the last.
    leave = "import os; os._exit(0)"
    with tempfile.TemporaryDirectory(prefix="boxtrace-startup-") as tmp:
        record = [boxtrace, "trace", "-q", "-o", str(Path(tmp) / "t.jsonl"), "--", "/bin/true"]
        # (label, command, the row its "added" column is counted from)
        steps = [
            ("interpreter (`python -c pass`)", [python, "-c", leave], None),
            ("+ standard library modules the trace path imports", [python, "-c", f"{STDLIB}; {leave}"], 0),
            ("+ boxtrace's modules on the trace path", [python, "-c", f"{STDLIB}; {BOXTRACE}; {leave}"], 1),
            ("whole `boxtrace trace -q -o FILE -- /bin/true`", record, 2),
            (
                "modules + the annotator and the explanation catalogue (warm cache)",
                [python, "-c", f"{STDLIB}; {BOXTRACE}; {EXPLAIN}; {leave}"],
                2,
            ),
            ("whole `boxtrace trace -- /bin/true`", [boxtrace, "trace", "--", "/bin/true"], 4),
        ]
        counts = [instructions(command) for _, command, _ in steps]
    rows = ["| layer | instructions (M) | added (M) |", "| --- | ---: | ---: |"]
    for (label, _, base), count in zip(steps, counts, strict=True):
        added = count - (0 if base is None else counts[base])
        rows.append(f"| {label} | {count / 1e6:.0f} | {added / 1e6:+.0f} |")
    ratio = counts[3] / counts[0]

    lines = [
        SECTION,
        "",
        "`python -m bench.startup` on "
        f"{machine_line()}, {tool_version(['valgrind', '--version'])}: instructions counted by callgrind "
        "in the boxtrace process (not in the traced command), each row in a fresh process that "
        "leaves with `os._exit` (no interpreter teardown, as `boxtrace trace`). Instruction "
        "counts repeat to a fraction of a percent on a busy machine, where the wall-clock start-up "
        "(~95-170 ms in the tracer section's start-up row) does not.",
        "",
        *rows,
        "",
        f"Recording only (`trace -q -o FILE`) over the bare interpreter: **{ratio:.2f}x** in "
        "instructions (target 2x). Each row's *added* column counts from the row it builds on (the "
        "catalogue rows from the modules row). No dataclasses, typing or inspect on the trace path "
        "(tests/test_startup_imports.py keeps it so): its classes are plain `__slots__` classes "
        "(`boxtrace.tracer.plain`). What is left is mostly the standard library: re (~19 M, imported "
        "by pip's console script itself, and by argparse and json), argparse, shutil (argparse's help "
        "formatter), enum (through signal), ctypes, threading. The annotator row is the lessons package "
        "(dataclasses, off the -q path), reading the catalogue's cache (JSON) and building ~450 "
        "frozen entries; only explained lines load it.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

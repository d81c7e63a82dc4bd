"""Where `boxtrace trace`'s fixed start-up cost goes, in instructions (valgrind's callgrind).

Wall-clock times of a ~150 ms start-up swing by tens of milliseconds on a shared machine;
instruction counts do not (the same binary and inputs give the same count within a fraction of a
percent), so this benchmark measures each layer as the instructions it adds:

* the interpreter alone (``python -c pass``);
* the standard library modules the trace path imports (dataclasses pulls in inspect, ast, dis...);
* boxtrace's own modules on the trace path (the CLI, the tracer, the plain printer, the annotator);
* loading the explanation catalogue from its warm cache;
* a whole ``boxtrace trace -- /bin/true`` (fork, seccomp filter, exec, three events, exit).

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

STDLIB = (
    "import argparse, contextlib, ctypes, dataclasses, functools, gc, json, re, signal, struct, "
    "threading, typing"
)
BOXTRACE = (
    "import boxtrace.cli, boxtrace.commands.trace, boxtrace.tracing, boxtrace.console, "
    "boxtrace.tracer.session, boxtrace.annotate"
)
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
    steps = [
        ("interpreter (`python -c pass`)", [python, "-c", leave]),
        ("+ standard library modules the trace path imports", [python, "-c", f"{STDLIB}; {leave}"]),
        ("+ boxtrace's modules on the trace path", [python, "-c", f"{STDLIB}; {BOXTRACE}; {leave}"]),
        (
            "+ the explanation catalogue (warm cache)",
            [python, "-c", f"{STDLIB}; {BOXTRACE}; {CATALOGUE}; {leave}"],
        ),
    ]
    rows = ["| layer | instructions (M) | added (M) |", "| --- | ---: | ---: |"]
    previous = 0
    for label, command in steps:
        count = instructions(command)
        rows.append(f"| {label} | {count / 1e6:.0f} | {(count - previous) / 1e6:+.0f} |")
        previous = count
    whole = instructions([boxtrace, "trace", "--", "/bin/true"])
    added = (whole - previous) / 1e6
    rows.append(f"| whole `boxtrace trace -- /bin/true` | {whole / 1e6:.0f} | {added:+.0f} |")

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
        "What the rows say: about 40% of the start-up is the interpreter and the standard library "
        "(dataclasses alone imports inspect, ast, dis and tokenize); about half of boxtrace's own "
        "share is class creation (each `@dataclass` compiles its `__init__`, `__repr__` and `__eq__` "
        "from source at import: ~2 M instructions a class on CPython 3.11, 30 classes on the trace "
        "path). The catalogue row is reading its cache (JSON) and building ~450 frozen entries.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where `boxtrace trace`'s fixed start-up cost goes, in instructions (valgrind's callgrind).

Wall-clock times of a ~150 ms start-up swing by tens of milliseconds on a shared machine;
instruction counts do not (the same binary and inputs give the same count within a fraction of a
percent), so this benchmark measures each layer as the instructions it adds:

* the interpreter alone (``python -c pass``);
* the standard library modules the trace path imports;
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

# What `trace -q` imports from the standard library (tests/test_startup_imports.py keeps argparse,
# re, json, enum, shutil, threading, contextlib, collections, functools, importlib and ctypes out).
STDLIB = (
    "import __future__, _collections, _ctypes, _json, _operator, _signal, _struct, _thread, atexit, errno, gc"
)
# Served from `boxtrace trace`'s module pack, the collector off, as the command's own start does
# (bin/boxtrace).
BOXTRACE = (
    "import gc; gc.disable(); "
    "import sys; sys.argv = ['boxtrace', 'trace']; from boxtrace.module_pack import install; "
    "install('boxtrace-trace'); "
    "import boxtrace.cli, boxtrace.commands.trace, boxtrace.tracing, boxtrace.console, "
    "boxtrace.tracer.session, boxtrace.runtime.guard, boxtrace.tracer.default_filters"
)
# What explained lines add (never under -q): the annotator, the lessons package, the catalogue.
EXPLAIN = "import boxtrace.annotate; from boxtrace.lessons.catalogue import catalogue; catalogue()"
CATALOGUE = "from boxtrace.lessons.catalogue import catalogue; catalogue()"


def instructions(argv: list[str]) -> int:
    """Instructions callgrind counts in the process that runs ``argv``: not in the programs it
    executes, nor in the processes it forks (the cleanup guard), which report counts of their own."""
    with tempfile.TemporaryDirectory(prefix="boxtrace-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out.%p"  # one file per process: a forked one writes its own
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
            capture_output=True,
            text=True,
            check=False,
            cwd=tempfile.gettempdir(),  # not the checkout: its boxtrace/ would shadow the install
        )
    # valgrind prefixes its lines with ==PID==; the first one is the measured process's.
    first = re.search(r"^==(\d+)==", proc.stderr, re.M)
    found = first and re.search(rf"^=={first.group(1)}== Collected : (\d+)", proc.stderr, re.M)
    if proc.returncode != 0 or not found:
        raise SystemExit(f"callgrind failed on {argv}: {proc.stderr[-500:]}")
    return int(found.group(1))


# valgrind 3.19 (Debian 12's) has no pidfd_open: ENOSYS. The cleanup guard that `boxtrace trace`
# forks before the command (runtime/guard.py) watches boxtrace through a pidfd; under such a valgrind
# the whole-command rows run the console script with a stand-in, a pipe whose write end only the
# measured process keeps (the guard closes what it inherits), so the guard still sees it end. The
# script's text is given to exec as it is: the builtin compile() initialises the AST node types on
# its first call (~7 M instructions), which `python SCRIPT` never pays.
PIDFD_STAND_IN = """\
import os, sys
_ends = []
def _pidfd_open(pid, flags=0):
    read, write = os.pipe2(os.O_CLOEXEC)
    _ends.append(write)
    return read
os.pidfd_open = _pidfd_open
sys.argv = sys.argv[1:]
with open(sys.argv[0]) as script:
    source = script.read()
exec(source, {"__name__": "__main__", "__file__": sys.argv[0]})
"""


def has_pidfd_open(python: str) -> bool:
    probe = "import os; os.close(os.pidfd_open(os.getpid()))"
    proc = subprocess.run(["valgrind", "--tool=none", python, "-c", probe], capture_output=True, check=False)
    return proc.returncode == 0


def script_command(python: str, script: str, args: list[str], stand_in: bool) -> list[str]:
    """The console script ``script`` run with ``args``, through the pidfd stand-in if needed."""
    if not stand_in:
        return [script, *args]
    return [python, "-c", PIDFD_STAND_IN, script, *args]


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
    stand_in = not has_pidfd_open(python)
    with tempfile.TemporaryDirectory(prefix="boxtrace-startup-") as tmp:
        record = script_command(
            python, boxtrace, ["trace", "-q", "-o", str(Path(tmp) / "t.jsonl"), "--", "/bin/true"], stand_in
        )
        explained = script_command(python, boxtrace, ["trace", "--", "/bin/true"], stand_in)
        # Warm, as in normal use: each command's module pack (boxtrace/module_pack.py) is written
        # by its first run, and read by the measured ones.
        for warm in (record, explained):
            subprocess.run(warm, check=True, cwd=tempfile.gettempdir(), capture_output=True)
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
            ("whole `boxtrace trace -- /bin/true`", explained, 4),
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
        "(the tracer section's start-up rows) does not.",
        "",
        *rows,
        "",
        f"Recording only (`trace -q -o FILE`) over the bare interpreter: **{ratio:.2f}x** in "
        "instructions (target 2x). Each row's *added* column counts from the row it builds on (the "
        "catalogue rows from the modules row). The whole-command rows count the boxtrace process "
        "only (not the traced command, nor the cleanup guard it forks); under a valgrind without "
        "pidfd_open (3.19) they run the console script through a stand-in for it (a pipe). "
        "Loop-timing makes them vary by ~1 M between runs; the import rows repeat exactly.",
        "",
        "Not on the trace path (tests/test_startup_imports.py keeps it so): dataclasses, typing, "
        "inspect (its classes are plain `__slots__` classes, `boxtrace.tracer.plain`); argparse "
        "(`boxtrace/quick_args.py` reads the usual `trace` command lines), and with it gettext, "
        "locale and shutil; re, enum and the json package (the script `bin/boxtrace` replaces pip's "
        "console script, which imports re; the trace file's encoder is `_json`'s; the tracer uses "
        "`_signal`, whose numbers signal.py turns into enums); threading, contextlib, functools and "
        "collections (the session's threads, events and timer are `_thread`'s, "
        "`boxtrace/tracer/lean.py`), ctypes (the same types and functions from `_ctypes`, "
        "`boxtrace/tracer/lean_ctypes.py`), importlib; every decoder family but the ones a trace "
        "meets (a family is imported at its first call: /bin/true's execve alone), and the runtime's "
        "`record` classes (the CLI checks the machine with the tracer's tables). boxtrace's ~45 "
        "modules come from the command's module pack (`boxtrace/module_pack.py`: their code read from "
        "one file, no search and no `.pyc` per module; 60 -> 54 M for the whole command, the first "
        "run of a command writes its pack, as the warm-up here does). The garbage collector is off "
        "while the command's modules load (bin/boxtrace; `boxtrace.runtime.usage.collect_from_here` "
        "turns it on again and freezes what is loaded): eleven collections among the start's objects were "
        "~2.5 M. The seccomp filter is compiled ahead (`tracer/default_filters.py`): the trap rules "
        "and the build were ~2.5 M. What is left: unmarshalling ~400 KB of code and running the "
        "modules' bodies (~80 classes), this machine's syscall table (~1.1 M), and, in wall time "
        "only (this count does not see it), the kernel's work and the copy-on-write faults after "
        "the cleanup guard's fork (~2 ms). The "
        "annotator row (only explained lines load it, on the session's delivery thread) is six "
        "lessons and annotator modules, whose classes are `boxtrace.tracer.plain` classes too (no "
        "dataclasses, typing, re, json, string, functools or collections: the test keeps them out), "
        "reading the catalogue's cache (marshal, one C call) and building ~500 frozen entries from "
        "it; the regular expressions, the template parser and tomllib check the catalogue's files "
        "again only when the cache is stale.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

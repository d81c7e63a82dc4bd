"""Instructions the boxtrace process spends per stop of an --all (or, with --filtered, a filtered)
trace (valgrind's callgrind).

Wall-clock and CPU times of a trace swing by tens of percent on a shared machine; instruction counts
do not. Each build traces a workload with ``trace --all -q -o F`` and ``-- /bin/true`` (start-up, a
few stops) under callgrind, one thread apart (``--separate-threads``): the difference, divided by the
workload's stops, is the per-stop work of the tracer thread, of the delivery thread (records to the
writer process) and of both. Stops are counted from the trace file: two per syscall event (its entry
and exit) and one per process event.

The tracer runs ~50 times slower under valgrind while the traced command does not (callgrind does not
follow it across execve), so a stop is nearly always waiting when the loop asks: the count is that
of the non-blocking path. runc's Go runtime makes more calls when its tracer is slow (futex,
nanosleep): its stop count under callgrind is not that of a normal run.

    .venv/bin/python -m bench.stop_instructions [--boxtrace LABEL=PATH ...]
        [--workload getppid|runc] [--filtered]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import build_bundle
from bench.startup import has_pidfd_open, script_command

GETPPID = ["/usr/bin/python3", "-c", "import os\nfor _ in range(3000): os.getppid()"]


def stops_in(trace: Path) -> int:
    stops = 0
    for line in trace.read_text().splitlines()[1:]:
        stops += 2 if json.loads(line)["type"] == "syscall" else 1
    return stops


def thread_counts(
    python: str, boxtrace: str, command: list[str], tmp: Path, tag: str, filtered: bool = False
) -> tuple[list[int], int]:
    """callgrind's instructions per thread of the boxtrace process (main, tracer, delivery), and
    the stops of the trace."""
    out = tmp / f"{tag}.jsonl"
    argv = script_command(
        python,
        boxtrace,
        ["trace", *([] if filtered else ["--all"]), "-q", "-o", str(out), "--", *command],
        not has_pidfd_open(python),
    )
    prefix = tmp / f"cg.{tag}"
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={prefix}.%p",
            *argv,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tempfile.gettempdir(),
    )
    first = re.search(r"^==(\d+)==", proc.stderr, re.M)
    if proc.returncode != 0 or first is None:
        raise SystemExit(f"callgrind failed on {argv}: {proc.stderr[-500:]}")
    counts = []
    for part in (1, 2, 3):  # one file per thread: main, tracer, delivery (in order of creation)
        text = Path(f"{prefix}.{first.group(1)}-{part:02d}").read_text()
        found = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        counts.append(int(found.group(1)) if found else 0)
    return counts, stops_in(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--boxtrace", action="append", default=[], metavar="LABEL=PATH")
    parser.add_argument("--workload", choices=("getppid", "runc"), default="getppid")
    parser.add_argument(
        "--filtered", action="store_true", help="trace the default set (seccomp-filtered), not --all"
    )
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("bench.stop_instructions needs valgrind (Debian package valgrind)")
    builds = [tuple(b.split("=", 1)) for b in args.boxtrace] or [
        ("boxtrace", str(Path(sys.executable).parent / "boxtrace"))
    ]
    with tempfile.TemporaryDirectory(prefix="boxtrace-stops-") as tmp_name:
        tmp = Path(tmp_name)
        if args.workload == "runc":
            bundle = build_bundle(tmp)
            script = tmp / "runc.sh"
            script.write_text(f'#!/bin/sh\nexec runc run -b {bundle} "bxstops$$"\n')
            script.chmod(0o755)
            command = [str(script)]
        else:
            command = GETPPID
        print(f"workload: {' '.join(command)!r}, {'filtered' if args.filtered else '--all'}")
        print("| build | stops | tracer thread / stop | delivery thread / stop | process / stop |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for label, path in builds:
            python = str(Path(path).parent / "python")
            base, base_stops = thread_counts(python, path, ["/bin/true"], tmp, f"{label}-true", args.filtered)
            work, work_stops = thread_counts(python, path, command, tmp, f"{label}-work", args.filtered)
            stops = work_stops - base_stops
            tracer = (work[1] - base[1]) / stops
            delivery = (work[2] - base[2]) / stops
            total = (sum(work) - sum(base)) / stops
            print(f"| {label} | {stops} | {tracer:,.0f} | {delivery:,.0f} | {total:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Export benchmark: 100,000 events to each format (md, html, json, perfetto, strace).

The events are a real trace repeated: a trace of the built-in runtime starting a container is
recorded (as root; or pass ``--trace FILE``), and its events are copied with fresh ``seq`` and
``time`` until there are ``--events`` of them, written to a trace file. Each format is then timed the
way ``boxtrace export FILE --format F -o OUT`` runs it (read the file, explain, classify, write), in
one process, best and mean of ``--runs``. Target: under 3 s each. Results go to docs/benchmarks.md,
section "## Exports".

    .venv/bin/python -m bench.exports [--events N] [--runs N] [--trace FILE] [--formats F,F] [--no-write]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from bench.common import machine_line, write_section

FORMATS = ("md", "html", "json", "perfetto", "strace")
TARGET = 3.0


def record_trace(path: Path) -> None:
    if os.geteuid() != 0:
        raise SystemExit("recording a trace needs root; pass --trace FILE to use an existing one")
    command = [
        sys.executable,
        "-m",
        "boxtrace",
        "trace",
        "-o",
        str(path),
        "--",
        sys.executable,
        "-m",
        "boxtrace.runtime",
        "run",
        "--",
        "sh",
        "-c",
        "echo hello; ls / > /dev/null",
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def synthesise(source: Path, target: Path, count: int) -> int:
    """Repeat ``source``'s events into ``target`` until it holds ``count``; returns the source's size."""
    from boxtrace.tracer.tracefile import TraceWriter, read_trace

    header, events = read_trace(str(source))
    span = max((e.time for e in events), default=0.0) + 0.001
    with TraceWriter(str(target), header) as writer:
        batch = []
        for i in range(count):
            round_, index = divmod(i, len(events))
            ev = copy.copy(events[index])
            ev.seq = i + 1
            ev.time = round(events[index].time + round_ * span, 6)
            batch.append(ev)
            if len(batch) == 5000:
                writer.write_events(batch)
                batch = []
        writer.write_events(batch)
    return len(events)


def time_read(trace: Path) -> float:
    from boxtrace.tracer.tracefile import read_trace

    started = time.perf_counter()
    read_trace(str(trace))
    return time.perf_counter() - started


class Run(NamedTuple):
    alone: float  # the export alone, the events already in memory, in one process
    command: float  # the whole `boxtrace export` command, as a user runs it: start, read, export, write
    cpu: float  # the command's user + system time, its child's included
    rss: float  # the command's largest resident set, MB (of the command's process or its child's)


def time_export(fmt: str, trace: Path, out: Path) -> Run:
    from boxtrace.exporters import get_exporter
    from boxtrace.tracer.tracefile import TraceReader, gc_paused

    exporter = get_exporter(fmt)
    with TraceReader(str(trace)) as reader:
        header, events = reader.header, list(reader)
    started = time.perf_counter()
    with open(out, "w", encoding="utf-8") as handle, gc_paused():  # as the command does
        exporter.export(header, events, handle)
    alone = time.perf_counter() - started
    command = [sys.executable, "-m", "boxtrace", "export", str(trace), "--format", fmt, "-o", str(out)]
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command], check=True, capture_output=True, text=True
    )
    whole, cpu, rss = (float(word) for word in measured.stdout.split())
    return Run(alone, whole, cpu, rss)


# Runs the command given as arguments and prints its wall time, its CPU time and its peak RSS in MB
# (os.wait4: the command's and its child's). A process of its own, started small: the peak of a
# command forked from this benchmark would count the benchmark's memory at the fork.
_MEASURE = """
import os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - started
proc.returncode = os.waitstatus_to_exitcode(status)
if proc.returncode:
    sys.exit(f"{sys.argv[1:]} exited with {proc.returncode}")
print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trace", type=Path, help="a recorded trace to repeat (default: record one)")
    parser.add_argument(
        "--formats",
        default=",".join(FORMATS),
        help=f"comma-separated formats to time (default: {','.join(FORMATS)})",
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs/benchmarks.md")
    args = parser.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        parser.error(f"unknown format {unknown[0]!r} (choose from {', '.join(FORMATS)})")
    if not args.no_write and formats != list(FORMATS):
        parser.error("--formats times a subset: add --no-write (the docs' table lists every format)")
    with tempfile.TemporaryDirectory(prefix="boxtrace-bench-") as tmp:
        work = Path(tmp)
        source = args.trace or work / "source.jsonl"
        if args.trace is None:
            record_trace(source)
        trace = work / "big.jsonl"
        base = synthesise(source, trace, args.events)
        reads = [time_read(trace) for _ in range(args.runs)]
        rows = [
            "| format | export, best (s) | export, mean (s) | command, best (s) | command, mean (s) "
            "| command CPU, best (s) | peak RSS (MB) | out (MB) | command < 3 s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for fmt in formats:
            out = work / f"out.{fmt}"
            runs = [time_export(fmt, trace, out) for _ in range(args.runs)]
            alone = [r.alone for r in runs]
            whole = [r.command for r in runs]
            size = out.stat().st_size / 1e6
            ok = "yes" if min(whole) < TARGET else "**no**"
            rows.append(
                f"| {fmt} | {min(alone):.2f} | {statistics.mean(alone):.2f} | {min(whole):.2f} "
                f"| {statistics.mean(whole):.2f} | {min(r.cpu for r in runs):.2f} "
                f"| {max(r.rss for r in runs):.0f} | {size:.1f} | {ok} |"
            )
            print(rows[-1], flush=True)
    text = "\n".join(
        [
            "## Exports",
            "",
            f"`boxtrace export` of {args.events:,} events (a {base}-event trace of the built-in runtime,",
            f"repeated with fresh seq and time) to each format, {args.runs} runs each. *Export* has the",
            "events in memory, in one process; *command* is `boxtrace export FILE --format F -o OUT` run as",
            "a process (start-up, reading the trace file, export, writing); the 3 s target is judged on it.",
            "md, html, json and perfetto of a trace over 4 MB are exported in two processes, one per half of",
            'the file (docs/exports.md, "Speed"): *CPU* is both processes\' user and system time, *peak',
            "RSS* the larger process's:",
            "",
            "```console",
            f"# .venv/bin/python -m bench.exports --events {args.events} --runs {args.runs}",
            "```",
            "",
            *rows,
            "",
            "Reading the trace file alone in one process (`TraceReader`, JSON Lines to events):",
            f"best {min(reads):.2f} s, mean {statistics.mean(reads):.2f} s; a command that splits reads each"
            " half in its own process.",
            "",
            f"Machine: {machine_line()}.",
            "",
        ]
    )
    if args.no_write:
        print(text)
    else:
        write_section("## Exports", text)
        print("docs/benchmarks.md: section ## Exports updated")


if __name__ == "__main__":
    main()

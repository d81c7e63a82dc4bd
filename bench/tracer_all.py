"""`boxtrace trace --all -q -o F` against `strace -f -y -o F` on runc, in CPU time per stop.

The machine is shared (2 CPUs, other sessions): wall-clock times vary by tens of percent from run to
run, the CPU time a process spent does much less. Each run's CPU comes from the tracer's own
``/proc/PID/stat`` read while it is a zombie (``waitid(WNOWAIT)``, before it is reaped): ``self`` is
the tracer process (every thread of it), ``children`` what it reaped (the traced command and, when
there is one, boxtrace's writer process). Runs are interleaved round-robin.

    .venv/bin/python -m bench.tracer_all [--runs N] [--boxtrace LABEL=PATH ...] [--filtered] [--write]

``--boxtrace`` compares builds (e.g. this checkout's .venv/bin/boxtrace against another
checkout's); ``--env LABEL=VAR=VALUE`` adds a case of the first build with an environment variable.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import build_bundle, write_section

_TICK = os.sysconf("SC_CLK_TCK")
SECTION = "## Tracer, --all"


class Run:
    __slots__ = ("children", "events", "orphans", "self_cpu", "wall")

    def __init__(self, wall: float, self_cpu: float, children: float, orphans: float, events: int) -> None:
        self.wall = wall
        self.self_cpu = self_cpu
        self.children = children
        self.orphans = orphans  # boxtrace's writer process (not its child: reparented to us)
        self.events = events


class Case:
    def __init__(
        self, label: str, argv: list[str], env: dict[str, str] | None, out: str, startup: bool = False
    ) -> None:
        self.label = label
        self.startup = startup
        self.argv = argv
        self.env = env
        self.out = out
        self.runs: list[Run] = []
        self.stops_per_event = 0.0


def run_once(case: Case) -> Run:
    env = dict(os.environ, **(case.env or {}))
    started = time.perf_counter()
    proc = subprocess.Popen(case.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    wall = time.perf_counter() - started
    with open(f"/proc/{proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) / _TICK for x in fields[11:15])
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{case.label}: exit {proc.returncode}: {err.decode()[-500:]}")
    orphans = 0.0
    while True:  # what was reparented to us (we are a subreaper): boxtrace's writer process
        try:
            _pid, _status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            break
        orphans += usage.ru_utime + usage.ru_stime
    return Run(wall, utime + stime, cutime + cstime, orphans, count_events(case.out))


def count_events(path: str) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f) - 1  # boxtrace's header line; strace's lines counted alike


def count_stops(case: Case) -> float:
    """Stops per trace-file event, from one run that prints its closing line (not -q)."""
    argv = [a for a in case.argv if a != "-q"]
    env = dict(os.environ, **(case.env or {}))
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    events = count_events(case.out)
    for line in proc.stderr.splitlines():
        if " stops" in line and "done:" in line:
            stops = int(line.rsplit(",", 1)[1].split()[0])
            return stops / events
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--boxtrace", action="append", default=[], metavar="LABEL=PATH")
    parser.add_argument("--env", action="append", default=[], metavar="LABEL=VAR=VALUE")
    parser.add_argument("--filtered", action="store_true", help="also the default (filtered) mode, -q -o")
    parser.add_argument("--no-strace", action="store_true")
    parser.add_argument("--write", action="store_true", help=f"replace docs/benchmarks.md's {SECTION!r}")
    args = parser.parse_args(argv)
    # Orphans (boxtrace's writer process, forked twice) come to us, so that their CPU is counted.
    import ctypes

    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    builds = [tuple(b.split("=", 1)) for b in args.boxtrace] or [
        ("boxtrace", str(Path(sys.executable).parent / "boxtrace"))
    ]
    with tempfile.TemporaryDirectory(prefix="boxtrace-bench-") as tmp:
        root = Path(tmp)
        bundle = build_bundle(root)
        script = root / "runc.sh"
        # A fresh container id per run: the shell's pid.
        script.write_text(f'#!/bin/sh\nexec runc run -b {bundle} "bxall$$"\n')
        script.chmod(0o755)
        cases: list[Case] = []
        if not args.no_strace:
            out = str(root / "strace.out")
            cases.append(Case("strace -f -y -o F", ["strace", "-f", "-y", "-o", out, str(script)], None, out))
        for label, path in builds:
            out = str(root / f"{label}.jsonl")
            cmd = [path, "trace", "--all", "-q", "-o", out, "--", str(script)]
            cases.append(Case(f"{label} trace --all -q -o F", cmd, None, out))
            if args.filtered:
                out_f = str(root / f"{label}-filtered.jsonl")
                cmd_f = [path, "trace", "-q", "-o", out_f, "--", str(script)]
                cases.append(Case(f"{label} trace -q -o F", cmd_f, None, out_f))
            # The fixed cost, to take out of the per-stop figure: start-up, fork, a few stops.
            out_s = str(root / f"{label}-startup.jsonl")
            cmd_s = [path, "trace", "--all", "-q", "-o", out_s, "--", "/bin/true"]
            cases.append(Case(f"{label} trace --all -q -o F -- /bin/true", cmd_s, None, out_s, startup=True))
        for spec in args.env:
            label, assignment = spec.split("=", 1)
            var, value = assignment.split("=", 1)
            out = str(root / f"{label}.jsonl")
            cmd = [builds[0][1], "trace", "--all", "-q", "-o", out, "--", str(script)]
            cases.append(Case(f"{label} trace --all -q -o F", cmd, {var: value}, out))
            out_s = str(root / f"{label}-startup.jsonl")
            cmd_s = [builds[0][1], "trace", "--all", "-q", "-o", out_s, "--", "/bin/true"]
            cases.append(Case(f"{label} (-- /bin/true)", cmd_s, {var: value}, out_s, startup=True))
        for case in cases:
            if case.argv[0] != "strace":
                case.stops_per_event = count_stops(case)
        load_before = os.getloadavg()
        for i in range(args.warmup + args.runs):
            for case in cases:
                run = run_once(case)
                if i >= args.warmup:
                    case.runs.append(run)
        load_after = os.getloadavg()
    lines = report(cases, args.runs, args.warmup, load_before[0], load_after[0])
    text = "\n".join(lines)
    sys.stdout.write(text + "\n")
    if args.write:
        write_section(SECTION, text)
    return 0


def report(cases: list[Case], runs: int, warmup: int, load_before: float, load_after: float) -> list[str]:
    lines: list[str] = [SECTION, ""]
    out = lines.append
    out(
        f"`python -m bench.tracer_all --runs {runs}`: {runs} runs per command after {warmup} warm-up, "
        f"interleaved; Python {sys.version.split()[0]} ({os.path.realpath(sys.executable)}); "
        f"{platform.node()}, kernel {platform.release()}, {os.cpu_count()} CPUs; "
        f"load average {load_before:.2f} before, {load_after:.2f} after."
    )
    out("")
    out(
        "| command | wall median (ms) | wall mean (ms) | wall min (ms) | tracer CPU mean (ms) "
        "| writer CPU mean (ms) | events | stops | tracer CPU per stop (us) |"
    )
    out("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    startup = {
        c.argv[0] + str(c.env): statistics.mean(r.self_cpu for r in c.runs) for c in cases if c.startup
    }
    for c in cases:
        walls = [r.wall * 1e3 for r in c.runs]
        cpu = statistics.mean(r.self_cpu for r in c.runs)
        writer = statistics.mean(r.orphans for r in c.runs)
        events = statistics.mean(r.events for r in c.runs)
        stops = events * c.stops_per_event
        per_stop = ""
        stops_text = f"{stops:.0f}" if stops else ""
        if c.stops_per_event and not c.startup and "--all" in c.argv:  # the start-up row is --all's
            fixed = startup.get(c.argv[0] + str(c.env), 0.0)
            per_stop = f"{(cpu - fixed) * 1e6 / stops:.1f}"
        out(
            f"| {c.label} | {statistics.median(walls):.1f} | {statistics.mean(walls):.1f} | {min(walls):.1f} "
            f"| {cpu * 1e3:.1f} | {writer * 1e3:.1f} | {events:.0f} | {stops_text} | {per_stop} |"
        )
    base = cases[0]
    if base.argv[0] == "strace":
        out("")
        for c in cases[1:]:
            if c.startup:
                continue
            med = statistics.median(r.wall for r in c.runs) / statistics.median(r.wall for r in base.runs)
            mean = statistics.mean(r.wall for r in c.runs) / statistics.mean(r.wall for r in base.runs)
            out(f"{c.label} / {base.label}: wall-clock ratio, median {med:.2f}, mean {mean:.2f}")
    out("")
    out(
        "*tracer CPU* is the boxtrace process's own user and system time (every thread), read from "
        "/proc while it is a zombie; *writer CPU* that of its writer process (tracer/writer_process.py), "
        "collected as an orphan by the benchmark (a subreaper); *stops* are estimated from one run that "
        "prints its count; *per stop* takes out the `-- /bin/true` row of the same build (start-up, "
        "fork). CPU times vary much less than wall-clock times on this shared machine."
    )
    out("")
    return lines


if __name__ == "__main__":
    sys.exit(main())

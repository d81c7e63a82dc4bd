"""Tracer benchmark: runc starting a busybox container, untraced, under strace and under boxtrace.

One run measures, interleaved round-robin so that machine drift hits every command alike:

* ``runc run`` of /bin/true on a busybox bundle, untraced;
* ``strace -f -y --seccomp-bpf -e trace=<the default set>`` (strace's filtered mode);
* ``boxtrace trace`` (the default set, seccomp-filtered);
* plain ``strace -f -y`` (stops on every syscall);
* ``boxtrace trace --all`` (stops on and reports every syscall);
* when the built-in runtime is installed: ``boxtrace-runtime run`` untraced and traced.

Both tracers write their trace to a file; boxtrace's console output goes to /dev/null (it is still
formatted). Ratios boxtrace/strace are given by medians (the targets'), means and CPU time. The
start-up target (`boxtrace trace -q -o FILE -- /bin/true` within 2x `python -c pass` of the same
venv) is timed here too. Results go to docs/benchmarks.md, section "## Tracer".

    .venv/bin/python -m bench.tracer [--runs N] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.common import Case, build_bundle, measure, regular_install, table, tool_version, write_section

SECTION = "## Tracer"
FLOOR = "python -c pass (same venv: the floor)"


def default_set_names() -> list[str]:
    from boxtrace.tracer.tables.default_set import DEFAULT_SYSCALLS

    return sorted(DEFAULT_SYSCALLS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/ alone")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench.tracer needs root (runc)")
    for tool in ("runc", "strace"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench.tracer needs {tool}")
    # Measured as users install it (see bench.common.regular_install): no editable-install hook.
    installed = regular_install()
    boxtrace = str(installed / "boxtrace")
    trace_set = ",".join(default_set_names())

    with tempfile.TemporaryDirectory(prefix="boxtrace-bench-") as tmp:
        root = Path(tmp)
        bundle = str(build_bundle(root))
        out = str(root / "trace.out")

        def runc(cid: str) -> list[str]:
            return ["runc", "run", "-b", bundle, cid]

        cases = [
            Case("runc run (untraced)", runc, []),
            Case(
                "strace -f -y --seccomp-bpf -e trace=SET",
                lambda c: [
                    "strace",
                    "-f",
                    "-y",
                    "-qq",
                    "--seccomp-bpf",
                    "-e",
                    f"trace={trace_set}",
                    "-o",
                    out,
                    *runc(c),
                ],
                [],
            ),
            Case("boxtrace trace", lambda c: [boxtrace, "trace", "-o", out, "--", *runc(c)], []),
            # Like for like with strace -o: the file only, no annotated console lines.
            Case("boxtrace trace -q", lambda c: [boxtrace, "trace", "-q", "-o", out, "--", *runc(c)], []),
            Case("strace -f -y", lambda c: ["strace", "-f", "-y", "-qq", "-o", out, *runc(c)], []),
            Case(
                "boxtrace trace --all", lambda c: [boxtrace, "trace", "--all", "-o", out, "--", *runc(c)], []
            ),
            # The fixed cost: interpreter, imports, fork/seize; strace's is a few ms.
            Case(
                "boxtrace trace -- /bin/true (start-up)", lambda c: [boxtrace, "trace", "--", "/bin/true"], []
            ),
            Case(
                "boxtrace trace -q -o FILE -- /bin/true (start-up)",
                lambda c: [boxtrace, "trace", "-q", "-o", out, "--", "/bin/true"],
                [],
            ),
            Case(FLOOR, lambda c: [str(installed / "python"), "-c", "pass"], []),
        ]
        runtime = shutil.which("boxtrace-runtime", path=str(installed))
        if runtime is not None:
            cases += [
                Case("boxtrace-runtime run (untraced)", lambda c: [runtime, "run", "--name", c, bundle], []),
                Case(
                    "boxtrace trace -- boxtrace-runtime run",
                    lambda c: [boxtrace, "trace", "-o", out, "--", runtime, "run", "--name", c, bundle],
                    [],
                ),
            ]

        def cleanup(cid: str) -> None:
            subprocess.run(["runc", "delete", "-f", cid], capture_output=True, check=False)

        measure(cases, args.runs, args.warmup, cleanup)
        stops = count_stops(boxtrace, runc("bxbench-count"), cleanup)

    by = {c.label: c for c in cases}
    strace_set = "strace -f -y --seccomp-bpf -e trace=SET"

    def ratio(ours: str, theirs: str, target: str) -> str:
        a, b = by[ours], by[theirs]
        return (
            f"| {ours} / {theirs} | **{a.median / b.median:.2f}** | {a.mean / b.mean:.2f} "
            f"| {min(a.times) / min(b.times):.2f} | {a.cpu_median / b.cpu_median:.2f} | {target} |"
        )

    ratios = [
        "| ratio | by medians | by means | by mins | by CPU medians | target (medians) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        ratio("boxtrace trace -q", strace_set, "<= 1.0"),
        ratio("boxtrace trace", strace_set, "<= 1.1"),
        ratio("boxtrace trace --all", "strace -f -y", "<= 1.5"),
        ratio("boxtrace trace -q -o FILE -- /bin/true (start-up)", FLOOR, "<= 2.0"),
    ]
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        SECTION,
        "",
        f"`python -m bench.tracer --runs {args.runs}` ({args.runs} runs per command after "
        f"{args.warmup} warm-up runs, interleaved round-robin, times from a Python `perf_counter` "
        "loop around each process) on "
        f"{platform.machine()}, kernel {platform.release()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()} ({os.path.realpath(installed / 'python')}), "
        f"{tool_version(['strace', '-V'])}, {tool_version(['runc', '--version'])}; load average at the "
        f"end (1 / 5 / 15 min): {load}. "
        "Workload: `runc run` of `/bin/true` "
        "on a busybox bundle made by `runc spec`. Both tracers write their trace to a file "
        "(`strace -o`, `boxtrace trace -o`); boxtrace's console lines go to /dev/null.",
        "",
        f"SET = `{trace_set}`",
        "",
        *table(cases),
        "",
        "Ratios. `boxtrace trace -q -o` records only, as `strace -o` does; `boxtrace trace` also "
        "formats the explained console lines (to /dev/null here). *CPU* is the user and system time "
        "of the command and the children it waited for (steadier than wall time on a loaded machine).",
        "",
        *ratios,
        "",
        f"One filtered boxtrace run of this workload: {stops}.",
        "",
        "Where the gap comes from. Filtered: the start-up. The trace loop (the `trace -q` row minus "
        "its start-up row) costs less than strace's whole filtered run (fewer stops: the filter "
        "also tests arguments); what is left over strace is boxtrace's start-up over the bare "
        "interpreter (`python -m bench.startup` breaks it down in instructions), and for `boxtrace "
        "trace` the annotator and the catalogue. With --all (~8,000-9,000 stops on runc) the cost is "
        "Python per stop in the boxtrace process: waitpid and the ptrace calls, reading strings and fd "
        "paths; the text of most calls, the JSON and the console lines are made by --all's writer "
        'process (see the "Tracer, --all" section for CPU per stop).',
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


def count_stops(boxtrace: str, argv: list[str], cleanup: Callable[[str], None]) -> str:
    """How many stops and events one filtered run makes (from the CLI's closing line)."""
    proc = subprocess.run([boxtrace, "trace", "--", *argv], capture_output=True, text=True, check=False)
    cleanup(argv[-1])
    for line in proc.stderr.splitlines():
        if "stops" in line and "events" in line:
            return line.split("done: ", 1)[-1].strip()
    return "(unknown)"


if __name__ == "__main__":
    sys.exit(main())

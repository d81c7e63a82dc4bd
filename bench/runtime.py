"""Runtime benchmark: the built-in runtime against runc (and crun, where it runs) on one busybox bundle.

boxtrace is measured as a user installs it: a regular (non-editable) install in its own venv,
`boxtrace run --no-trace BUNDLE`. The development install of the venv this runs in (`make venv`'s
links to the sources, or `make dev`'s editable install with its import hook) is shown too.
`python -c pass` in the same venv is the floor any Python runtime pays. Results replace the
"## Runtime" section of docs/benchmarks.md.

    .venv/bin/python -m bench.runtime [--runs N] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import (
    Case,
    build_bundle,
    machine_line,
    measure,
    regular_install,
    table,
    tool_version,
    write_section,
)

SECTION = "## Runtime"


def crun_works(bundle: str) -> str | None:
    """None when crun can run the bundle here, else its error (crun 1.8 refuses hybrid cgroup hosts)."""
    if shutil.which("crun") is None:
        return "crun is not installed"
    proc = subprocess.run(["crun", "run", "-b", bundle, "bxbench-crun-probe"], capture_output=True, text=True)
    subprocess.run(["crun", "delete", "-f", "bxbench-crun-probe"], capture_output=True)
    return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["failed"])[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/ alone")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench.runtime needs root (runc, cgroups)")
    installed = regular_install()
    dev = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="boxtrace-bench-") as tmp:
        bundle = str(build_bundle(Path(tmp)))
        cases = [
            Case("`runc run` (untraced)", lambda cid: ["runc", "run", "-b", bundle, cid]),
            Case(
                "`boxtrace run --no-trace` (regular install)",
                lambda cid: [str(installed / "boxtrace"), "run", "--no-trace", "--name", cid, bundle],
            ),
            Case(
                "`boxtrace run --no-trace` (this venv's development install)",
                lambda cid: [str(dev / "boxtrace"), "run", "--no-trace", "--name", cid, bundle],
            ),
            Case(
                "`python -c pass` (same venv: the floor)",
                lambda cid: [str(installed / "python"), "-c", "pass"],
            ),
        ]
        crun_problem = crun_works(bundle)
        if crun_problem is None:
            cases.insert(1, Case("`crun run` (untraced)", lambda cid: ["crun", "run", "-b", bundle, cid]))

        def cleanup(cid: str) -> None:
            for runtime in ("runc", "crun"):
                if shutil.which(runtime):
                    subprocess.run([runtime, "delete", "-f", cid], capture_output=True, check=False)

        load_before = os.getloadavg()[0]
        measure(cases, args.runs, args.warmup, cleanup)
        load_after = os.getloadavg()[0]
    runc = cases[0]
    ours = next(c for c in cases if "regular install" in c.label)
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python -m bench.runtime --runs {args.runs}` "
        f"(each command run {args.runs} times, round-robin, after a warm-up; "
        "a busybox bundle from `runc spec` running `/bin/true`).",
        "",
        f"Machine: {machine_line()}; {tool_version(['runc', '--version'])}; load average (1 min) "
        f"{load_before:.2f} before the runs, {load_after:.2f} after (the machine is shared).",
        "",
        *table(cases),
        "",
        f"**Ratio boxtrace/runc: {ours.median / runc.median:.2f} by medians, "
        f"{ours.mean / runc.mean:.2f} by means** (target <= 1.25, issue 11).",
    ]
    if crun_problem is not None:
        lines += ["", f"crun was not measured: `{crun_problem}`."]
    lines += [
        "",
        "Where a start's time goes, phase by phase, and what runc does instead: the next section's "
        '"Runtime (session 5)".',
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

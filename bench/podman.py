"""podman with boxtrace's runtime against podman with runc: `podman run --rm IMAGE /bin/true`.

One run measures, interleaved round-robin:

* ``podman --runtime runc run --rm``;
* ``podman --runtime boxtrace-runtime run --rm`` (boxtrace installed as users install it);
* ``podman --runtime boxtrace-runc run --rm`` (runc recorded in the background into a spool).

podman gets a store of its own under /tmp (vfs driver, cgroupfs manager, no events), with a busybox
image imported from a tarball; everything is removed at the end. Results go to docs/benchmarks.md,
section "## podman".

    .venv/bin/python -m bench.podman [--runs N] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from bench.common import (
    Case,
    load_line,
    machine_line,
    measure,
    regular_install,
    table,
    tool_version,
    write_section,
)
from bench.engines import busybox_tarball, podman_store

SECTION = "## podman"
IMAGE = "localhost/boxtrace-bench:1"
# podman needs these on this machine (its defaults are higher than the hard limits here).
RUN = ["--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/ alone")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench.podman needs root")
    for tool in ("podman", "runc"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench.podman needs {tool}")
    installed = regular_install()
    runtimes = {
        "runc": shutil.which("runc") or "runc",
        "boxtrace-runtime": str(installed / "boxtrace-runtime"),
        "boxtrace-runc": str(installed / "boxtrace-runc"),
    }
    with tempfile.TemporaryDirectory(prefix="bt-bench-pm-") as tmp:
        try:
            tarball = busybox_tarball(Path(tmp) / "bb.tar", ("true",))
        except FileNotFoundError as exc:
            raise SystemExit(f"bench.podman {exc}") from None
        with podman_store(tarball, IMAGE) as podman:
            # Every call of the recorded runtime, podman's cleanup process included (it passes no
            # --runtime-flag), records into the bench's own spool.
            recording = Path(tmp) / "boxtrace-runc.sh"
            recording.write_text(
                f'#!/bin/sh\nBOXTRACE_SPOOL={tmp}/spool exec {runtimes["boxtrace-runc"]} "$@"\n'
            )
            recording.chmod(0o755)

            def case(label: str, runtime: str) -> Case:
                return Case(
                    f"podman --runtime {label} run --rm",
                    lambda cid: [
                        *podman,
                        "--runtime",
                        runtime,
                        "run",
                        *RUN,
                        "--name",
                        cid,
                        IMAGE,
                        "/bin/true",
                    ],
                )

            cases = [
                case("runc", runtimes["runc"]),
                case("boxtrace-runtime", runtimes["boxtrace-runtime"]),
                case("boxtrace-runc", str(recording)),
            ]
            load_before = load_line()
            measure(cases, args.runs, args.warmup, lambda cid: None)
            load_after = load_line()
    runc, ours, recorded = cases
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python -m bench.podman --runs {args.runs}` (each command run {args.runs} "
        "times, round-robin, after a warm-up; `podman run --rm --network none IMAGE /bin/true` on a "
        "busybox image, podman with a store of its own: vfs, cgroupfs, no events).",
        "",
        f"Machine: {machine_line()}; {tool_version(['podman', '--version'])}; "
        f"{tool_version(['runc', '--version'])}. Load average (1, 5, 15 min) before the runs {load_before}, "
        f"after {load_after}.",
        "",
        *table(cases),
        "",
        f"Ratios (medians): boxtrace-runtime/runc **{ours.median / runc.median:.2f}**; "
        f"boxtrace-runc (runc recorded)/runc **{recorded.median / runc.median:.2f}** (target <= 2.5). "
        f"Means: {ours.mean / runc.mean:.2f} and {recorded.mean / runc.mean:.2f}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

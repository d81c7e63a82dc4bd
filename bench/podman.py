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
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.common import Case, machine_line, measure, regular_install, table, tool_version, write_section

SECTION = "## podman"
IMAGE = "localhost/boxtrace-bench:1"
# podman needs these on this machine (its defaults are higher than the hard limits here).
RUN = ["--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def busybox_tarball(path: Path) -> Path:
    busybox = shutil.which("busybox")
    if busybox is None:
        raise SystemExit("bench.podman needs busybox (Debian package busybox-static)")
    rootfs = path.with_suffix(".d")
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy(busybox, rootfs / "bin" / "busybox")
    (rootfs / "bin" / "true").symlink_to("busybox")
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(path), "."], check=True)
    return path


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
    # Short: podman refuses a run root longer than 50 characters.
    store = Path(tempfile.mkdtemp(prefix="bt-bench-pm-"))
    podman = [
        "podman",
        "--root", str(store / "root"),
        "--runroot", str(store / "run"),
        "--storage-driver", "vfs",
        "--cgroup-manager", "cgroupfs",
        "--events-backend", "none",
    ]  # fmt: skip
    spool = store / "spool"
    try:
        tarball = busybox_tarball(store / "bb.tar")
        subprocess.run([*podman, "import", "--quiet", str(tarball), IMAGE], check=True, capture_output=True)
        # Every call of the recorded runtime, podman's cleanup process included (it passes no
        # --runtime-flag), records into the store's own spool.
        recorded = store / "boxtrace-runc.sh"
        recorded.write_text(f'#!/bin/sh\nBOXTRACE_SPOOL={spool} exec {runtimes["boxtrace-runc"]} "$@"\n')
        recorded.chmod(0o755)

        def case(label: str, runtime: str, extra: list[str]) -> Case:
            return Case(
                f"podman --runtime {label} run --rm",
                lambda cid: [
                    *podman,
                    "--runtime",
                    runtime,
                    *extra,
                    "run",
                    *RUN,
                    "--name",
                    cid,
                    IMAGE,
                    "/bin/true",
                ],
            )

        cases = [
            case("runc", runtimes["runc"], []),
            case("boxtrace-runtime", runtimes["boxtrace-runtime"], []),
            case("boxtrace-runc", str(recorded), []),
        ]
        measure(cases, args.runs, args.warmup, lambda cid: None)
    finally:
        subprocess.run([*podman, "rm", "--all", "--force"], capture_output=True, check=False)
        subprocess.run([*podman, "system", "reset", "--force"], capture_output=True, check=False)
        shutil.rmtree(store, ignore_errors=True)
        for pattern in ("/sys/fs/cgroup/*/libpod_parent/conmon", "/sys/fs/cgroup/*/libpod_parent"):
            for path in glob.glob(pattern):
                with contextlib.suppress(OSError):
                    os.rmdir(path)
    runc, ours, recorded = cases
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python -m bench.podman --runs {args.runs}` (each command run {args.runs} "
        "times, round-robin, after a warm-up; `podman run --rm --network none IMAGE /bin/true` on a "
        "busybox image, podman with a store of its own: vfs, cgroupfs, no events).",
        "",
        f"Machine: {machine_line()}; {tool_version(['podman', '--version'])}; "
        f"{tool_version(['runc', '--version'])}.",
        "",
        *table(cases),
        "",
        f"Ratios (means): boxtrace-runtime/runc **{ours.mean / runc.mean:.2f}**; "
        f"boxtrace-runc (runc recorded)/runc **{recorded.mean / runc.mean:.2f}**.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

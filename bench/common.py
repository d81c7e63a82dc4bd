"""What every benchmark here shares: a busybox bundle, interleaved timing, the results table and
the section of docs/benchmarks.md it replaces."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"


@dataclass
class Case:
    label: str
    make: Callable[[str], list[str]]  # container id -> argv
    times: list[float] = field(default_factory=list)
    # CPU time (user + system) of each run's process and the children it waited for: steadier than
    # wall time on a shared machine, where a run also waits for a CPU.
    cpu: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.mean(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def build_bundle(root: Path, args: list[str] | None = None) -> Path:
    """A busybox OCI bundle from ``runc spec``, running /bin/true without a terminal (the lessons'
    bundle builder: one recipe for lessons, benchmarks and tests)."""
    from boxtrace.lessons.guided import build_bundle as lesson_bundle

    if shutil.which("busybox") is None or shutil.which("runc") is None:
        raise SystemExit("the benchmarks need busybox and runc (Debian packages busybox-static, runc)")
    return lesson_bundle(root / "bundle", {"args": args or ["/bin/true"]})


def measure(cases: list[Case], runs: int, warmup: int, cleanup: Callable[[str], None]) -> None:
    """Run every case once per round, round-robin, so that drift on a shared machine hits all alike."""
    counter = 0
    for i in range(warmup + runs):
        for case in cases:
            counter += 1
            cid = f"bxbench{os.getpid()}-{counter}"
            argv = case.make(cid)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
            elapsed = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cleanup(cid)
            if proc.returncode != 0:
                raise SystemExit(f"{case.label}: exit {proc.returncode}: {proc.stderr.decode()[-500:]}")
            if i >= warmup:
                case.times.append(elapsed)
                case.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


def table(cases: list[Case]) -> list[str]:
    rows = [
        "| command | min (ms) | median (ms) | mean (ms) | stdev (ms) | CPU median (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in cases:
        rows.append(
            f"| {c.label} | {min(c.times) * 1e3:.1f} | {c.median * 1e3:.1f} | {c.mean * 1e3:.1f} "
            f"| {statistics.pstdev(c.times) * 1e3:.1f} | {c.cpu_median * 1e3:.1f} |"
        )
    return rows


def load_line() -> str:
    """The machine's load averages (1, 5, 15 min): other work on a shared machine shows in the times."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def machine_line() -> str:
    kernel = platform.release()
    return f"{platform.node()}, kernel {kernel}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def write_section(section: str, text: str) -> None:
    """Replace (or append) the section headed ``section`` in docs/benchmarks.md."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    start = doc.find(f"\n{section}\n")
    if start < 0:
        doc = doc.rstrip("\n") + "\n\n" + text
    else:
        end = doc.find("\n## ", start + len(section) + 2)
        doc = doc[: start + 1] + text + ("" if end < 0 else doc[end:])
    DOC.write_text(doc if doc.endswith("\n") else doc + "\n")


BENCH_VENV = REPO / "build" / "bench-venv"


def regular_install() -> Path:
    """boxtrace installed from this checkout as a user installs it (not editable), in its own venv.

    setuptools' default editable install adds an import hook that costs ~15 ms at every start;
    users do not pay it (nor does `make venv`'s install, which links to the sources).
    Returns the venv's bin directory.
    """
    import sys
    import tempfile

    python = BENCH_VENV / "bin" / "python"
    # From the interpreter this benchmark runs on (the .venv's: Debian's python3 by default), so
    # that the figures are those of the interpreter users get; made again if that changed.
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    if python.exists() and os.path.realpath(python) != base:
        shutil.rmtree(BENCH_VENV)
    if python.exists() and os.environ.get("BOXTRACE_BENCH_REUSE_INSTALL") == "1":
        # In a VM with no network (the lanes): pip's isolated build cannot fetch setuptools there;
        # the install made on the host from the same checkout is the one to measure.
        return BENCH_VENV / "bin"
    if not python.exists():
        subprocess.run([base, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "--force-reinstall", "--no-deps", str(REPO)], check=True, cwd=tempfile.gettempdir())
    subprocess.run([*pip, str(REPO)], check=True, cwd=tempfile.gettempdir())  # the dependencies
    # Compiled once here, as an installer does: with PYTHONDONTWRITEBYTECODE set every start recompiles.
    subprocess.run([str(python), "-m", "compileall", "-q", str(BENCH_VENV / "lib")], check=False)
    shutil.rmtree(REPO / "build" / "lib", ignore_errors=True)
    return BENCH_VENV / "bin"


def tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    except OSError:
        return "not installed"
    return out.splitlines()[0].strip() if out else "unknown"

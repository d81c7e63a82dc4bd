"""Soak: many container starts, some interrupted at random moments, some at once; then the host is
checked for anything left behind.

    python -m bench.soak                        # 200 starts, 50 interrupted, 8 at once at times
    python -m bench.soak --starts 20 --interrupt 5 --concurrency 3
    python -m bench.soak --write-doc            # the table into docs/benchmarks.md, ## Reliability

Kinds of start, in turn: ``boxtrace run`` traced and untraced, ``boxtrace trace -- boxtrace-runtime
run``, ``boxtrace-runtime create/start/delete`` of a bundle (recorded into the trace spool with
``--record``), and a guided lesson (``boxtrace lessons run NAME --plain``). An interrupted start gets
SIGINT (to its process group, as Ctrl-C on a terminal), SIGTERM or SIGKILL (to the process, as
``kill``) after a random delay. Afterwards, once every process the soak started is gone (the cleanup
guards of SIGKILLed runtimes included: waited for, bounded), the host must hold: no process of the
soak, none stopped under ptrace, no mount, cgroup or state directory of its containers, no
temporary file, no half-built cached image, and every recorded trace must export.

Root only: the containers are real. The soak's processes carry ``BOXTRACE_SOAK_MARK`` in their
environment (the containers' too), so that it tells its own from those of anything else running.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

MARK = "BOXTRACE_SOAK_MARK"
KINDS = ("run-traced", "run-untraced", "trace-runtime", "runtime-lifecycle", "lesson")
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
LESSONS = ("pid-namespace", "mount-namespace")
JOB_TIMEOUT = 120.0  # a start that takes longer than this is stuck: a failure
GUARD_WAIT = 30.0  # how long the soak's processes (the guards) may take to finish after the last job
STATE_ROOTS = ("/run/boxtrace", "/run/boxtrace-runtime")
CACHE = "/var/cache/boxtrace"
BIN = Path(sys.executable).parent


@dataclass
class Job:
    number: int
    kind: str
    container: str
    signal: signal.Signals | None = None
    delay: float = 0.0
    batch: int = 1  # how many jobs started at once with this one
    status: int | None = None
    delivered: bool = False  # the signal reached a live process
    problems: list[str] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)
    early_interrupts: int = 0  # SIGINTs that came before any of boxtrace's code ran (_before_our_code)


@dataclass
class Result:
    jobs: list[Job]
    leftovers: list[str]
    wall: float
    command: str

    @property
    def failures(self) -> list[str]:
        return [f"#{j.number} {j.kind} ({j.container}): {p}" for j in self.jobs for p in j.problems]

    def table(self) -> str:
        kinds = Counter(j.kind for j in self.jobs)
        signals = Counter(j.signal.name for j in self.jobs if j.signal is not None and j.delivered)
        late = sum(1 for j in self.jobs if j.signal is not None and not j.delivered)
        together = sum(1 for j in self.jobs if j.batch > 1)
        widest = max((j.batch for j in self.jobs), default=1)
        traces = sum(len(j.traces) for j in self.jobs)
        rows = [
            "| what | count |",
            "| --- | ---: |",
            *(f"| starts: {kind} | {kinds[kind]} |" for kind in KINDS),
            f"| starts in all | {len(self.jobs)} |",
            *(f"| interrupted by {name} | {signals[name]} |" for name in ("SIGINT", "SIGTERM", "SIGKILL")),
            f"| signal planned but the start had already ended | {late} |",
            f"| started at once with others (up to {widest} at a time) | {together} |",
            f"| trace files recorded, all exported | {traces} |",
            f"| SIGINT during Python's own start, before boxtrace's code (Python's traceback) "
            f"| {sum(j.early_interrupts for j in self.jobs)} |",
            f"| failures | {len(self.failures)} |",
            f"| leftovers found | {len(self.leftovers)} |",
            f"| wall time | {self.wall:.0f} s |",
        ]
        return "\n".join(rows)


def _plan(starts: int, interrupts: int, concurrency: int, rng: random.Random) -> list[list[Job]]:
    """Jobs in rounds: a round is one job, or ``concurrency`` jobs started together."""
    tag = f"soak{os.getpid()}"
    jobs = [Job(n, KINDS[n % len(KINDS)], f"{tag}-{n}") for n in range(starts)]
    for job in rng.sample(jobs, min(interrupts, starts)):
        job.signal = rng.choice(SIGNALS)
        job.delay = rng.uniform(0.02, 0.8)
    rounds: list[list[Job]] = []
    at = 0
    while at < starts:
        size = concurrency if concurrency > 1 and rng.random() < 0.25 else 1
        batch = jobs[at : at + size]
        for job in batch:
            job.batch = len(batch)
        rounds.append(batch)
        at += size
    # A short soak still starts some together.
    if concurrency > 1 and not any(len(r) > 1 for r in rounds) and starts >= concurrency:
        flat = [j for r in rounds for j in r]
        for job in flat[:concurrency]:
            job.batch = concurrency
        rounds = [flat[:concurrency], *[[j] for j in flat[concurrency:]]]
    return rounds


class Soak:
    def __init__(self, work: Path, root: Path, mark: str) -> None:
        self.work = work
        self.root = root  # boxtrace-runtime's --root
        self.spool = work / "spool"
        self.traces = work / "traces"
        self.logs = work / "logs"
        for d in (self.spool, self.traces, self.logs):
            d.mkdir(parents=True)
        self.mark = mark
        self.env = dict(os.environ, BOXTRACE_SPOOL=str(self.spool), **{MARK: mark})
        self.bundle = self._bundle()

    def _bundle(self) -> Path:
        from boxtrace.lessons.guided import build_bundle

        env = ["PATH=/bin", f"{MARK}={self.mark}"]
        return build_bundle(
            self.work / "bundle", {"args": ["sh", "-c", "sleep 0.5"], "config": {"process": {"env": env}}}
        )

    def _boxtrace(self, *args: str) -> list[str]:
        return [str(BIN / "boxtrace"), *args]

    def _runtime(self, *args: str) -> list[str]:
        return [str(BIN / "boxtrace-runtime"), "--root", str(self.root), *args]

    def steps(self, job: Job) -> list[list[str]]:
        """The commands of a job, in order (the lifecycle has three)."""
        cid = job.container
        trace = str(self.traces / f"{cid}.jsonl")
        sleep = ["--", "sh", "-c", "sleep 0.5"]
        if job.kind == "run-traced":
            job.traces.append(trace)
            return [
                self._boxtrace(
                    "run", "--plain", "-q", "-o", trace, "--name", cid, "-e", f"{MARK}={self.mark}", *sleep
                )
            ]
        if job.kind == "run-untraced":
            return [self._boxtrace("run", "--no-trace", "--name", cid, "-e", f"{MARK}={self.mark}", *sleep)]
        if job.kind == "trace-runtime":
            job.traces.append(trace)
            return [
                self._boxtrace(
                    "trace", "-q", "-o", trace, "--", *self._runtime("run", "-b", str(self.bundle), cid)
                )
            ]
        if job.kind == "runtime-lifecycle":
            return [
                self._runtime("--record", "create", "-b", str(self.bundle), cid),
                self._runtime("--record", "start", cid),
                self._runtime("delete", "--force", cid),
            ]
        return [self._boxtrace("lessons", "run", LESSONS[job.number % len(LESSONS)], "--plain")]

    def run_job(self, job: Job, rng: random.Random) -> None:
        steps = self.steps(job)
        # The lifecycle's signal lands in create or start; its delete always runs, as a user
        # deletes a container whose create or start was cut short, and must then work.
        target = rng.randrange(len(steps) - 1) if len(steps) > 1 else 0
        interrupted = False
        for index, argv in enumerate(steps):
            last = index == len(steps) - 1
            if interrupted and not last:
                continue
            interrupt = job.signal if index == target else None
            status, stderr = self._run(argv, job, interrupt, index)
            if index == target:
                job.status = status
            what = (
                " ".join(Path(argv[0]).name for _ in (0,))
                + " "
                + " ".join(a for a in argv[1:5] if not a.startswith("/"))
            )
            if "Traceback" in stderr and _before_our_code(stderr):
                job.early_interrupts += 1
            elif "Traceback" in stderr:
                job.problems.append(f"{what}: traceback: {stderr.strip().splitlines()[-1]}")
            if interrupt is not None and job.delivered:
                interrupted = True
            elif status != 0 and not (interrupted and last and status == 1):
                job.problems.append(f"{what}: exited {status}: {stderr.strip()[-300:]}")

    def _run(
        self, argv: list[str], job: Job, interrupt: signal.Signals | None, index: int
    ) -> tuple[int | None, str]:
        log = self.logs / f"{job.container}.{index}.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True,
            )  # fmt: skip
            if interrupt is not None:
                try:
                    proc.wait(timeout=job.delay)
                except subprocess.TimeoutExpired:
                    job.delivered = True
                    if interrupt == signal.SIGINT:
                        os.killpg(proc.pid, interrupt)  # Ctrl-C: the terminal signals the whole group
                    else:
                        proc.send_signal(interrupt)
            try:
                status: int | None = proc.wait(timeout=JOB_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                status = None
                job.problems.append(f"{' '.join(argv[:3])} still running after {JOB_TIMEOUT:.0f} s: killed")
        return status, log.read_text(errors="replace")


def _before_our_code(stderr: str) -> bool:
    """A KeyboardInterrupt traceback from the interpreter's own start: site, or the console script
    pip wrote (``import re``, the import of our main module) before boxtrace/__init__.py installed
    its one-line handler. No frame outside the standard library and that script: Python prints
    these, before any code of ours can run."""
    if "Fatal Python error: init_import_site" in stderr:
        return True
    frames = [line.split('"')[1] for line in stderr.splitlines() if line.strip().startswith('File "')]
    stdlib = sysconfig.get_paths()["stdlib"]
    ours = [f for f in frames if not f.startswith(("<frozen", stdlib, str(BIN)))]
    return stderr.rstrip().endswith("KeyboardInterrupt") and bool(frames) and not ours


def marked_processes(mark: str) -> list[str]:
    needle = f"{MARK}={mark}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if needle not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{name}/stat") as handle:
                comm, _, rest = handle.read().rpartition(")")
        except OSError:
            continue
        state = rest.split()[0]
        if state not in ("Z", "X"):
            found.append(f"process {name} ({comm.partition('(')[2]}) state {state}")
    return found


def _stopped_processes() -> set[int]:
    stopped = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as handle:
                    if handle.read().rsplit(")", 1)[1].split()[0] == "t":
                        stopped.add(int(name))
            except (OSError, IndexError):
                continue
    return stopped


def _stuck(stopped_before: set[int], settle: float = 3.0) -> set[int]:
    """Processes stopped under ptrace (state t) that were not before and make no progress for
    ``settle`` seconds: a tracee of a live tracer (another session's, on a shared machine) is in
    state t at each of its stops, but is resumed (its context switches count up)."""
    candidates = {pid: _switches(pid) for pid in _stopped_processes() - stopped_before}
    deadline = time.monotonic() + settle
    while candidates and time.monotonic() < deadline:
        time.sleep(0.1)
        stopped = _stopped_processes()
        candidates = {p: n for p, n in candidates.items() if p in stopped and _switches(p) == n}
    return set(candidates)


def _switches(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            return sum(int(line.split()[1]) for line in handle if "ctxt_switches" in line)
    except (OSError, ValueError, IndexError):
        return -1


def _temp_files() -> set[str]:
    return set(glob.glob("/tmp/boxtrace-*")) | set(glob.glob(os.path.join(CACHE, ".building-*")))


def check_host(soak: Soak, jobs: list[Job], stopped_before: set[int], temp_before: set[str]) -> list[str]:
    """What the soak left behind (an empty list: nothing)."""
    deadline = time.monotonic() + GUARD_WAIT
    while marked_processes(soak.mark) and time.monotonic() < deadline:
        time.sleep(0.1)
    found = marked_processes(soak.mark)
    found += [f"process {pid} stopped under ptrace (state t)" for pid in sorted(_stuck(stopped_before))]
    ids = [j.container for j in jobs]
    with open("/proc/self/mountinfo") as handle:
        mounts = handle.read().splitlines()
    where = [str(soak.work), str(soak.root), *STATE_ROOTS]
    found += [f"mount {line.split()[4]}" for line in mounts if any(w in line.split()[4] for w in where)]
    for cid in ids:
        found += [
            f"cgroup {d}"
            for d in glob.glob(f"/sys/fs/cgroup/*/boxtrace-{cid}")
            + glob.glob(f"/sys/fs/cgroup/boxtrace-{cid}")
        ]
        found += [f"state dir {d}" for d in (os.path.join(r, cid) for r in STATE_ROOTS) if os.path.lexists(d)]
    if soak.root.exists():
        found += [f"state dir {soak.root / name}" for name in os.listdir(soak.root)]
    found += [f"temporary file {p}" for p in sorted(_temp_files() - temp_before)]
    found += [f"spool partial file {p}" for p in sorted(glob.glob(str(soak.spool / ".*")))]
    for job in jobs:
        job.traces = [t for t in job.traces if os.path.exists(t)]
        if job.kind == "runtime-lifecycle":
            job.traces += glob.glob(str(soak.spool / f"*{job.container}*.jsonl"))
        for trace in job.traces:
            problem = _export_problem(trace, job)
            if problem:
                job.problems.append(problem)
    return found


def _export_problem(trace: str, job: Job) -> str | None:
    done = subprocess.run(
        [str(BIN / "boxtrace"), "export", trace, "--format", "strace"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False, timeout=120,
    )  # fmt: skip
    if done.returncode == 0 and "Traceback" not in done.stderr:
        return None
    # A recorder killed by SIGKILL may leave its last line cut: that line may be refused.
    with open(trace, "rb") as handle:
        last = sum(1 for _ in handle)
    if (
        job.signal == signal.SIGKILL
        and job.delivered
        and f":{last}: " in done.stderr
        and "Traceback" not in done.stderr
    ):
        return None
    return f"boxtrace export {trace} exited {done.returncode}: {done.stderr.strip()[-300:]}"


def soak(starts: int, interrupts: int, concurrency: int, seed: int, root: str | None = None) -> Result:
    if os.geteuid() != 0:
        raise SystemExit("bench.soak: run as root (the containers are real)")
    rng = random.Random(seed)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="btsoak-"))
    own_root = root is None
    state_root = Path(root) if root else work / "root"
    stopped_before, temp_before = _stopped_processes(), _temp_files()
    keep = True  # the logs and state stay for a look when something went wrong
    try:
        runner = Soak(work, state_root, mark=f"{os.getpid()}-{seed}")
        rounds = _plan(starts, interrupts, concurrency, rng)
        jobs = [j for r in rounds for j in r]
        for batch in rounds:
            seeds = [rng.random() for _ in batch]
            threads = [
                threading.Thread(target=runner.run_job, args=(job, random.Random(s)))
                for job, s in zip(batch, seeds, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        leftovers = check_host(runner, jobs, stopped_before, temp_before)
        command = (
            f"python -m bench.soak --starts {starts} --interrupt {interrupts} "
            f"--concurrency {concurrency} --seed {seed}"
        )
        result = Result(jobs, leftovers, time.monotonic() - started, command)
        keep = bool(result.failures or result.leftovers)
        return result
    finally:
        if own_root and state_root.exists() and not os.listdir(state_root):
            state_root.rmdir()
        if keep:
            print(f"bench.soak: logs and state kept in {work}", file=sys.stderr)
        elif not _mounts_under(work):
            shutil.rmtree(work, ignore_errors=True)


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as handle:
        return [line.split()[4] for line in handle if line.split()[4].startswith(str(path))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=200)
    parser.add_argument("--interrupt", type=int, default=50, help="how many starts get a signal")
    parser.add_argument("--concurrency", type=int, default=8, help="how many start at once at times")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--root", help="boxtrace-runtime's --root (default: a directory of the soak's own)")
    parser.add_argument("--write-doc", action="store_true", help="put the table into docs/benchmarks.md")
    parser.add_argument("--json", metavar="FILE", help="also write the jobs and findings as JSON")
    args = parser.parse_args(argv)
    result = soak(args.starts, args.interrupt, args.concurrency, args.seed, args.root)
    print(result.table())
    for line in result.failures + [f"leftover: {x}" for x in result.leftovers]:
        print(line)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "failures": result.failures,
                    "leftovers": result.leftovers,
                    "jobs": [
                        {"kind": j.kind, "container": j.container, "delivered": j.delivered,
                         "signal": j.signal.name if j.signal else None, "status": j.status, "batch": j.batch}
                        for j in result.jobs
                    ],
                },
                indent=1,
            )
        )  # fmt: skip
    if args.write_doc:
        from bench.common import machine_line, write_section

        write_section(
            "## Reliability",
            f"## Reliability\n\n`{result.command}` on {machine_line()}:\n\n{result.table()}\n",
        )
    return 0 if not result.failures and not result.leftovers else 1


if __name__ == "__main__":
    sys.exit(main())

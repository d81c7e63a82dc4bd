"""TUI benchmark: replay a 100,000-event trace; time to first paint, key-to-repaint latency while
stepping and scrolling, peak memory. Writes the "## TUI" section of docs/benchmarks.md.

    .venv/bin/python -m bench.tui [--events 100000] [--keys 200] [--no-write] [--only|--profile ACTION]

``--only ACTION`` (step, step_back, down, page, phase, end_back, search) times that action alone and
prints its figures; ``--profile ACTION`` does so under cProfile and prints where the UI thread spent
its time. Neither writes anything.

The trace is synthesised from a real recording (tests/tui/data/container-start.jsonl, one
`boxtrace run` of the default container): its events repeated with fresh seqs, times and pids, so
each copy reads like another container start.
"""

from __future__ import annotations

import time

PROCESS_START = time.monotonic()  # before textual is imported: first paint counts the imports

import argparse  # noqa: E402
import asyncio  # noqa: E402
import copy  # noqa: E402
import cProfile  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.common import REPO, machine_line, write_section  # noqa: E402

SOURCE = REPO / "tests" / "tui" / "data" / "container-start.jsonl"
SIZE = (160, 48)


def synthesise(target: Path, count: int) -> int:
    from boxtrace.tracer.events import SpawnEvent
    from boxtrace.tracer.tracefile import TraceWriter, read_trace

    header, events = read_trace(str(SOURCE))
    span = max(e.time for e in events) + 0.01
    written = 0
    with TraceWriter(str(target), header) as writer:
        rep = 0
        while written < count:
            batch = []
            shift = rep * 1000  # pids of each copy are distinct, like consecutive container starts
            for e in events[: count - written]:
                c = copy.copy(e)
                c.seq = e.seq + rep * len(events)
                c.time = e.time + rep * span
                c.pid, c.tid = e.pid + shift, e.tid + shift
                if isinstance(c, SpawnEvent):
                    c.child = e.child + shift
                batch.append(c)
            writer.write_events(batch)
            written += len(batch)
            rep += 1
    return written


def rss_mb() -> float:
    """The process's resident memory now (the peak is ru_maxrss)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


# What each measured action presses, in turn; a search types its text (not timed) and times enter.
ACTIONS: tuple[tuple[str, str, list[str]], ...] = (
    ("step", "step forward (n)", ["n"]),
    ("step_back", "step back (backspace)", ["backspace"]),
    ("down", "down (↓)", ["down"]),
    ("page", "page down (PgDn)", ["pagedown"]),
    ("phase", "next phase (N)", ["N"]),
    ("end_back", "End, then step back from the end", ["end"] + ["backspace"] * 9),
    ("search", "search again (/ pivot_root enter)", ["search:pivot_root"]),
)
PANES = ("events", "explanation", "processes", "mounts", "cgroups", "output")
PANE_LABELS = {
    "events": "list",
    "explanation": "explanation",
    "processes": "processes",
    "mounts": "mounts",
    "cgroups": "cgroups",
    "output": "output",
}


class Round:
    """One timed key: when it arrived, and when each pane was first painted showing its step."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.cpu = time.thread_time()
        self.updated: set[str] = set()  # panes brought up to date since the key (changed or not)
        self.painted: dict[str, float] = {}  # pane -> seconds from the key to the paint that showed it
        self.cpu_done: float | None = None  # CPU seconds of the UI thread until the last pane's paint
        self.ahead = 0.0  # CPU seconds the app spent after the paint rendering ahead for the next key


def probed_app(path: Path) -> tuple[object, list[Round]]:
    """The replay app, timing each armed key from its arrival to the end of the first paint in which
    each pane shows the step the key moved to (its ``shown`` entry, written when the app brings the
    pane up to date, is the key's step): the list and every side pane, apart."""
    from textual import events
    from textual.screen import Screen

    from boxtrace.tui.app import BoxtraceApp, ReplaySource

    rounds: list[Round] = []

    class Shown(dict[str, int]):
        def __setitem__(self, pane: str, step: int) -> None:
            super().__setitem__(pane, step)
            if rounds and len(rounds[-1].painted) < len(PANES):
                rounds[-1].updated.add(pane)

    class Probed(BoxtraceApp):
        armed = False

        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self.shown = Shown()

        async def on_event(self, event: events.Event) -> None:
            if self.armed and isinstance(event, events.Key) and not event.is_forwarded:
                self.armed = False
                rounds.append(Round())
            await super().on_event(event)

        def _prepare_next(self, run: int) -> None:
            start = time.thread_time()
            super()._prepare_next(run)
            if rounds:
                rounds[-1].ahead += time.thread_time() - start

        def _collect_ahead(self, run: int) -> None:
            start = time.thread_time()
            super()._collect_ahead(run)
            if rounds:
                rounds[-1].ahead += time.thread_time() - start

        def _display(self, screen: Screen[object], renderable: object) -> None:
            super()._display(screen, renderable)  # type: ignore[arg-type]
            if not rounds or rounds[-1].cpu_done is not None:
                return
            r = rounds[-1]
            now = time.perf_counter()
            for pane in r.updated:
                if pane not in r.painted and self.shown.get(pane) == self.cursor:
                    r.painted[pane] = now - r.start
            if len(r.painted) == len(PANES):
                r.cpu_done = time.thread_time() - r.cpu

    return Probed("replay", replay=ReplaySource(path=str(path))), rounds


async def press_timed(app: object, pilot: object, rounds: list[Round], key: str) -> None:
    """Press ``key`` (``search:TEXT``: open the search, type TEXT, time the enter) and wait until every
    pane has been painted for it, at most 10 s."""
    keys = [key]
    if key.startswith("search:"):
        # The dialog opens with the last search's text: typed the first time only.
        text = key[7:]
        await pilot.press("slash", *([] if app.search_text == text else text))  # type: ignore[attr-defined]
        keys = ["enter"]
    count = len(rounds)
    app.armed = True  # type: ignore[attr-defined]
    await pilot.press(*keys)  # type: ignore[attr-defined]
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline:
        if len(rounds) > count and rounds[-1].cpu_done is not None:
            return
        await asyncio.sleep(0.002)
    raise SystemExit(f"key {key!r}: not every pane was painted within 10 s")


async def measure(path: Path, keys: int, only: str | None = None, profile: bool = False) -> dict[str, object]:
    app, rounds = probed_app(path)
    out: dict[str, object] = {}
    async with app.run_test(size=SIZE) as pilot:  # type: ignore[attr-defined]
        while app.first_paint is None:  # type: ignore[attr-defined]
            await pilot.pause(0.005)
        out["first_paint"] = app.first_paint - PROCESS_START  # type: ignore[attr-defined]
        while not app.loaded:  # type: ignore[attr-defined]
            await pilot.pause(0.05)
        out["loaded"] = time.monotonic() - PROCESS_START
        out["loaded_mb"] = rss_mb()
        out["events"] = len(app.model)  # type: ignore[attr-defined]
        await pilot.pause()
        load = []
        profiler = cProfile.Profile() if profile else None
        for name, _label, key_seq in ACTIONS:
            if only and name != only:
                continue
            rounds.clear()
            load.append(os.getloadavg()[0])
            if profiler is not None:
                profiler.enable()  # this thread only: the UI's
            for i in range(keys):
                await press_timed(app, pilot, rounds, key_seq[i % len(key_seq)])
            if profiler is not None:
                profiler.disable()
            load.append(os.getloadavg()[0])
            for pane in PANES:
                times = [r.painted[pane] for r in rounds]
                out[f"{name}.{pane}"] = (statistics.median(times), p95(times), max(times))
            cpu = [r.cpu_done or 0.0 for r in rounds]
            out[f"{name}.cpu"] = (statistics.median(cpu), p95(cpu), max(cpu))
            ahead = [r.ahead for r in rounds[:-1] or rounds]  # the last round's may not have ended
            out[f"{name}.ahead"] = (statistics.median(ahead), p95(ahead), max(ahead))
        out["load"] = (min(load), max(load))
        out["profile"] = profiler
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def ms(triple: object) -> str:
    p50, p95_, top = triple  # type: ignore[misc]
    return f"{p95_ * 1e3:.1f} ({p50 * 1e3:.1f} / {top * 1e3:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=200, help="key presses per measured action")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument(
        "--profile",
        metavar="ACTION",
        choices=[name for name, _, _ in ACTIONS],
        help="time ACTION alone under cProfile and print the profile",
    )
    parser.add_argument(
        "--only",
        metavar="ACTION",
        choices=[name for name, _, _ in ACTIONS],
        help="time ACTION alone and print its figures (nothing is written)",
    )
    parser.add_argument("--profile-out", metavar="FILE", help="with --profile: save the profile (pstats) too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "big.jsonl"
        t = time.monotonic()
        n = synthesise(trace, args.events)
        synth = time.monotonic() - t
        global PROCESS_START
        PROCESS_START += synth  # synthesising the file is not part of opening it
        r = asyncio.run(measure(trace, args.keys, args.only or args.profile, bool(args.profile)))
    if args.only or args.profile:
        name = args.only or args.profile
        under = " (under cProfile)" if args.profile else ""
        print(
            f"{name}: list",
            ms(r[f"{name}.events"]),
            "CPU",
            ms(r[f"{name}.cpu"]),
            "ahead",
            ms(r[f"{name}.ahead"]) + under,
        )
        if not args.profile:
            return
        stats = pstats.Stats(r["profile"])  # type: ignore[arg-type]
        if args.profile_out:
            stats.dump_stats(args.profile_out)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        return
    side = [p for p in PANES if p != "events"]
    list_p95 = max(r[f"{name}.events"][1] for name, _, _ in ACTIONS)  # type: ignore[index]
    panes_p95 = max(r[f"{name}.{p}"][1] for name, _, _ in ACTIONS for p in side)  # type: ignore[index]
    ok = r["first_paint"] < 1.5 and list_p95 < 0.016 and panes_p95 < 0.05 and r["peak_mb"] < 300  # type: ignore[operator]
    low, high = r["load"]  # type: ignore[misc]
    lines = [
        "## TUI",
        "",
        f"`.venv/bin/python -m bench.tui --events {args.events} --keys {args.keys}` on {machine_line()}; "
        f"load average (1 min) {low:.1f}-{high:.1f} during the key presses. "
        f"Replay of a {n:,}-event trace synthesised from a real `boxtrace run` recording (its events "
        f"repeated with fresh seqs, times and pids), in Textual's headless driver at {SIZE[0]}x{SIZE[1]}. "
        f"{args.keys} presses per action. A key is timed inside the app from its arrival to the end of "
        "the first paint in which a pane shows the step the key moved to (a pane whose text does not "
        "change counts from the paint after the app checked it): the list, and each side pane apart. "
        "CPU is the UI thread's CPU time from the key to the last pane's paint: the figure a loaded "
        "machine disturbs least. Ahead is the UI thread's CPU time after that paint, while the app "
        "waits for the next key, spent rendering ahead what that key likely shows (and collecting "
        "the young garbage): a key pressed meanwhile waits for one piece of it at most.",
        "",
        "| measure | value | target |",
        "| --- | ---: | ---: |",
        f"| time to first paint (from process start, imports included) | {r['first_paint']:.2f} s "
        "| < 1.5 s |",
        f"| whole file loaded (on a thread, the UI usable meanwhile) | {r['loaded']:.2f} s | |",
        f"| memory once the file is loaded (RSS) | {r['loaded_mb']:.0f} MB | |",
        f"| peak memory (max RSS of the process) | {r['peak_mb']:.0f} MB | < 300 MB |",
        "",
        "Key to paint, in ms: p95 (median / max). Targets: the list < 16 ms p95, every side pane "
        "< 50 ms p95.",
        "",
        "| key | " + " | ".join(PANE_LABELS[p] for p in PANES) + " | CPU | ahead |",
        "| --- |" + " ---: |" * (len(PANES) + 2),
    ]
    for name, label, _ in ACTIONS:
        cells = [ms(r[f"{name}.{p}"]) for p in PANES] + [ms(r[f"{name}.cpu"]), ms(r[f"{name}.ahead"])]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"All targets met: **{'yes' if ok else 'no'}**.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("## TUI", text)


if __name__ == "__main__":
    main()

"""A replayed trace file keeps line offsets and digests, not events: it must show and do exactly what a
replay of the same events held in memory does (list, phases, filter, search, breakpoints, world,
panes, export), hold no event objects beyond its cache, and survive the file changing under it."""

from __future__ import annotations

import copy
import gc
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input
from textual.widgets._footer import FooterKey

from boxtrace.tracer.events import Event, SpawnEvent, SyscallEvent
from boxtrace.tracer.trace_index import TraceIndex
from boxtrace.tracer.tracefile import TraceWriter, read_trace
from boxtrace.tui.app import BoxtraceApp, ReplaySource
from boxtrace.tui.loader import ReplayDigester
from boxtrace.tui.options import TuiOptions
from boxtrace.tui.search import SearchText
from boxtrace.tui.store import CACHE_SIZE, FileEvents
from boxtrace.tui.timeline import TraceModel
from boxtrace.tui.world import World, WorldTimeline
from tests.tui.helpers import fixed_explanation, recorded

SIZE = (160, 48)


def repeated(copies: int) -> list[Event]:
    """The recorded container start, ``copies`` times, with fresh seqs, times and pids each time."""
    _, events = recorded()
    span = max(e.time for e in events) + 0.01
    out: list[Event] = []
    for rep in range(copies):
        for e in events:
            c = copy.copy(e)
            c.seq, c.time = e.seq + rep * len(events), e.time + rep * span
            c.pid, c.tid = e.pid + rep * 1000, e.tid + rep * 1000
            if isinstance(c, SpawnEvent):
                c.child = e.child + rep * 1000
            out.append(c)
    return out


def write_trace(path: Path, events: list[Event]) -> str:
    with TraceWriter(str(path), recorded()[0]) as writer:
        writer.write_events(events)
    return str(path)


def file_model(path: str, every: int, chunk: int) -> tuple[TraceModel, FileEvents, WorldTimeline]:
    """What the app builds from a file, without the app: the loader's chunks taken in order."""
    store = FileEvents()
    index = TraceIndex(path)
    store.attach(index)
    model = TraceModel(events=store)
    timeline = WorldTimeline(model.events, every=every)
    digester = ReplayDigester(every)

    def take() -> None:
        part = digester.take()
        store.extend(part.offsets, part.lengths, part.seqs)
        model.take(part.digest)
        timeline.add_checkpoints(part.checkpoints)

    for offset, length, event in index.scan():
        digester.add(offset, length, event)
        if len(digester) == chunk:
            take()
    take()
    return model, store, timeline


def world_facts(w: World) -> tuple[Any, ...]:
    procs = sorted(
        (p.pid, p.parent, p.comm, sorted(p.ns.items()), sorted(p.new_ns), p.inner_pid, p.argv, p.ended)
        for p in w.procs.values()
    )
    mounts = [(m.target, m.source, m.fstype, m.options, m.readonly, m.seq, m.old_root) for m in w.mounts]
    groups = sorted((k, c.path, c.version, sorted(c.files.items()), c.removed) for k, c in w.cgroups.items())
    return procs, w.root_pid, mounts, sorted(w.propagation.items()), groups, w.hostname, w.seen


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Event]]:
    events = repeated(4)
    return write_trace(tmp_path_factory.mktemp("replay") / "four.jsonl", events), events


# ---- the model, without the app ----


def test_the_file_model_equals_the_in_memory_model(trace_file: tuple[str, list[Event]]) -> None:
    path, events = trace_file
    memory = TraceModel()
    memory.extend(events)
    model, store, _ = file_model(path, every=50, chunk=37)
    assert len(model) == len(store) == len(events)
    assert [store[i].to_json() for i in range(len(store))] == [e.to_json() for e in events]
    assert list(model.phases) == list(memory.phases)
    assert list(model.rows) == list(memory.rows) and list(model.heading_rows) == list(memory.heading_rows)
    assert [model.text_of(i) for i in range(len(model))] == [memory.text_of(i) for i in range(len(memory))]
    assert model.category_counts() == dict(Counter(e.category for e in events))
    names, cats = frozenset({"pivot_root", "mknodat"}), frozenset({"cgroup"})
    assert [model.matches_at(i, names, cats) for i in range(len(model))] == [
        TraceModel.matches_breakpoint(e, names, cats) for e in events
    ]
    for needle in ("pivot_root", "/proc", "MS_", "cgroups", "sh[", "zz-none", "ú"):
        for start in (-1, 0, 5, 150, len(events) - 1):
            for direction in (1, -1):
                assert model.search(needle, start, direction) == memory.search(needle, start, direction)
    for m in (model, memory):
        m.set_filter({"mount", "cgroup"})
    assert list(model.rows) == list(memory.rows) and list(model.event_row) == list(memory.event_row)
    assert model.search("proc", 0) == memory.search("proc", 0) and model.search("proc", 0) is not None
    assert [model.next_phase(i, d) for i in range(0, len(events), 7) for d in (1, -1)] == [
        memory.next_phase(i, d) for i in range(0, len(events), 7) for d in (1, -1)
    ]


def test_the_world_from_the_loaders_checkpoints_equals_a_fold(trace_file: tuple[str, list[Event]]) -> None:
    path, events = trace_file
    _, store, timeline = file_model(path, every=50, chunk=37)

    def folded(i: int) -> World:  # from scratch, no copies
        world = World()
        for e in events[: i + 1]:
            world.apply(e)
        return world

    rnd = random.Random(5)
    for i in [len(events) - 1, 3, 3, 2, *(rnd.randrange(-1, len(events)) for _ in range(60))]:
        assert world_facts(timeline.at(i)) == world_facts(folded(i)), i
    # a jump far ahead starts from the nearest checkpoint: no more than `every` events parsed again
    store._cache.clear()
    timeline.at(-1)
    parsed_before = len(store._cache)
    timeline.at(len(events) - 2)
    assert len(store._cache) - parsed_before <= 50


def test_world_copies_share_processes_until_one_changes() -> None:
    _, events = recorded()
    world = World()
    exec_at = max(i for i, e in enumerate(events) if e.kind == "exec")  # the container's process
    for e in events[:exec_at]:
        world.apply(e)
    snapshot = world.copy()
    assert events[exec_at].pid in snapshot.procs
    before = world_facts(snapshot)
    shared = [pid for pid in world.procs if world.procs[pid] is snapshot.procs[pid]]
    assert shared == list(world.procs)  # nothing copied yet
    for e in events[exec_at:]:
        world.apply(e)
    assert world_facts(snapshot) == before  # the exec, the namespaces, the exits changed only `world`
    assert world_facts(world) != before
    again = World()
    for e in events:
        again.apply(e)
    assert world_facts(world) == world_facts(again)


def test_no_change_reaches_a_checkpoint_taken_before_it() -> None:
    _, events = recorded()
    timeline = WorldTimeline(events, every=1)  # a copy after every event: every Proc shared once
    timeline.at(len(events) - 1)
    world = World()
    for i, e in enumerate(events):
        world.apply(e)
        assert world_facts(timeline._checkpoints[i + 1]) == world_facts(world), i


def test_search_text_finds_what_a_plain_scan_finds() -> None:
    rnd = random.Random(7)
    alphabet = ["a", "b", "ab", "/", "é", "\udcff", "\0", " ", "→"]
    texts = ["".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 8))) for _ in range(300)]
    st = SearchText()
    for t in texts:
        st.append(t)
    for i in rnd.sample(range(len(texts)), 40):  # rewritten texts move the ones after them
        texts[i] = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 8)))
        st.set(i, texts[i])
    assert [st.get(i) for i in range(len(texts))] == texts
    for _ in range(400):
        needle = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 3)))
        first, last = sorted(rnd.randrange(len(texts)) for _ in range(2))
        odd = rnd.random() < 0.5
        wanted = (lambda i: i % 2 == 1) if odd else (lambda i: True)
        backward = rnd.random() < 0.5
        order = range(last, first - 1, -1) if backward else range(first, last + 1)
        expected = next((i for i in order if needle in texts[i] and wanted(i)), None)
        assert st.find(needle, first, last, wanted, backward) == expected, (needle, first, last)
    st.truncate(10)
    assert len(st) == 10 and st.get(9) == texts[9]


# ---- the app ----


async def drive(app: BoxtraceApp, keys: list[str], search: str | None = None) -> list[tuple[Any, ...]]:
    """Press ``keys`` one by one; after each, what the screen says (cursor, status, every pane)."""
    seen = []
    async with app.run_test(size=SIZE) as pilot:
        while not app.loaded:
            await pilot.pause(0.02)
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            if key == "slash" and search is not None:
                await pilot.pause()
                app.screen.query_one(Input).value = search
                await pilot.press("enter")
            await pilot.pause()
            await pilot.pause()
            seen.append((key, app.cursor, app.event_list.cursor, sorted(app._pane_text.items())))
    return seen


KEYS = ["n", "n", "N", "N", "N", "n", "backspace", "P", "end", "backspace", "backspace", "home", "slash", "c"]


@pytest.mark.asyncio
@pytest.mark.parametrize("present", [False, True])
async def test_replaying_a_file_shows_what_replaying_its_events_in_memory_shows(
    trace_file: tuple[str, list[Event]], present: bool
) -> None:
    path, events = trace_file
    options = TuiOptions(present=present, break_names=frozenset({"pivot_root"}))
    from_file = BoxtraceApp("replay", options, replay=ReplaySource(path=path))
    in_memory = BoxtraceApp("replay", options, replay=ReplaySource(header=recorded()[0], events=events))
    for app in (from_file, in_memory):
        app.explainer = fixed_explanation
    shown = await drive(from_file, KEYS, search="pivot_root")
    expected = await drive(in_memory, KEYS, search="pivot_root")
    assert shown == expected
    assert from_file.store is not None and in_memory.store is None


@pytest.mark.asyncio
async def test_a_replayed_file_holds_no_events_beyond_its_cache(tmp_path: Path) -> None:
    events = repeated(30)  # 3,180 events, more than the cache holds
    path, count = write_trace(tmp_path / "t.jsonl", events), len(events)
    del events
    gc.collect()
    before = sum(1 for o in gc.get_objects() if isinstance(o, SyscallEvent))  # other tests' own
    app = BoxtraceApp("replay", replay=ReplaySource(path=path))
    async with app.run_test(size=SIZE) as pilot:
        while not app.loaded:
            await pilot.pause(0.02)
        for key in ["end", "backspace", "home", "N", "N", "pagedown"]:
            await pilot.press(key)
        await pilot.pause()
        assert len(app.model) == count and app.store is not None
        gc.collect()
        alive = sum(1 for o in gc.get_objects() if isinstance(o, SyscallEvent)) - before
        assert alive <= len(app.store._cache)
        assert len(app.store._cache) <= CACHE_SIZE < count


@pytest.mark.asyncio
async def test_export_from_a_replayed_file_reads_every_event_again(
    trace_file: tuple[str, list[Event]], tmp_path: Path
) -> None:
    path, events = trace_file
    calls: list[tuple[str, int, list[int]]] = []

    def exporter(fmt: str, header: object, got: Any, out: str) -> None:
        calls.append((fmt, len(got), [e.seq for e in got]))
        Path(out).write_text("# exported\n")

    target = tmp_path / "again.jsonl"
    app = BoxtraceApp(
        "replay", TuiOptions(exporter=exporter, export_formats=("md",)), replay=ReplaySource(path=path)
    )
    async with app.run_test(size=SIZE) as pilot:
        while not app.loaded:
            await pilot.pause(0.02)
        app.export_to("trace", str(target))
        app.export_to("md", str(tmp_path / "t.md"))
        await app.workers.wait_for_complete()
    header, again = read_trace(str(target))
    assert [e.to_json() for e in again] == [e.to_json() for e in events]
    assert header == recorded()[0]
    assert calls == [("md", len(events), [e.seq for e in events])]


@pytest.mark.asyncio
async def test_a_file_rewritten_during_the_replay_shows_an_error_not_a_crash(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl", repeated(12))
    app = BoxtraceApp("replay", replay=ReplaySource(path=path))
    async with app.run_test(size=SIZE) as pilot:
        while not app.loaded:
            await pilot.pause(0.02)
        with open(path, "r+b") as f:  # same size, same inode: what an editor saving in place does
            size = f.seek(0, 2)
            f.seek(size // 2)
            f.write(b"x" * (size - size // 2))
        await pilot.press("end")  # the last screenful is not cached: it is read again
        await pilot.pause()
        await pilot.pause()
        assert app.is_running
        assert app.error is not None and app.error.startswith(f"{path}:")
        assert "not valid JSON" in app.error
        status = app._pane_text.get("#explanation", "")
        assert "not valid JSON" in status  # the event's place shows why it cannot be shown


@pytest.mark.asyncio
async def test_the_break_key_greys_on_events_that_are_not_syscalls_and_footer_keys_do_not_pile_up() -> None:
    header, events = recorded()
    app = BoxtraceApp("replay", replay=ReplaySource(header=header, events=events))
    other = next(  # an event that is not a syscall, after one that is
        i
        for i, e in enumerate(events)
        if i and not isinstance(e, SyscallEvent) and isinstance(events[i - 1], SyscallEvent)
    )

    def break_key_enabled() -> bool:
        keys = [k for k in app.screen.query(FooterKey) if k.action == "breakpoint"]
        assert len(keys) == 1
        return not keys[0].has_class("-disabled")

    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.select_event(other)
        await pilot.pause()
        await pilot.pause()
        keys = list(app.screen.query(FooterKey))
        for _ in range(15):
            app.select_event(other)
            await pilot.pause()
            await pilot.pause()
            assert not break_key_enabled()
            app.select_event(other - 1)
            await pilot.pause()
            await pilot.pause()
            assert break_key_enabled()
        # Greyed in place: the same keys (a recompose would lay out and repaint the whole screen).
        assert list(app.screen.query(FooterKey)) == keys
        gc.collect()
        footer_keys = sum(1 for o in gc.get_objects() if isinstance(o, FooterKey))
        assert footer_keys <= 3 * len(app.screen.query(FooterKey))  # textual 8.2 kept all 30 footers' keys


@pytest.mark.asyncio
@pytest.mark.parametrize("where", ["after one byte", "in the middle", "before its closing brace"])
async def test_a_file_whose_last_line_is_cut_off_replays_its_complete_events(
    tmp_path: Path, where: str
) -> None:
    """What a crashed recorder leaves: every complete event, and a warning (not an error)."""
    events = repeated(2)
    data = Path(write_trace(tmp_path / "whole.jsonl", events)).read_bytes()
    last = data.rindex(b"\n", 0, len(data) - 1) + 1
    size = {
        "after one byte": last + 1,
        "in the middle": (last + len(data)) // 2,
        "before its closing brace": len(data) - 2,
    }[where]
    path = tmp_path / "cut.jsonl"
    path.write_bytes(data[:size])
    app = BoxtraceApp("replay", replay=ReplaySource(path=str(path)))
    async with app.run_test(size=SIZE) as pilot:
        while not app.loaded:
            await pilot.pause(0.02)
        await pilot.pause()
        assert app.error is None
        assert len(app.model) == len(events) - 1
        assert [app.model.events[i].seq for i in range(len(app.model))] == [e.seq for e in events[:-1]]
        shown = [n.message for n in app._notifications]
        assert any("the last line is cut off" in m and f"{path}:" in m for m in shown), shown

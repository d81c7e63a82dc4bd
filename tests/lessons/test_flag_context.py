"""A flag is explained as an argument of its call: CLONE_NEWNS asks clone for a new mount namespace
but tells setns which kind of namespace the fd must be. Which calls can report which names is read
from the tracer's decoders (the flag tables each decoder reaches), so a call that starts reporting a
flag cannot silently borrow another call's meaning."""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxtrace.lessons.catalogue import CatalogueError, catalogue, load_catalogue
from boxtrace.lessons.explain import explain, explain_names
from boxtrace.tracer import decoders
from boxtrace.tracer.events import Arg, SpawnEvent, SyscallEvent
from boxtrace.tracer.tables.xlat import Xlat


def _tables_reached(start: object) -> Iterator[Xlat]:
    """Every flag table a decoder can name values with: the globals its code (and the helpers,
    nested functions and decoder tables it refers to, in boxtrace.tracer) uses, and default arguments."""
    seen: set[int] = set()
    todo = [start]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Xlat):
            yield item
        elif isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, types.FunctionType) and item.__module__.startswith("boxtrace.tracer"):
            todo.extend(item.__defaults__ or ())
            todo.extend((item.__kwdefaults__ or {}).values())
            codes = [item.__code__]
            while codes:
                code = codes.pop()
                todo.extend(item.__globals__[n] for n in code.co_names if n in item.__globals__)
                codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))


def calls_reporting() -> dict[str, set[str]]:
    """Flag or value name -> the system calls whose decoder can report it."""
    found: dict[str, set[str]] = {}
    for call, decoder in decoders.DECODERS.items():
        for table in _tables_reached(decoder):
            for name, _ in table:
                found.setdefault(name, set()).add(call)
    return found


def test_the_walk_finds_the_shared_flags() -> None:
    # If a refactor hid the tables from the walk, the next test would pass vacuously.
    found = calls_reporting()
    assert found["CLONE_NEWNS"] == {"clone", "clone3", "unshare", "setns"}
    assert {"open", "openat", "openat2", "dup3"} <= found["O_CLOEXEC"]
    assert {"capset", "prctl"} <= found["CAP_SYS_ADMIN"]
    assert {"mount", "mount_setattr"} <= found["MS_PRIVATE"]
    assert {"execveat", "open_tree", "mount_setattr"} <= found["AT_EMPTY_PATH"]


def test_every_flag_shared_by_several_calls_has_a_text_for_each() -> None:
    cat = catalogue()
    gaps = []
    for name, calls in sorted(calls_reporting().items()):
        entry = cat.note_of.get(name)
        if entry is None or len(calls) < 2:
            continue  # a name without entry is test_catalogue's concern
        covered = set(entry.calls) | {call for call, _ in entry.context}
        if calls - covered:
            gaps.append(f"{entry.id}: no text for {sorted(calls - covered)}")
    assert not gaps, (
        "say what each flag means for these calls (context.CALL) or that `what` holds (calls):\n"
        + ("\n".join(gaps))
    )


def test_setns_clone_newns_says_the_fd_must_be_a_mount_namespace() -> None:
    explanation = explain_names("setns", ["CLONE_NEWNS"])
    (note,) = explanation.flags
    assert "must refer to a mount namespace" in note.meaning
    assert "joins" in note.meaning
    assert "private copy" not in note.meaning
    # The same flag for unshare and clone keeps its meaning there.
    for call in ("unshare", "clone", "clone3"):
        (note,) = explain_names(call, ["CLONE_NEWNS"]).flags
        assert "private copy of the mount table" in note.meaning


def test_unshare_clone_newpid_does_not_move_the_caller() -> None:
    (unshare,) = explain_names("unshare", ["CLONE_NEWPID"]).flags
    assert "caller does not move" in unshare.meaning
    assert "next child" in unshare.meaning and "pid 1" in unshare.meaning
    (clone,) = explain_names("clone", ["CLONE_NEWPID"]).flags
    assert clone.meaning.startswith("The child becomes pid 1")
    (setns,) = explain_names("setns", ["CLONE_NEWPID"]).flags
    assert "must refer to a PID namespace" in setns.meaning and "does not move" in setns.meaning


def _event(name: str, args: list[Arg], detail: dict[str, object] | None = None) -> SyscallEvent:
    return SyscallEvent(
        seq=1, time=0.0, pid=100, tid=100, comm="rt", nspid=[100], name=name, nr=0,
        category_name="namespace", args=args, result=0, result_text="0", errno=None,
        ns_changed={}, detail=detail or {},
    )  # fmt: skip


def test_traced_events_get_the_text_of_their_call() -> None:
    unshare = explain(_event("unshare", [Arg("flags", 0, "CLONE_NEWPID", flags=["CLONE_NEWPID"])]))
    assert "caller does not move" in unshare.flags[0].meaning
    # setns names the namespace type from the fd it was given (runc's nsexec passes nstype 0).
    setns = explain(_event("setns", [Arg("fd", 3, "3"), Arg("nstype", 0, "0")], {"namespaces": ["mnt"]}))
    assert [n.name for n in setns.flags] == ["CLONE_NEWNS"]
    assert "must refer to a mount namespace" in setns.flags[0].meaning
    spawn = SpawnEvent(
        seq=2,
        time=0.0,
        pid=100,
        tid=100,
        comm="rt",
        nspid=[100],
        child=101,
        how="clone3",
        flags=["CLONE_NEWTIME"],
    )
    assert "child is created in a new time namespace" in explain(spawn).flags[0].meaning


def test_a_context_that_names_no_call_or_repeats_calls_is_refused(tmp_path: Path) -> None:
    head = (
        '[[entry]]\nid = "flag.X"\ntitle = "t"\nwhat = "w"\nwhy = "y"\nwithout = "n"\nman = ["x(2)"]\n'
        'runtimes = "r"\n'
    )
    cases = {
        'context.Bad-Name = "x"': "is not a system call name",
        'context.setns = ""': "context.setns must be a non-empty string",
        'calls = ["setns"]\ncontext.setns = "x"': "setns is in both calls and context",
        'calls = "setns"': "calls must be a list of system call names",
    }
    for extra, problem in cases.items():
        (tmp_path / "a.toml").write_text(head + extra + "\n")
        with pytest.raises(CatalogueError, match=problem):
            load_catalogue(tmp_path)


def test_context_survives_the_cache(tmp_path: Path) -> None:
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.toml").write_text(
        '[[entry]]\nid = "flag.X"\ntitle = "t"\nwhat = "w"\nwhy = "y"\nwithout = "n"\nman = ["x(2)"]\n'
        'runtimes = "r"\ncalls = ["clone"]\ncontext.setns = "joins"\n'
    )
    first = load_catalogue(tmp_path / "cat", cache_dir=str(tmp_path / "cache"))
    again = load_catalogue(tmp_path / "cat", cache_dir=str(tmp_path / "cache"))
    for cat in (first, again):
        entry = cat["flag.X"]
        assert entry.calls == ("clone",)
        assert entry.what_in("setns") == "joins" and entry.what_in("clone") == "w"

"""`boxtrace replay --latest`: the spool's newest trace, and what it says around it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxtrace.commands.replay import _hint_at_the_container_story
from tests.cli.test_trace_cli import one_line_error
from tests.conftest import boxtrace


def test_an_empty_spool_and_a_file_with_latest_are_one_line_errors(tmp_path: Path) -> None:
    env = dict(os.environ, BOXTRACE_SPOOL=str(tmp_path / "spool"))
    proc = boxtrace("replay", "--latest", env=env)
    assert proc.returncode == 1
    assert (
        one_line_error(proc.stderr)
        == f"boxtrace replay: no traces in {tmp_path / 'spool'} yet (see 'boxtrace traces')"
    )
    proc = boxtrace("replay", "--latest", str(tmp_path / "t.jsonl"), env=env)
    assert proc.returncode == 2
    assert "give either FILE or --latest, not both" in one_line_error(proc.stderr)


def test_a_containers_later_recording_points_to_its_whole_story(capsys: pytest.CaptureFixture[str]) -> None:
    cid = "df4a821a9833ea7b1dbff4863bf03e180c695afb928e13f198a45c9e8e169841"
    _hint_at_the_container_story(f"20261128-065600.339978-runc-delete-{cid}-1396.jsonl")
    hint = capsys.readouterr().err
    assert "the newest trace is 'runc delete' of container df4a821a9833" in hint
    assert "'boxtrace replay --container df4a821a9833' shows its create, start and delete" in hint
    # A create is the story's beginning, and other traces are no container's: nothing to say.
    _hint_at_the_container_story(f"20261128-065558.411415-runc-create-{cid}-1330.jsonl")
    _hint_at_the_container_story("20261128-065558.411415-trace-1330.jsonl")
    assert capsys.readouterr().err == ""


def test_replay_container_errors(tmp_path: Path) -> None:
    env = dict(os.environ, BOXTRACE_SPOOL=str(tmp_path / "spool"))
    proc = boxtrace("replay", "--container", "abc123", env=env)
    assert proc.returncode == 1
    assert "no finished trace of container abc123 in the spool" in one_line_error(proc.stderr)
    proc = boxtrace("replay", "--container", "abc123", "--latest", env=env)
    assert proc.returncode == 2
    assert "give one of FILE, --latest or --container" in one_line_error(proc.stderr)


def test_replay_container_merges_the_containers_traces_for_the_replay_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse

    import boxtrace.tui.launch
    from boxtrace.commands import replay
    from boxtrace.tracer.tracefile import read_trace
    from tests.tracer.test_merge import exit_event, header, write

    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setenv("BOXTRACE_SPOOL", str(spool))
    for stamp, sub, start in (("100047.232176", "create", 1.0), ("100047.814078", "start", 1.5)):
        write(
            spool / f"20261128-{stamp}-runc-{sub}-c0ffee42-{int(start * 10)}.jsonl",
            header(["runc", sub, "c0ffee42"], f"2026-11-28T10:00:0{int(start)}Z", monotonic_start=start),
            [exit_event(1, 0.1, int(start * 10))],
        )
    seen: list[tuple[str, list[int]]] = []

    def fake_run_replay(path: str, options: object) -> int:
        _, events = read_trace(path)
        seen.append((path, [e.pid for e in events]))
        return 0

    monkeypatch.setattr(boxtrace.tui.launch, "run_replay", fake_run_replay)
    args = argparse.Namespace(container="c0ffee", file=None, latest=False, present=False, pace=3.0, breaks=[])
    assert replay.main(args) == 0
    [(path, pids)] = seen
    assert pids == [10, 15]  # create's process, then start's: one story
    assert not os.path.exists(path)  # the merged file lived as long as the replay

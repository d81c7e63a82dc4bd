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
    assert "boxtrace merge --container df4a821a9833 -o story.jsonl" in hint
    # A create is the story's beginning, and other traces are no container's: nothing to say.
    _hint_at_the_container_story(f"20261128-065558.411415-runc-create-{cid}-1330.jsonl")
    _hint_at_the_container_story("20261128-065558.411415-trace-1330.jsonl")
    assert capsys.readouterr().err == ""

"""A served replay ends when its server's pipe closes (textual's own web driver runs on at EOF)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

TRACE = REPO / "tests" / "tui" / "data" / "container-start.jsonl"


@pytest.mark.slow
def test_replay_quits_when_its_stdin_reaches_eof() -> None:
    env = dict(os.environ, TEXTUAL_DRIVER="boxtrace.tui.served_driver:ServedDriver", COLUMNS="100", ROWS="30")
    replay = subprocess.Popen(
        [sys.executable, "-m", "boxtrace", "replay", str(TRACE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=REPO,
    )
    try:
        assert replay.stdout is not None and replay.stdin is not None
        # The web driver's first line: the app is up and reading its stdin.
        assert replay.stdout.readline() == b"__GANGLION__\n"
        # communicate() closes its stdin (EOF) and drains its output meanwhile: a write blocked on a
        # full pipe must not be what ends it.
        replay.communicate(timeout=60)
        assert replay.returncode == 0
    finally:
        if replay.poll() is None:
            replay.kill()
            replay.wait()

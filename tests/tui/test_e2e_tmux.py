"""End to end in a real terminal: tmux runs `boxtrace run --step`, a person's keys drive it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO, needs_root

BOXTRACE = Path(sys.executable).with_name("boxtrace")
# The container's own output line; the command line itself ("echo CONTAINER-RAN") does not count.
OUTPUT = re.compile(r"(?<!echo )CONTAINER-RAN")


def tmux(server: str, *args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", server, *args], capture_output=True, text=True, check=False, timeout=10
    ).stdout


def wait_for(server: str, what: re.Pattern[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux(server, "capture-pane", "-p", "-t", "e2e")
        if what.search(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{what.pattern!r} not on screen after {timeout}s:\n{screen}")


@needs_root
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_step_continue_quit_in_a_real_terminal(tmp_path: Path) -> None:
    server = f"boxtrace-test-{uuid.uuid4().hex[:8]}"  # our own tmux server: killed in finally
    status = tmp_path / "status"
    command = (
        f"cd {REPO} && {BOXTRACE} run --step -- sh -c 'echo CONTAINER-RAN'; echo $? > {status}; sleep 60"
    )
    try:
        tmux(server, "new-session", "-d", "-s", "e2e", "-x", "180", "-y", "50", command)
        screen = wait_for(server, re.compile(r"HELD"), 30)
        time.sleep(1.0)  # held: nothing more may happen however long we wait
        screen = tmux(server, "capture-pane", "-p", "-t", "e2e")
        assert "HELD" in screen and not OUTPUT.search(screen), screen
        tmux(server, "send-keys", "-t", "e2e", "c")
        wait_for(server, re.compile(r"ENDED"), 30)
        # The side panes paint one frame after the status line: give them that frame.
        wait_for(server, OUTPUT, 10)
        tmux(server, "send-keys", "-t", "e2e", "q")
        deadline = time.monotonic() + 15
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status.read_text().strip() == "0"
    finally:
        tmux(server, "kill-server")
        # tmux may leave its socket file behind; it is ours, remove it too.
        socket = Path(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}", server)
        socket.unlink(missing_ok=True)
    # mounts, cgroups and stopped tracees left on the host: the autouse host_left_clean fixture

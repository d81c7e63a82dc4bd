"""End to end in a real browser: `boxtrace serve` driven by Debian's chromium through Playwright.

Each tab gets its own replay process; a key moves its step counter; a closed tab, a killed browser
and a stopped server (SIGTERM or SIGINT) end the replays they concern, and nothing is left behind.
Nothing is downloaded: Playwright drives the chromium installed by apt (`apt-get install chromium`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import REPO

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SERVE = [sys.executable, "-m", "boxtrace", "serve"]
TRACE = REPO / "tests" / "tui" / "data" / "container-start.jsonl"
# Generous: on a loaded CI machine (one core busy elsewhere) a replay takes seconds to start.
TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
COUNTER = re.compile(r"step (\d+)/(\d+)")

try:
    import pyte
    from playwright.sync_api import BrowserContext, Page, Playwright, WebSocket, sync_playwright
except ImportError:  # the skip below says what to install
    sync_playwright = None

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)",
    ),
    pytest.mark.skipif(
        sync_playwright is None, reason="needs playwright and pyte (pip install -e '.[test]')"
    ),
]


def wait_until(
    what: str, condition: Callable[[], Any], timeout: float = TIMEOUT, poll: Callable[[], None] | None = None
) -> Any:
    """condition() until it is truthy (then its value), or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not after {timeout}s: {what}")
        if poll is not None:
            poll()  # lets Playwright deliver its events (websocket frames) while we wait
        else:
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a dead replay waiting to be reaped has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone before the open, or between it and the read
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def descendants(pid: int) -> set[int]:
    """The live processes below pid (children, their children, ...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def with_marker(marker: str) -> set[int]:
    """Live processes whose command line contains marker (a path unique to this test)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline and alive(int(entry.name)):
                found.add(int(entry.name))
    return found


class Tab:
    """A page of the served app, and what its terminal shows (the page draws on a canvas, so the
    websocket's terminal output is replayed into a VT emulator the size the page asked for)."""

    def __init__(self, context: BrowserContext, url: str) -> None:
        self.page: Page = context.new_page()
        self.screen = pyte.Screen(80, 24)
        self.stream = pyte.ByteStream(self.screen)
        self.page.on("websocket", self._watch)
        self.page.goto(url)

    def _watch(self, ws: WebSocket) -> None:
        query = parse_qs(urlsplit(ws.url).query)
        self.screen.resize(int(query["height"][0]), int(query["width"][0]))

        def received(payload: str | bytes) -> None:
            if isinstance(payload, bytes):  # terminal output; text frames are JSON messages
                self.stream.feed(payload)

        def sent(payload: str | bytes) -> None:
            message = json.loads(payload) if isinstance(payload, str) else None
            if isinstance(message, list) and message[0] == "resize":
                self.screen.resize(message[1]["height"], message[1]["width"])

        ws.on("framereceived", received)
        ws.on("framesent", sent)

    def poll(self) -> None:
        self.page.wait_for_timeout(100)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def step(self) -> tuple[int, int] | None:
        """The status line's step counter as the page shows it: (step, of)."""
        match = COUNTER.search(self.text())
        return (int(match[1]), int(match[2])) if match else None


class Served:
    """`boxtrace serve` on a free loopback port, in this test's temp dir."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp / "server-tmp"
        self.tmp.mkdir()
        self.log = tmp / "server.log"
        env = dict(os.environ, TMPDIR=str(self.tmp), COLUMNS="120")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [*SERVE, str(TRACE), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )
        self.url = f"http://127.0.0.1:{self.port}/"
        wait_until(f"the server listens on {self.port}\n{self.read_log()}", self.ready)

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.read_log()}")
        return listening(self.port)

    def read_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def replays(self) -> set[int]:
        """Every process the server runs for its viewers (a replay, and whatever it may start)."""
        return descendants(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)


class Browser:
    """Debian's chromium under Playwright, with a fresh profile in the test's temp dir."""

    def __init__(self, playwright: Playwright, tmp: Path, name: str) -> None:
        self.profile = tmp / f"profile-{name}"
        self.context = playwright.chromium.launch_persistent_context(
            str(self.profile), executable_path=CHROMIUM, headless=True, args=FLAGS
        )

    def main_pid(self) -> int:
        """The browser process itself (not the launcher script, not its helpers)."""
        pids = []
        for pid in with_marker(str(self.profile)):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            # The launcher is "/bin/sh /usr/bin/chromium ..."; helpers have a --type= argument.
            if argv[0].endswith(b"/chromium") and not any(a.startswith(b"--type=") for a in argv):
                pids.append(pid)
        assert len(pids) == 1, f"browser processes: {pids}"
        return pids[0]


def new_replay(served: Served, before: set[int], tab: Tab) -> set[int]:
    """The processes the tab's replay runs as (the server's new descendants, once it is up)."""
    wait_until("the tab's replay on the page", tab.step, poll=tab.poll)
    new = served.replays() - before
    assert new, f"no new process for the tab\n{served.read_log()}"
    return new


def gone(pids: set[int], what: str, poll: Callable[[], None] | None = None, timeout: float = TIMEOUT) -> None:
    wait_until(
        f"{what}: {sorted(p for p in pids if alive(p))} still running",
        lambda: not any(map(alive, pids)),
        timeout,
        poll=poll,
    )


@pytest.fixture
def playwright_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Playwright, Path]]:
    # Playwright's driver and chromium put their temp files under TMPDIR: this test's own, checked
    # empty at the end. A short path: chromium's singleton socket must fit in a sockaddr_un.
    tmp = Path(tempfile.mkdtemp(prefix="boxtrace-pw-"))
    monkeypatch.setenv("TMPDIR", str(tmp))
    assert sync_playwright is not None
    try:
        with sync_playwright() as playwright:
            yield playwright, tmp
    finally:
        # The browser killed with SIGKILL could not remove its singleton socket's directory.
        left = sorted(p.name for p in tmp.iterdir() if not p.name.startswith("org.chromium.Chromium."))
        shutil.rmtree(tmp)
    assert not left, f"left in TMPDIR by Playwright or the browser: {left}"


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "SIGINT", "SIGKILL"]
)
def test_serve_in_a_browser(
    tmp_path: Path, playwright_env: tuple[Playwright, Path], stop_signal: signal.Signals
) -> None:
    playwright, _ = playwright_env
    served = Served(tmp_path)
    browsers: list[Browser] = []
    try:
        browser = Browser(playwright, tmp_path, "1")
        browsers.append(browser)

        # A tab: the replay starts, the page's terminal shows the app and its step counter.
        first = Tab(browser.context, served.url)
        replay1 = new_replay(served, set(), first)
        counter = wait_until("the step counter on the page", first.step, poll=first.poll)
        assert "boxtrace" in first.text()
        first.page.wait_for_function("document.body.classList.contains('-first-byte')")

        # A key moves it.
        # (Focused without a click: a click on the terminal would select a row of the event list.)
        first.page.focus(".xterm-helper-textarea")
        first.page.keyboard.press("n")
        wait_until(
            f"the step counter past {counter}",
            lambda: (now := first.step()) is not None and now[0] == counter[0] + 1,
            poll=first.poll,
        )

        # A second tab: its own replay, a second process.
        second = Tab(browser.context, served.url)
        replay2 = new_replay(served, replay1, second)
        wait_until("the second tab's step counter", second.step, poll=second.poll)
        assert second.step() == counter, "the second tab's replay is independent of the first's"

        # Closing a tab ends its replay, not the other's.
        first.page.close()
        gone(replay1, "the closed tab's replay", poll=second.poll)
        assert all(map(alive, replay2))

        # A browser killed outright (no websocket close frame) ends its replays too.
        os.kill(browser.main_pid(), signal.SIGKILL)
        gone(replay2, "the killed browser's replay")
        gone(with_marker(str(browser.profile)), "the killed browser's processes")
        assert served.process.poll() is None and listening(served.port), "the server serves on"

        # Two more viewers, then the server is stopped: it ends every replay it started, then itself.
        browser = Browser(playwright, tmp_path, "2")
        browsers.append(browser)
        third = Tab(browser.context, served.url)
        replay3 = new_replay(served, set(), third)
        fourth = Tab(browser.context, served.url)
        replay4 = new_replay(served, replay3, fourth)
        # Each replay runs in a process group of its own, not the server's (a Ctrl-C on the server's
        # terminal reaches the server, which ends them; SIGKILL to the server reaches the kernel's
        # PR_SET_PDEATHSIG, which ends them).
        server_group = os.getpgid(served.process.pid)
        assert all(os.getpgid(pid) != server_group for pid in replay3 | replay4)
        os.kill(served.process.pid, stop_signal)
        # Prompt, not after aiohttp's 60 s graceful shutdown; still generous for a loaded machine.
        gone(replay3 | replay4, f"the replays after {stop_signal.name} to the server", timeout=STOP_TIMEOUT)
        expected = -signal.SIGKILL if stop_signal == signal.SIGKILL else 0
        assert served.process.wait(STOP_TIMEOUT) == expected, served.read_log()
        assert not listening(served.port)
    finally:
        for b in browsers:
            with contextlib.suppress(Exception):  # the killed browser's context is gone already
                b.context.close()
        served.stop()
    for b in browsers:
        gone(with_marker(str(b.profile)), "browser processes")
    # Nothing else runs with this worktree's trace on its command line: no server, no replay.
    gone(with_marker(str(TRACE)), "the server and its replays")
    assert not any(served.tmp.iterdir()), list(served.tmp.iterdir())

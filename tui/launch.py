"""Open the TUI from a command: a live trace session or a recorded trace file.

``run_live`` is what ``boxtrace run``/``boxtrace trace`` (and ``boxtrace lessons run``) call when
stdout is a terminal; ``run_replay`` is ``boxtrace replay`` and what ``boxtrace serve`` serves.

Whatever ends the app (q, Ctrl-C, a closed terminal, a crash in the UI), ``run_live`` stops the
session and waits for it: the runtime gets SIGTERM and removes its container, and after the grace
period every traced process is killed. Nothing stays stopped under ptrace.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType

from boxtrace.tracer.events import Event
from boxtrace.tracer.messages import TraceResult
from boxtrace.tracer.session import TraceConfig, TraceSession
from boxtrace.tui.options import TuiOptions


@dataclass(slots=True)
class LiveOutcome:
    """How a live TUI session ended: the traced command's exit code and everything recorded."""

    exit_code: int
    result: TraceResult | None
    events: list[Event] = field(default_factory=list)
    error: str | None = None


@contextlib.contextmanager
def _quit_on_signals(app: object) -> Iterator[None]:
    """A closed terminal (SIGHUP) or a kill (SIGTERM) quits the app like `q` does, not the process."""

    def handler(signum: int, frame: FrameType | None) -> None:
        exit_app = getattr(app, "exit", None)
        if callable(exit_app):
            exit_app(128 + signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGHUP, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_live(config: TraceConfig, options: TuiOptions | None = None) -> LiveOutcome:
    """Trace ``config.command`` with the TUI on this terminal. Blocks until the app and the trace end.

    ``options.step`` (or presenter mode) starts held before the first traced syscall; breakpoints in
    ``options`` are set before the command starts. Raises ``CommandNotFound`` like ``TraceSession``.
    """
    from boxtrace.tui.app import BoxtraceApp

    options = options or TuiOptions()
    if options.step or options.present:
        config.start_paused = True
    config.break_names |= set(options.break_names)
    config.break_categories |= set(options.break_categories)
    config.grace = options.grace
    app = BoxtraceApp("live", options)
    session = TraceSession(config, app.feed)
    app.steering = session
    error: str | None = None
    # Fork the command before textual installs its SIGCONT/SIGTSTP handlers: the child runs Python
    # until its exec, and an inherited handler would run the app's resume code in it when the
    # tracer sends it SIGCONT. Messages that arrive before the app is up wait in app.feed.
    try:
        session.start()
    except OSError as exc:
        return LiveOutcome(126, None, [], f"cannot start {config.command[0]}: {exc}")
    try:
        with _quit_on_signals(app):
            app.run()
    finally:
        # However the app ended: no tracee left held or running, no container left behind.
        session.stop()
        if session.wait(options.grace + 5) is None:
            session.stop(force=True)
            session.wait(10)
    result = session.result
    if error is None and result is not None and result.error:
        error = f"tracer error: {result.error}"
    exit_code = result.exit_code if result is not None else 126 if error else 130
    return LiveOutcome(exit_code, result, list(app.model.events), error)


def run_replay(path: str, options: TuiOptions | None = None) -> int:
    """Replay a recorded trace file (no privileges). Returns 0, or 1 if the file could not be read."""
    from boxtrace.tui.app import BoxtraceApp, ReplaySource

    options = options or TuiOptions()
    while True:
        app = BoxtraceApp("replay", options, replay=ReplaySource(path=path))
        app.run()
        if app.next_replay is None:
            return 1 if app.error else 0
        # Another recorded trace chosen in the open dialog ('o'): replay it in a fresh app.
        path = app.next_replay
        options = dataclasses.replace(options, title=f"boxtrace replay {os.path.basename(path)}")


def serve_replay(argv: list[str], *, host: str, port: int, title: str, public_url: str | None) -> None:
    """Serve ``argv`` (a ``boxtrace replay``), one process per browser tab, until SIGINT or SIGTERM;
    then every replay started is ended (see ``boxtrace.tui.serving``), then the server."""
    from boxtrace.tui.serving import ReplayServer

    ReplayServer(argv, host=host, port=port, title=title, public_url=public_url).serve()


def default_keymap_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "boxtrace", "keys.toml")


def load_keymap(path: str | None = None) -> dict[str, str]:
    """``[keys]`` of the user's keys.toml: binding id -> keys (``step = "j,space"``); {} if none."""
    import tomllib

    try:
        with open(path or default_keymap_path(), "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    keys = data.get("keys", {})
    return {str(k): str(v) for k, v in keys.items()} if isinstance(keys, dict) else {}

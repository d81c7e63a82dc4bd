"""textual-serve, made to end every replay it starts (``boxtrace serve``).

textual-serve (1.1) starts each browser tab's app as ``/bin/sh -c COMMAND`` in the server's own
process group and, when the tab goes, asks the app to quit and waits for it without a bound. When
its event loop closes it SIGKILLs the shell only: the app itself is reparented to init, its stdin at
EOF (which textual's web driver does not treat as the end), and lives on. Here:

- each replay is exec'd directly (no shell), in a session and process group of its own (so a
  Ctrl-C on the server's terminal reaches the server only, which then ends the replays itself), with
  PR_SET_PDEATHSIG: the kernel SIGKILLs it if the server dies in any way, even by SIGKILL;
- it runs :class:`~boxtrace.tui.served_driver.ServedDriver`, which quits the app when its stdin
  (the server's pipe) reaches EOF;
- a tab that goes away (closed, the browser killed, the network gone: the websocket heartbeat
  notices) gets its replay asked to quit, then its process group SIGTERMed and SIGKILLed if it
  takes longer than a few seconds;
- SIGINT or SIGTERM to the server ends every replay's process group the same way, then the server.

Only process groups this server started are signalled, and only while their leader is unreaped
(its pid, which is the group id, cannot have been reused).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from typing import Any

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

log = logging.getLogger("textual-serve")

DRIVER = "boxtrace.tui.served_driver:ServedDriver"
# A websocket ping every HEARTBEAT seconds; no pong within half of it closes the connection: a
# laptop whose lid closed, or whose network went, ends its replay within ~15 s.
HEARTBEAT = 10.0
# How long a replay may take to quit when asked, and then after SIGTERM, before the next step.
QUIT_GRACE = 3.0
TERM_GRACE = 2.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """preexec_fn (in the child, before exec): SIGKILL when the server dies, even if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the server died between fork and prctl
        os._exit(1)


class ReplayService(AppService):
    """One tab's replay: exec'd without a shell, in its own process group, dying with the server."""

    def __init__(self, argv: list[str], **kwargs: Any) -> None:
        super().__init__(" ".join(argv), **kwargs)
        self.argv = argv

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment: dict[str, str] = super()._build_environment(width, height)
        environment["TEXTUAL_DRIVER"] = DRIVER
        return environment

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        parent = os.getpid()
        process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width=width, height=height),
            start_new_session=True,
            preexec_fn=lambda: _die_with_parent(parent),
        )
        self._process = process
        self._stdin = process.stdin
        return process

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def signal_group(self, signum: int) -> None:
        """Signal the replay's process group, if its leader has not been reaped yet."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)

    async def end(self) -> None:
        """Ask the replay to quit; SIGTERM, then SIGKILL its group if it does not; reap it."""
        process = self._process
        if process is None:
            return
        steps: tuple[tuple[int | None, float], ...] = (
            (None, QUIT_GRACE),
            (signal.SIGTERM, TERM_GRACE),
            (signal.SIGKILL, 30.0),
        )
        for signum, grace in steps:
            if signum is None:
                await self.send_meta({"type": "quit"})
            else:
                self.signal_group(signum)
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), grace)
                break
            except TimeoutError:
                continue
        task = self._task
        if task is not None:
            # stdout reaches EOF once the process is gone; the reader task then ends by itself.
            await asyncio.wait({task}, timeout=5.0)


class ReplayServer(Server):
    """textual-serve's server for ``boxtrace replay`` argv lists, which ends what it starts."""

    def __init__(self, argv: list[str], **kwargs: Any) -> None:
        super().__init__(" ".join(argv), **kwargs)
        self.argv = argv
        self.services: set[ReplayService] = set()

    async def on_shutdown(self, app: web.Application) -> None:
        # Before aiohttp waits for the open websockets: end their replays, so that they close.
        services = list(self.services)
        if services:
            log.info("ending %d replay(s)", len(services))
            await asyncio.gather(*(service.end() for service in services), return_exceptions=True)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """textual-serve's handler, with a short heartbeat and a replay that always ends."""
        websocket = web.WebSocketResponse(heartbeat=HEARTBEAT)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        service: ReplayService | None = None
        try:
            await websocket.prepare(request)
            service = ReplayService(
                self.argv,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
                debug=self.debug,
            )
            self.services.add(service)
            await service.start(width, height)
            log.info("replay %s started", service.pid)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception as error:
            log.exception(error)
        finally:
            if service is not None:
                # Shielded: a cancelled handler (server shutdown) must still see its replay end.
                await asyncio.shield(self._end(service))
        return websocket

    async def _end(self, service: ReplayService) -> None:
        try:
            await service.end()
            await self.download_manager.cancel_app_downloads(app_service_id=service.app_service_id)
        finally:
            self.services.discard(service)
            log.info("replay %s ended", service.pid)

    def kill_all(self) -> None:
        """Last resort once the event loop has stopped: SIGKILL every replay group still running."""
        for service in list(self.services):
            service.signal_group(signal.SIGKILL)

    def serve(self, debug: bool = False) -> None:
        """Serve until SIGINT or SIGTERM; then every replay started here is ended, then the server."""
        self.debug = debug
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request_exit)
        try:
            web.run_app(
                self._make_app(),
                host=self.host,
                port=self.port,
                handle_signals=False,
                loop=loop,
                print=lambda *args: None,
                # The replays are ended in on_shutdown; their websockets close right after.
                shutdown_timeout=QUIT_GRACE + TERM_GRACE + 5.0,
            )
        finally:
            self.kill_all()

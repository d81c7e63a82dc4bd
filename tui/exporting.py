"""Exporting the trace so far (any of the CLI's formats, or a trace file) and opening another
recorded trace (the launcher replays it in a fresh app)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from textual import work

from boxtrace.tracer.events import Event, TraceHeader
from boxtrace.tui.app_state import AppState
from boxtrace.tui.screens import ExportScreen, OpenScreen

EXPORT_BATCH = 5000  # events encoded at a time when the app writes a trace file


class Exporting(AppState):
    def export_formats(self) -> list[str]:
        return [*self.options.export_formats, "trace"]

    def action_export(self) -> None:
        formats = self.export_formats()
        stamp = time.strftime("%Y%m%d-%H%M%S")

        def chosen(choice: tuple[str, str] | None) -> None:
            if choice is not None and choice[1]:
                self.export_to(*choice)

        self.push_screen(ExportScreen(formats, f"boxtrace-{stamp}.{formats[0]}"), chosen)

    @work(thread=True, group="export")
    def export_to(self, fmt: str, path: str) -> None:
        """Write the events so far on a worker thread: a copy of the live list (it keeps growing), or
        the replayed file's events so far, read again line by line (never all in memory at once)."""
        events: Sequence[Event] = (
            self.store.upto(len(self.model)) if self.store is not None else list(self.model.events)
        )
        header = self.header or _placeholder_header()
        try:
            if fmt == "trace" or self.options.exporter is None:
                from boxtrace.tracer.tracefile import TraceWriter

                with TraceWriter(path, header) as writer:
                    for start in range(0, len(events), EXPORT_BATCH):
                        writer.write_events(events[start : start + EXPORT_BATCH])
            else:
                self.options.exporter(fmt, header, events, path)
        except (OSError, ValueError, KeyError) as exc:
            self.call_from_thread(self.notify, f"export failed: {exc}", severity="error")
            return
        self.call_from_thread(self.notify, f"exported {len(events)} events to {os.path.abspath(path)}")

    def action_open(self) -> None:
        from boxtrace.tracer.spool import list_traces, spool_dir

        def chosen(path: str | None) -> None:
            if path:
                self.next_replay = path
                self.exit()

        self.push_screen(OpenScreen(list_traces(), spool_dir()), chosen)


def _placeholder_header() -> TraceHeader:
    return TraceHeader(
        version="1.0",
        boxtrace_version="",
        kernel=os.uname().release,
        arch=os.uname().machine,
        command=[],
        start_time="",
    )

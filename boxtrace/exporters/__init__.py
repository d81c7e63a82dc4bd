"""Trace exporters, one module per format.

Each module exposes ``DESCRIPTION`` (one line for ``--help``) and
``export(header: TraceHeader, events: Iterable[Event], out: TextIO) -> None``; a format is added by
adding its module and one entry in ``FORMATS``. Modules are imported only when their format is used.
"""

from __future__ import annotations

import importlib

# The CLI lists FORMATS at every start: typing and the event model load only for type checkers.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Protocol, TextIO

    from boxtrace.tracer.events import Event, TraceHeader

    class Exporter(Protocol):
        DESCRIPTION: str

        def export(self, header: TraceHeader, events: Iterable[Event], out: TextIO) -> None: ...


# format name -> module under boxtrace.exporters
FORMATS: dict[str, str] = {
    "strace": "strace",
    "md": "markdown",
    "html": "html",
    "json": "json_export",
    "perfetto": "perfetto",
}


def get_exporter(fmt: str) -> Exporter:
    """The exporter module for ``fmt``; KeyError if there is no such format."""
    module: Exporter = importlib.import_module(f"boxtrace.exporters.{FORMATS[fmt]}")
    return module

"""The trace spool: where traces recorded in the background (by ``boxtrace-runc`` and by
``boxtrace-runtime`` with recording on) are written, and how ``boxtrace traces`` and
``boxtrace replay --latest`` find them.

The directory is ``$BOXTRACE_SPOOL`` if set, else ``/var/lib/boxtrace/traces`` for root and
``$XDG_STATE_HOME/boxtrace/traces`` (``~/.local/state/boxtrace/traces``) for other users. A trace
is written under a name starting with a dot and renamed to its final name once complete, so a
listing never shows half a trace as finished; ``list_traces`` reports both, oldest first.
"""

from __future__ import annotations

import os
import time

SPOOL_ENV = "BOXTRACE_SPOOL"
SUFFIX = ".jsonl"
# What of a label may go into a file name (a runtime's subcommand and container id); each run of
# other characters becomes one "_". Not a regular expression: re is ~4 ms of every recorded
# runtime call (boxtrace-runc), which its caller waits for.
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def _safe_label(label: str) -> str:
    out: list[str] = []
    for char in label:
        if char in _SAFE:
            out.append(char)
        elif not out or out[-1] != "\0":
            out.append("\0")  # a run of unsafe characters, one "_" in the end
    return "".join(out).replace("\0", "_")


def spool_dir() -> str:
    configured = os.environ.get(SPOOL_ENV)
    if configured:
        return configured
    if os.geteuid() == 0:
        return "/var/lib/boxtrace/traces"
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "boxtrace", "traces")


def new_trace_path(label: str, directory: str | None = None) -> str:
    """A fresh path for a trace being recorded: ``.YYYYmmdd-HHMMSS.ffffff-LABEL-PID.jsonl`` (hidden
    while in progress; ``finish_trace`` gives it its final name)."""
    directory = directory or spool_dir()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}"
    safe = _safe_label(label).strip("_")[:80] or "trace"
    return os.path.join(directory, f".{stamp}-{safe}-{os.getpid()}{SUFFIX}")


def finish_trace(path: str) -> str:
    """Rename an in-progress trace to its final (visible) name; returns the new path."""
    head, name = os.path.split(path)
    final = os.path.join(head, name.lstrip("."))
    os.replace(path, final)
    return final


# runc's subcommands (what boxtrace-runc may record): they separate a label's runtime from its container.
_RUNTIME_SUBCOMMANDS = frozenset(
    {"create", "run", "start", "exec", "delete", "kill", "pause", "resume", "update", "ps", "state"}
)
_NAME = r"^\.?\d{8}-\d{6}\.\d{6}-(?P<label>.+)-\d+\." + SUFFIX.lstrip(".") + "$"


def label_parts(name: str) -> tuple[str, str, str] | None:
    """(runtime, subcommand, container) of a spool trace named for a runtime call, as boxtrace-runc
    names them (``20261128-065558.411415-runc-create-df4a821a-1330.jsonl``); None for other names."""
    import re  # only when listing recordings

    found = re.match(_NAME, name)
    if found is None:
        return None
    words = found.group("label").split("-")
    for i, word in enumerate(words[1:-1], 1):
        if word in _RUNTIME_SUBCOMMANDS:
            return "-".join(words[:i]), word, "-".join(words[i + 1 :])
    return None


class SpoolEntry:
    __slots__ = ("in_progress", "mtime", "name", "path", "size")

    def __init__(self, path: str, in_progress: bool, size: int, mtime: float) -> None:
        self.path = path
        self.name = os.path.basename(path).lstrip(".")
        self.in_progress = in_progress
        self.size = size
        self.mtime = mtime


def list_traces(directory: str | None = None) -> list[SpoolEntry]:
    """The spool's traces, oldest first (by the time stamp in their names, which is their start)."""
    directory = directory or spool_dir()
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    entries = []
    for name in names:
        if not name.endswith(SUFFIX):
            continue
        path = os.path.join(directory, name)
        try:
            st = os.stat(path)
        except FileNotFoundError:  # finished (renamed) or removed while we listed
            continue
        entries.append(SpoolEntry(path, name.startswith("."), st.st_size, st.st_mtime))
    entries.sort(key=lambda e: (e.name, e.mtime))
    return entries


def latest_trace(directory: str | None = None) -> SpoolEntry | None:
    """The trace started last (finished or not: an unfinished trace reads as the prefix it has)."""
    entries = list_traces(directory)
    return entries[-1] if entries else None

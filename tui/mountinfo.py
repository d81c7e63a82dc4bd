"""The mount table of a live process, from /proc/PID/mountinfo (proc(5)).

Only the live TUI reads it (for the process of the selected event, while it exists); a replay shows
the mounts derived from the recorded events instead (``boxtrace.tui.world``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MountEntry:
    mount_id: int
    parent_id: int
    mount_point: str
    options: str
    fstype: str
    source: str
    propagation: str  # "shared:1", "master:2", "" (private)

    @property
    def key(self) -> tuple[str, str, str]:
        # Mount ids differ in a copied mount namespace; what was mounted where does not.
        return (self.mount_point, self.fstype, self.source)


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal (\040 ...).
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit() and i + 4 <= len(field):
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountEntry]:
    entries = []
    for line in text.splitlines():
        parts = line.split()
        if "-" not in parts or len(parts) < 10:
            continue
        sep = parts.index("-")
        optional = [p for p in parts[6:sep] if ":" in p]
        entries.append(
            MountEntry(
                mount_id=int(parts[0]),
                parent_id=int(parts[1]),
                mount_point=_unescape(parts[4]),
                options=parts[5],
                fstype=parts[sep + 1],
                source=_unescape(parts[sep + 2]),
                propagation=" ".join(optional),
            )
        )
    return entries


def read_mountinfo(pid: int | str) -> list[MountEntry] | None:
    """The mount table ``pid`` sees, or None when it is gone (or not ours to read)."""
    try:
        with open(f"/proc/{pid}/mountinfo", encoding="utf-8", errors="replace") as f:
            return parse_mountinfo(f.read())
    except OSError:
        return None

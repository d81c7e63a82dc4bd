"""Value <-> name tables and strace-style rendering of flag sets and enumerations.

A table is written as a literal ``{name: value}`` dict in kernel-header order; the order matters for
flag sets whose members span several bits (``O_SYNC`` must be tried before ``O_DSYNC``), so
multi-bit names come first where two names overlap.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

_U64 = (1 << 64) - 1


class Xlat:
    """An ordered name -> value table with a reverse index (first name wins for aliases)."""

    __slots__ = ("_flag_items", "by_name", "by_value", "mask", "prefix")

    def __init__(self, entries: Mapping[str, int], prefix: str = "") -> None:
        self.by_name: dict[str, int] = dict(entries)
        self.by_value: dict[int, str] = {}
        for name, value in self.by_name.items():
            self.by_value.setdefault(value, name)
        self.mask: int = 0
        for value in self.by_name.values():
            self.mask |= value
        self.prefix = prefix
        # Zero never matches as a flag; aliases would print twice, so only the first name of a value.
        self._flag_items: tuple[tuple[str, int], ...] = tuple(
            (name, value) for value, name in self.by_value.items() if value != 0
        )

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(self.by_name.items())

    def __len__(self) -> int:
        return len(self.by_name)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def name(self, value: int) -> str | None:
        return self.by_value.get(value)

    def value(self, name: str) -> int:
        return self.by_name[name]


def flags_text(value: int, table: Xlat) -> tuple[list[str], str]:
    """``(names, text)`` for a flag set: ``CLONE_NEWNS|CLONE_NEWPID|0x4``; unknown bits as a hex rest."""
    if value < 0:
        value &= _U64
    if value == 0:
        return [], "0"
    names: list[str] = []
    rest = value
    for name, bits in table._flag_items:
        if rest & bits == bits:
            names.append(name)
            rest &= ~bits
            if not rest:
                break
    parts = names if not rest else [*names, f"{rest:#x}"]
    return names, "|".join(parts)


def enum_text(value: int, table: Xlat) -> str:
    """The name of ``value``, or strace's ``0x2a /* PR_??? */`` when the table has no such value."""
    name = table.by_value.get(value)
    if name is not None:
        return name
    shown = f"{value:#x}" if value >= 0 else str(value)
    return f"{shown} /* {table.prefix}??? */" if table.prefix else shown


def parse_flags(names: list[str], table: Xlat) -> int:
    """The inverse of :func:`flags_text` for known names (tests and replay tools use it)."""
    value = 0
    for name in names:
        value |= table.by_name[name]
    return value

"""Per-architecture syscall tables.

Each architecture is one data module exposing ``NAME``, ``AUDIT_ARCH``, ``SYSCALL_NAMES``,
``SYSCALL_NUMBERS`` and ``SYSCALL_NARGS``; this package wraps them in a typed :class:`Arch` so that
callers never touch a module object. Adding aarch64 means adding ``aarch64.py`` and one line in
``_MODULES``.
"""

from __future__ import annotations

import os

from boxtrace.tracer.arch import aarch64, x86_64
from boxtrace.tracer.plain import Frozen

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from types import ModuleType


class Arch(Frozen):
    __slots__ = ("audit_arch", "name", "syscall_names", "syscall_nargs", "syscall_numbers")
    name: str
    audit_arch: int
    syscall_names: dict[int, str]
    syscall_numbers: dict[str, int]
    syscall_nargs: dict[str, int]

    def __init__(
        self,
        name: str,
        audit_arch: int,
        syscall_names: dict[int, str],
        syscall_numbers: dict[str, int],
        syscall_nargs: dict[str, int],
    ) -> None:
        self._assign(name, audit_arch, syscall_names, syscall_numbers, syscall_nargs)

    def syscall_name(self, nr: int) -> str:
        """The call's name; unknown numbers read like strace's ``syscall_0x1f4``."""
        name = self.syscall_names.get(nr)
        return name if name is not None else f"syscall_{nr:#x}"

    def nargs(self, name: str) -> int:
        return self.syscall_nargs.get(name, 6)


def _wrap(module: ModuleType) -> Arch:
    return Arch(
        name=module.NAME,
        audit_arch=module.AUDIT_ARCH,
        syscall_names=module.SYSCALL_NAMES,
        syscall_numbers=module.SYSCALL_NUMBERS,
        syscall_nargs=module.SYSCALL_NARGS,
    )


_MODULES: tuple[ModuleType, ...] = (x86_64, aarch64)

ARCHES: dict[str, Arch] = {m.NAME: _wrap(m) for m in _MODULES}
BY_AUDIT_ARCH: dict[int, Arch] = {a.audit_arch: a for a in ARCHES.values()}
X86_64: Arch = ARCHES["x86_64"]


def get_arch(name: str | None = None) -> Arch:
    """The table for ``name`` (default: this machine); KeyError names the unsupported arch."""
    key = name if name is not None else os.uname().machine
    try:
        return ARCHES[key]
    except KeyError:
        raise KeyError(f"unsupported architecture {key!r} (known: {', '.join(ARCHES)})") from None
